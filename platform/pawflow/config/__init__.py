"""Configuration: where things are (data dir, server, tokens) and the effective
configuration of the long-running processes.

Precedence everywhere: explicit flag, then environment variable, then a file in
the data dir, then a default.
"""

from ._credentials import SHARED_CREDENTIALS, ServerCredentials, server_credentials
from ._effective import EffectiveConfig, Role, Setting, resolve_config, setting_env
from ._paths import (
    DEFAULT_SERVER,
    TOKEN_ENV,
    TOKEN_FILE,
    WORKER_TOKEN_ENV,
    WORKER_TOKEN_FILE,
    ensure_admin_token,
    ensure_data_dir,
    ensure_token,
    ensure_worker_token,
    find_token,
    find_worker_token,
    resolve_data_dir,
    resolve_server,
)
from ._public import PUBLIC_URL_HINT, check_public_url, is_wildcard, listen_url, reachable_host
from ._temporal import TemporalAccess, check_temporal_address, load_temporal_access

__all__ = [
    "DEFAULT_SERVER",
    "PUBLIC_URL_HINT",
    "SHARED_CREDENTIALS",
    "TOKEN_ENV",
    "TOKEN_FILE",
    "WORKER_TOKEN_ENV",
    "WORKER_TOKEN_FILE",
    "EffectiveConfig",
    "Role",
    "ServerCredentials",
    "Setting",
    "TemporalAccess",
    "check_public_url",
    "check_temporal_address",
    "ensure_admin_token",
    "ensure_data_dir",
    "ensure_token",
    "ensure_worker_token",
    "find_token",
    "find_worker_token",
    "is_wildcard",
    "listen_url",
    "load_temporal_access",
    "reachable_host",
    "resolve_config",
    "resolve_data_dir",
    "resolve_server",
    "server_credentials",
    "setting_env",
]
