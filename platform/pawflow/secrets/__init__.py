"""Encryption at rest for secret var values.

A :class:`SecretBox` seals and opens values with Fernet (AES-128-CBC + HMAC-SHA256).
Its key comes from ``PAWFLOW_SECRET_KEY`` or from the file ``secret.key`` in the
data dir, created (mode 0600) on first use. :meth:`SecretBox.fingerprint` tells
keys apart without revealing them.
"""

from ._box import (
    SECRET_KEY_ENV,
    SECRET_KEY_FILE,
    SecretBox,
    SecretKeyError,
    find_secret_box,
    load_secret_box,
)

__all__ = [
    "SECRET_KEY_ENV",
    "SECRET_KEY_FILE",
    "SecretBox",
    "SecretKeyError",
    "find_secret_box",
    "load_secret_box",
]
