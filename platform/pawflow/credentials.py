"""Who may call the server: people (admin token), workers, and one session each.

Three kinds of bearer credential reach the API:

- the **admin token** belongs to people and the CLI and may do everything;
- the **worker token** is held by ``paw worker`` processes: it reaches what
  running sessions needs (deployment code, session logs, the call journal, a
  session's vars) and nothing of the management API;
- a **session credential** is what a session's runner holds: it names one
  session and is valid only while that session runs, for that session's own
  records and its own project's store, events and sessions.

Session credentials are derived from the worker token (an HMAC of the session
id), so a worker mints one for each runner without asking the server, any
server checks it without storing it, and a runner cannot forge another's.
The worker token also keys the sealing of recorded call outcomes
(``purpose_key``): a runner never sees it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = [
    "SESSION_CREDENTIAL_PREFIX",
    "mint_session_credential",
    "purpose_key",
    "session_of_credential",
]

SESSION_CREDENTIAL_PREFIX = "pws1."
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def purpose_key(worker_token: str, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose``, derived from the worker token: a key
    leaked for one purpose says nothing about the others."""
    return hmac.new(worker_token.encode(), b"pawflow/" + purpose.encode(), hashlib.sha256).digest()


def _mac(worker_token: str, session_id: str) -> str:
    key = purpose_key(worker_token, "session-credential")
    digest = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mint_session_credential(worker_token: str, session_id: str) -> str:
    """The credential of the runner of ``session_id``."""
    if not _SESSION_ID.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    return f"{SESSION_CREDENTIAL_PREFIX}{session_id}.{_mac(worker_token, session_id)}"


def session_of_credential(worker_token: str, credential: str) -> str | None:
    """The session a credential was minted for, or None when it is not a valid
    session credential. Whether that session still runs is the caller's check."""
    if not worker_token or not credential.startswith(SESSION_CREDENTIAL_PREFIX):
        return None
    session_id, _, mac = credential[len(SESSION_CREDENTIAL_PREFIX) :].rpartition(".")
    if not _SESSION_ID.match(session_id):
        return None
    # compare_digest keeps the time independent of how much of the MAC matched.
    if not hmac.compare_digest(mac.encode(), _mac(worker_token, session_id).encode()):
        return None
    return session_id
