"""The effective configuration of ``paw up``, ``paw server`` and ``paw worker``.

Every value comes from the first of: a command-line flag, an environment
variable, a file in the data dir, a default. Each keeps where it came from, so
``paw config show`` can say so; secrets are only ever shown masked.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ._paths import DEFAULT_SERVER, TOKEN_ENV, TOKEN_FILE, WORKER_TOKEN_ENV, WORKER_TOKEN_FILE
from ._public import check_public_url
from ._temporal import TemporalAccess, check_temporal_address, load_temporal_access

__all__ = [
    "EffectiveConfig",
    "Role",
    "Setting",
    "resolve_config",
    "setting_env",
    "setting_file",
]

Role = Literal["up", "server", "worker", "show"]

DEFAULT_TEMPORAL = "127.0.0.1:7233"
MAX_RETENTION_DAYS = (
    36_500  # a century: beyond it, say 0 (forever)  # Temporal's own default frontend address
)
_Secret = Literal["", "secret", "password"]


@dataclass(frozen=True)
class Setting:
    """One configuration value and where it came from (``flag --port``,
    ``env PAWFLOW_…``, ``file PATH``, ``default`` or ``unset``)."""

    name: str
    value: str = field(repr=False)
    source: str
    secret: _Secret = ""  # "password": a URL whose password is masked

    def shown(self) -> str:
        """The value fit to print: secrets as ``***``, a URL's password as ``***``."""
        if not self.value:
            return ""
        if self.secret == "secret":
            return "***"
        if self.secret == "password":
            return _mask_password(self.value)
        return self.value


@dataclass(frozen=True)
class _Spec:
    name: str
    flag: str | None = None  # attribute of the parsed arguments
    env: str | None = None
    file: str | None = None  # in the data dir; secrets only (tokens, keys)
    default: str = ""
    secret: _Secret = ""

    def flag_name(self) -> str:
        return "--" + (self.flag or "").replace("_", "-")


_SPECS = (
    _Spec("data_dir", flag="data_dir", env="PAWFLOW_HOME", default="~/.pawflow"),
    _Spec("host", flag="host", default="127.0.0.1"),
    _Spec("port", flag="port", default="9980"),
    _Spec("public_url", flag="public_url", env="PAWFLOW_PUBLIC_URL"),
    _Spec("database_url", flag="database_url", env="PAWFLOW_DATABASE_URL", secret="password"),
    _Spec("temporal_address", flag="temporal", env="PAWFLOW_TEMPORAL_ADDRESS"),
    _Spec(
        "temporal_namespace", flag="namespace", env="PAWFLOW_TEMPORAL_NAMESPACE", default="default"
    ),
    _Spec("temporal_tls_ca", env="PAWFLOW_TEMPORAL_TLS_CA"),
    _Spec("temporal_tls_cert", env="PAWFLOW_TEMPORAL_TLS_CERT"),
    _Spec("temporal_tls_key", env="PAWFLOW_TEMPORAL_TLS_KEY"),
    _Spec("temporal_api_key", env="PAWFLOW_TEMPORAL_API_KEY", secret="secret"),
    _Spec("task_queue", flag="task_queue", default="pawflow-sessions"),
    _Spec("token", env=TOKEN_ENV, file=TOKEN_FILE, secret="secret"),
    _Spec("worker_token", env=WORKER_TOKEN_ENV, file=WORKER_TOKEN_FILE, secret="secret"),
    _Spec("secret_key", env="PAWFLOW_SECRET_KEY", file="secret.key", secret="secret"),
    _Spec("max_body_mb", flag="max_body_mb", env="PAWFLOW_MAX_BODY_MB", default="1"),
    _Spec("metrics_port", flag="metrics_port"),
    _Spec(
        "max_sessions_in_calls",
        flag="max_sessions_in_calls",
        env="PAWFLOW_MAX_SESSIONS_IN_CALLS",
    ),
    _Spec("retention_days", flag="retention_days", env="PAWFLOW_RETENTION_DAYS", default="30"),
    _Spec("server", flag="server", env="PAWFLOW_SERVER", default=DEFAULT_SERVER),
)


@dataclass(frozen=True)
class EffectiveConfig:
    """What a process runs with. ``temporal_address`` None: ``paw up`` embeds a
    Temporal server, a worker asks its Pawflow server."""

    settings: tuple[Setting, ...]
    data_dir: Path
    host: str
    port: int
    public_url: str | None
    database_url: str | None = field(repr=False)
    temporal_address: str | None
    namespace: str
    temporal_access: TemporalAccess
    task_queue: str
    max_body_bytes: int
    metrics_port: int | None
    server: str
    # Finished sessions older than this are deleted (0: kept forever), unless
    # their project's manifest says otherwise; Temporal keeps histories as long.
    retention_days: int = 30
    # Sessions a worker holds inside calls at once (0: as its memory allows).
    max_sessions_in_calls: int = 0

    def setting(self, name: str) -> Setting:
        """The setting called ``name`` (KeyError if there is none)."""
        for setting in self.settings:
            if setting.name == name:
                return setting
        raise KeyError(name)

    def shown(self) -> dict[str, dict[str, str]]:
        """Every setting as ``{name: {"value": masked, "source": ...}}``."""
        return {s.name: {"value": s.shown(), "source": s.source} for s in self.settings}


