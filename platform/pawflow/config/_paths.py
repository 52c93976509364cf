"""Where things are: the data dir, the server URL and the API token.

Precedence everywhere: explicit flag, then environment variable, then default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import ConfigError

__all__ = [
    "DEFAULT_SERVER",
    "TOKEN_ENV",
    "TOKEN_FILE",
    "WORKER_TOKEN_ENV",
    "WORKER_TOKEN_FILE",
    "ensure_admin_token",
    "ensure_data_dir",
    "ensure_token",
    "ensure_worker_token",
    "find_token",
    "find_worker_token",
    "resolve_data_dir",
    "resolve_server",
]

DEFAULT_SERVER = "http://127.0.0.1:9980"
TOKEN_FILE = "token"  # the admin token: people and the CLI
WORKER_TOKEN_FILE = "worker-token"  # workers' credential, distinct from the admin one
TOKEN_ENV = "PAWFLOW_TOKEN"
WORKER_TOKEN_ENV = "PAWFLOW_WORKER_TOKEN"


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


def ensure_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` readable by its owner only (0700), and make an
    existing one so: it holds tokens, keys and every project's data."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if data_dir.stat().st_mode & 0o077:
        data_dir.chmod(0o700)


def ensure_token(data_dir: Path, name: str = TOKEN_FILE) -> str:
    """Return the token ``name`` stored in ``data_dir``, creating it (mode 0600) on first use."""
    path = data_dir / name
    try:
        return _read_token(path)
    except FileNotFoundError:
        pass
    ensure_data_dir(data_dir)
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
    return _given_or_stored(TOKEN_ENV, TOKEN_FILE, "API token", data_dir_flag)


def find_worker_token(data_dir_flag: str | None = None) -> str:
    """The worker credential: ``PAWFLOW_WORKER_TOKEN``, else the one ``paw up``
    wrote to the data dir."""
    return _given_or_stored(WORKER_TOKEN_ENV, WORKER_TOKEN_FILE, "worker credential", data_dir_flag)


def ensure_worker_token(data_dir: Path) -> str:
    """``PAWFLOW_WORKER_TOKEN`` when given (workers elsewhere hold it too), else
    the one in ``data_dir``, made on first use."""
    return _given(WORKER_TOKEN_ENV) or ensure_token(data_dir, WORKER_TOKEN_FILE)


def ensure_admin_token(data_dir: Path) -> str:
    """``PAWFLOW_TOKEN`` when given (several servers share it), else the one in
    ``data_dir``, made on first use."""
    return _given(TOKEN_ENV) or ensure_token(data_dir, TOKEN_FILE)


def _given(variable: str) -> str:
    return os.environ.get(variable, "").strip()


def _given_or_stored(variable: str, name: str, what: str, data_dir_flag: str | None) -> str:
    token = _given(variable)
    if token:
        return token
    data_dir = resolve_data_dir(data_dir_flag)
    try:
        return _read_token(data_dir / name)
    except FileNotFoundError:
        raise ConfigError(
            f"no {what}: set {variable} or start the platform once with "
            f"'paw up' (it writes {data_dir / name})"
        ) from None


def _read_token(path: Path) -> str:
    token = path.read_text().strip()
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token
