"""The Fernet box and where its key lives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..errors import ConfigError

__all__ = [
    "SECRET_KEY_ENV",
    "SECRET_KEY_FILE",
    "SecretBox",
    "SecretKeyError",
    "find_secret_box",
    "load_secret_box",
]

SECRET_KEY_ENV = "PAWFLOW_SECRET_KEY"
SECRET_KEY_FILE = "secret.key"
_FINGERPRINT_LABEL = b"pawflow secret key fingerprint v1"


class SecretKeyError(ConfigError):
    """The secret key is malformed, or does not open a stored value."""


class SecretBox:
    """Seals and opens secret values. ``repr`` never shows the key."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
            raw = base64.urlsafe_b64decode(key)
        except (ValueError, TypeError):
            raise SecretKeyError(
                "the secret key is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
        # Keyed by the key itself: equal keys give equal fingerprints, and the
        # fingerprint tells nothing about the key to whoever reads the database.
        self._fingerprint = (
            "hmac-sha256:" + hmac.new(raw, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
        )

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def fingerprint(self) -> str:
        """Text that is the same for the same key and reveals nothing about it: what
        a database records to tell whether a server's key is the one in use."""
        return self._fingerprint

    @staticmethod
    def generate_key() -> str:
        """A new random key, as text."""
        return Fernet.generate_key().decode("ascii")

    def seal(self, value: str) -> str:
        """The ciphertext of ``value`` (ASCII text, safe to store)."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, sealed: str, *, what: str = "a secret value") -> str:
        """The plain text of ``sealed``; ``what`` names the value in the error."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"cannot decrypt {what}: it was sealed with another secret key "
                f"(check {SECRET_KEY_ENV} or the {SECRET_KEY_FILE} file in the data dir)"
            ) from None


def find_secret_box(data_dir: Path) -> SecretBox | None:
    """The box of the key from ``PAWFLOW_SECRET_KEY``, else from
    ``data_dir/secret.key``; None when there is neither (nothing is created)."""
    from_env = os.environ.get(SECRET_KEY_ENV, "").strip()
    if from_env:
        return SecretBox(from_env)
    try:
        return SecretBox(_read_key(data_dir / SECRET_KEY_FILE))
    except FileNotFoundError:
        return None


def load_secret_box(data_dir: Path) -> SecretBox:
    """The box for this installation: the key from ``PAWFLOW_SECRET_KEY``, else from
    ``data_dir/secret.key``, which is created (mode 0600) when missing."""
    found = find_secret_box(data_dir)
    if found is not None:
        return found
    path = data_dir / SECRET_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    key = SecretBox.generate_key()
    # O_EXCL: two processes starting at once must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SecretBox(_read_key(path))
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return SecretBox(key)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        # A crash between create and write leaves an empty file; nothing was sealed
        # with it yet, so it is safe to report rather than guess.
        raise SecretKeyError(f"secret key file {path} is empty; delete it to create a new key")
    return key
