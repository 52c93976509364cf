"""The credentials a server holds: the admin token, the worker token and the
secret key that encrypts secret vars.

With SQLite (one server, its own data dir) they are made in the data dir on
first use. A PostgreSQL database is shared by design: every server on it must
hold the same three, or the CLI is refused by some servers and secrets written
through one cannot be read through another. So there a server makes none: each
must be given (environment, or a file an operator put in the data dir).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..secrets import SecretBox, SecretKeyError
from ._effective import EffectiveConfig, Setting, setting_env, setting_file
from ._paths import TOKEN_FILE, WORKER_TOKEN_FILE, ensure_token

__all__ = ["SHARED_CREDENTIALS", "ServerCredentials", "server_credentials"]

SHARED_CREDENTIALS = ("token", "worker_token", "secret_key")
"""The settings every server of one PostgreSQL database must share."""

_MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
_MAKE_KEY = (
    "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
)


@dataclass(frozen=True)
class ServerCredentials:
    """What a server authenticates with and encrypts with. ``secret_key`` None:
    none yet (SQLite only); it is made in the data dir when first needed."""

    token: str = field(repr=False)
    worker_token: str = field(repr=False)
    secret_key: str | None = field(repr=False)


def server_credentials(effective: EffectiveConfig) -> ServerCredentials:
    """The server's credentials from ``effective``; with SQLite, tokens missing are
    made in the data dir (mode 0600).

    Raises :class:`~pawflow.errors.ConfigError` (one line) when, with PostgreSQL,
    any is missing, or when the secret key is malformed.
    """
    settings = {name: effective.setting(name) for name in SHARED_CREDENTIALS}
    key = settings["secret_key"]
    if key.value:
        _check_key(key)
    if effective.database_url is not None:
        missing = [s for s in settings.values() if not s.value]
        if missing:
            raise ConfigError(_missing_message(effective, missing))
        return ServerCredentials(settings["token"].value, settings["worker_token"].value, key.value)
    data_dir = effective.data_dir
    try:
        token = settings["token"].value or ensure_token(data_dir, TOKEN_FILE)
        worker_token = settings["worker_token"].value or ensure_token(data_dir, WORKER_TOKEN_FILE)
    except OSError as err:
        raise ConfigError(f"cannot use the data dir {data_dir}: {err.strerror or err}") from None
    return ServerCredentials(token, worker_token, key.value or None)


def _check_key(setting: Setting) -> None:
    try:
        SecretBox(setting.value)
    except SecretKeyError:
        raise ConfigError(
            f"{_origin(setting)} is not a valid secret key (32 url-safe base64-encoded bytes); "
            f"make one with: {_MAKE_KEY}"
        ) from None


def _missing_message(effective: EffectiveConfig, missing: list[Setting]) -> str:
    names = []
    for setting in missing:
        name = setting_env(setting.name)
        kind, _, where = setting.source.partition(" ")
        names.append(f"{name} ({where} is empty)" if kind == "file" else name)
    files = [setting_file(s.name) for s in missing]
    makes = []
    if any(s.name != "secret_key" for s in missing):
        makes.append(f"a token with {_MAKE_TOKEN}")
    if any(s.name == "secret_key" for s in missing):
        makes.append(f"a key with {_MAKE_KEY}")
    return (
        f"{_listed(names)} {'is' if len(names) == 1 else 'are'} not set: every server of a "
        "PostgreSQL database needs the same admin token, worker token and secret key, "
        f"so none is made here; set {'it' if len(names) == 1 else 'them'} on every server "
        f"(or write {'it to the file' if len(files) == 1 else 'them to the files'} "
        f"{_listed(files)} in {effective.data_dir}); make " + " and ".join(makes)
    )


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _origin(setting: Setting) -> str:
    kind, _, where = setting.source.partition(" ")
    return where if kind in ("env", "file") else setting.name
