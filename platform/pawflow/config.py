"""Where things are: the data dir, the server URL and the API token.

Precedence everywhere: explicit flag, then environment variable, then default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "DEFAULT_SERVER",
    "TOKEN_FILE",
    "ensure_token",
    "find_token",
    "resolve_data_dir",
    "resolve_server",
]

DEFAULT_SERVER = "http://127.0.0.1:9980"
TOKEN_FILE = "token"


def resolve_data_dir(flag: str | None = None) -> Path:
    """The data dir: ``--data-dir``, else ``PAWFLOW_HOME``, else ``~/.pawflow``."""
    raw = flag or os.environ.get("PAWFLOW_HOME") or "~/.pawflow"
    return Path(raw).expanduser().resolve()


def resolve_server(flag: str | None = None) -> str:
    """The server URL for clients: ``--server``, else ``PAWFLOW_SERVER``, else the default."""
    url = (flag or os.environ.get("PAWFLOW_SERVER") or DEFAULT_SERVER).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"server URL must start with http:// or https://: {url!r}")
    return url


def ensure_token(data_dir: Path) -> str:
    """Return the API token stored in ``data_dir``, creating it (mode 0600) on first use."""
    path = data_dir / TOKEN_FILE
    try:
        return _read_token(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL: two processes starting at once must agree on one token.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def find_token(data_dir_flag: str | None = None) -> str:
    """The token a client sends: ``PAWFLOW_TOKEN``, else the one in the data dir."""
    token = os.environ.get("PAWFLOW_TOKEN")
    if token:
        return token.strip()
    data_dir = resolve_data_dir(data_dir_flag)
    try:
        return _read_token(data_dir / TOKEN_FILE)
    except FileNotFoundError:
        raise ConfigError(
            f"no API token: set PAWFLOW_TOKEN or start the platform once with "
            f"'paw up' (it writes {data_dir / TOKEN_FILE})"
        ) from None


def _read_token(path: Path) -> str:
    token = path.read_text().strip()
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token
