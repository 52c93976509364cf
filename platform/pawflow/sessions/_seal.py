"""Sealing recorded call outcomes, with a key no runner sees.

An outcome is the pickle a runner made of a call's result. It is unpickled
only by a runner of the same session, and only after the worker has checked
that it is what a runner of that session recorded for that call: each one is
sealed (AES-GCM, bound to the session id and call number) before it goes to
Temporal's history or the server's call journal, and opened before it is
handed back. So whoever can write to history or the journal cannot make a
runner unpickle their bytes, nor move one session's outcome into another, and
what a result holds (a token inside a response, say) is not readable there.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["OutcomeSeal", "TamperedOutcome"]

_VERSION = b"\x01"
_NONCE = 12


class TamperedOutcome(Exception):
    """A recorded outcome that was not sealed by a worker for this call."""


class OutcomeSeal:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @staticmethod
    def _bound_to(session_id: str, number: int) -> bytes:
        return f"{session_id}\0{number}".encode()

    def seal(self, session_id: str, number: int, outcome: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, outcome, self._bound_to(session_id, number))
        return _VERSION + nonce + sealed

    def open(self, session_id: str, number: int, sealed: bytes) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE + 16:
            raise TamperedOutcome(f"the recorded outcome of call #{number} is not sealed")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, self._bound_to(session_id, number))
        except InvalidTag:
            raise TamperedOutcome(
                f"the recorded outcome of call #{number} failed its integrity check "
                "(it was not recorded for this session and call)"
            ) from None