def resolve_config(
    flags: Mapping[str, Any], role: Role, env: Mapping[str, str] | None = None
) -> EffectiveConfig:
    """The effective configuration of ``role`` from parsed ``flags`` (argparse's
    attributes; None = not given) and ``env`` (default: the process environment).

    Raises :class:`~pawflow.errors.ConfigError` (one line, naming the flag or
    variable) for a bad value.
    """
    environ = os.environ if env is None else env
    settings: dict[str, Setting] = {}
    data_dir_spec = _SPECS[0]
    settings["data_dir"] = _pick(data_dir_spec, flags, environ, None)
    data_dir = Path(settings["data_dir"].value).expanduser().resolve()
    for spec in _SPECS[1:]:
        settings[spec.name] = _pick(spec, flags, environ, data_dir)

    def where(name: str) -> str:
        return _where(settings[name])

    def given(name: str) -> tuple[str, str] | None:
        s = settings[name]
        return (s.value, where(name)) if s.value else None

    if not settings["temporal_address"].value:
        settings["temporal_address"] = Setting(
            "temporal_address",
            "",
            "unset: paw up embeds one, paw server uses "
            f"{DEFAULT_TEMPORAL}, paw worker asks its server",
        )
    address: str | None = settings["temporal_address"].value or None
    if address is not None:
        address = check_temporal_address(address, where("temporal_address"))
    elif role == "server":
        address = DEFAULT_TEMPORAL
    namespace = settings["temporal_namespace"].value.strip()
    if not namespace:
        raise ConfigError(f"{where('temporal_namespace')} must not be empty")
    access = load_temporal_access(
        ca=given("temporal_tls_ca"),
        cert=given("temporal_tls_cert"),
        key=given("temporal_tls_key"),
        api_key=given("temporal_api_key"),
    )
    database_url = _database_url(settings["database_url"])
    if database_url is not None:
        # A shared database: nothing is made on first start (see _credentials).
        for spec in _SPECS:
            if spec.file is not None and settings[spec.name].source.startswith("unset"):
                settings[spec.name] = Setting(
                    spec.name,
                    "",
                    f"unset: required with PostgreSQL, the same on every server "
                    f"({spec.env} or {data_dir / spec.file})",
                    spec.secret,
                )
    public_url = settings["public_url"].value or None
    if public_url is not None:
        public_url = check_public_url(public_url, where("public_url"))
    return EffectiveConfig(
        settings=tuple(settings.values()),
        data_dir=data_dir,
        host=settings["host"].value,
        port=_number(settings["port"], lo=0, hi=65535, what="a TCP port"),
        public_url=public_url,
        database_url=database_url,
        temporal_address=address,
        namespace=namespace,
        temporal_access=access,
        task_queue=settings["task_queue"].value,
        max_body_bytes=_number(settings["max_body_mb"], lo=1, hi=1024, what="megabytes") << 20,
        metrics_port=(
            _number(settings["metrics_port"], lo=0, hi=65535, what="a TCP port")
            if settings["metrics_port"].value
            else None
        ),
        server=_server_url(settings["server"]),
        retention_days=_number(
            settings["retention_days"], lo=0, hi=MAX_RETENTION_DAYS, what="days (0: keep forever)"
        ),
        max_sessions_in_calls=(
            _number(
                settings["max_sessions_in_calls"],
                lo=0,
                hi=2**31 - 1,
                what="a whole number (0: from memory)",
            )
            if settings["max_sessions_in_calls"].value
            else 0
        ),
    )


def setting_env(name: str) -> str:
    """The environment variable of the setting ``name`` ("" if it has none)."""
    return _spec(name).env or ""


def setting_file(name: str) -> str:
    """The data-dir file of the setting ``name`` ("" if it has none)."""
    return _spec(name).file or ""


def _spec(name: str) -> _Spec:
    for spec in _SPECS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def _pick(
    spec: _Spec, flags: Mapping[str, Any], env: Mapping[str, str], data_dir: Path | None
) -> Setting:
    if spec.flag is not None and flags.get(spec.flag) is not None:
        return Setting(spec.name, str(flags[spec.flag]), f"flag {spec.flag_name()}", spec.secret)
    if spec.env is not None and env.get(spec.env, "").strip():
        return Setting(spec.name, env[spec.env].strip(), f"env {spec.env}", spec.secret)
    if spec.file is not None and data_dir is not None:
        path = data_dir / spec.file
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            return Setting(spec.name, "", f"unset (made in {path} on first start)", spec.secret)
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
        return Setting(spec.name, value, f"file {path}", spec.secret)
    if spec.default:
        return Setting(spec.name, spec.default, "default", spec.secret)
    return Setting(spec.name, "", "unset", spec.secret)


def _where(setting: Setting) -> str:
    """The flag or variable a setting came from, for error messages."""
    kind, _, name = setting.source.partition(" ")
    return name if kind in ("flag", "env", "file") else setting.name


def _number(setting: Setting, *, lo: int, hi: int, what: str) -> int:
    try:
        value = int(setting.value)
    except ValueError:
        raise ConfigError(f"{_where(setting)} must be {what}, not {setting.value!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{_where(setting)} must be between {lo} and {hi} ({what}), not {value}")
    return value


def _database_url(setting: Setting) -> str | None:
    if not setting.value:
        return None  # SQLite in the data dir
    parts = urllib.parse.urlsplit(setting.value)
    if parts.scheme not in ("postgresql", "postgres") or (not parts.hostname and not parts.path):
        # Never echo the value: it may hold a password.
        scheme = f"{parts.scheme}://…" if parts.scheme else "a value without a scheme"
        raise ConfigError(
            f"{_where(setting)} must be a postgresql://USER:PASSWORD@HOST:PORT/DATABASE URL "
            f"(unset means SQLite in the data dir), not {scheme}"
        )
    return setting.value


def _server_url(setting: Setting) -> str:
    url = setting.value.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{_where(setting)} must start with http:// or https://, not {url!r}")
    return url


def _mask_password(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return "***"  # unparseable: show nothing of it
    if not password:
        return url
    user = urllib.parse.quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
