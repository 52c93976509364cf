"""How a process reaches Temporal: address, namespace, and mTLS or an API key.

Servers, the dispatcher and workers all connect with the same arguments, built
here once from the configuration. Certificate files are read when the
configuration is resolved, so a missing one stops a process at start with one
line instead of failing its first connection later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["TemporalAccess", "check_temporal_address", "load_temporal_access"]


@dataclass(frozen=True)
class TemporalAccess:
    """Credentials for Temporal beyond its address: PEM bytes for TLS, or an API key.

    ``repr`` shows neither key material nor the API key.
    """

    ca: bytes | None = field(default=None, repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        """Whether connections use TLS (an API key always does)."""
        return self.ca is not None or self.cert is not None or self.api_key is not None

    @property
    def kind(self) -> str:
        """What kind of access this is, fit to log: plaintext, TLS, mTLS or API key."""
        if self.api_key is not None:
            return "API key over TLS"
        if self.cert is not None:
            return "mTLS"
        return "TLS" if self.ca is not None else "plaintext"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`temporalio.client.Client.connect` (``tls``, ``api_key``)."""
        kwargs: dict[str, Any] = {}
        if self.cert is not None or self.ca is not None:
            from temporalio.service import TLSConfig

            kwargs["tls"] = TLSConfig(
                server_root_ca_cert=self.ca, client_cert=self.cert, client_private_key=self.key
            )
        elif self.api_key is not None:
            kwargs["tls"] = True  # the system's roots, as Temporal Cloud expects
        if self.api_key is not None:
            kwargs["api_key"] = self.api_key
        return kwargs

    async def connect(self, address: str, namespace: str, **extra: Any) -> Client:
        """``Client.connect`` with these credentials; ``extra`` adds e.g. ``retry_config``."""
        from temporalio.client import Client

        return await Client.connect(address, namespace=namespace, **self.connect_kwargs(), **extra)


def load_temporal_access(
    *,
    ca: tuple[str, str] | None = None,
    cert: tuple[str, str] | None = None,
    key: tuple[str, str] | None = None,
    api_key: tuple[str, str] | None = None,
) -> TemporalAccess:
    """Read the files and check that the options fit together.

    Each option is ``(value, where)``: ``where`` names its source in errors
    (``PAWFLOW_TEMPORAL_TLS_CA``, say). A client certificate needs its key and
    the other way round; an API key is not combined with a client certificate
    (it replaces it), though it may come with a CA for a private endpoint.
    """
    if (cert is None) != (key is None):
        given, missing = (cert, "key") if cert is not None else (key, "certificate")
        assert given is not None
        raise ConfigError(
            f"{given[1]} is set but the client {missing} is not: mTLS needs both "
            "PAWFLOW_TEMPORAL_TLS_CERT and PAWFLOW_TEMPORAL_TLS_KEY"
        )
    if api_key is not None and cert is not None:
        raise ConfigError(
            f"both an API key ({api_key[1]}) and a client certificate ({cert[1]}) are set "
            "for Temporal: use one of them"
        )
    token = api_key[0].strip() if api_key is not None else None
    if api_key is not None and not token:
        raise ConfigError(f"{api_key[1]} is empty")
    return TemporalAccess(
        ca=_read_pem(ca, "CA certificate"),
        cert=_read_pem(cert, "client certificate"),
        key=_read_pem(key, "client key"),
        api_key=token,
    )


def check_temporal_address(address: str, where: str) -> str:
    """``address`` if it is ``host:port``; else a one-line error naming ``where``."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"{where} must be HOST:PORT (e.g. temporal.example.com:7233), not {address!r}"
        )
    return address.strip()


def _read_pem(option: tuple[str, str] | None, what: str) -> bytes | None:
    if option is None:
        return None
    raw, where = option
    path = Path(raw).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where}: the {what} file {path} does not exist") from None
    except OSError as err:
        raise ConfigError(
            f"{where}: cannot read the {what} file {path}: {err.strerror or err}"
        ) from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{where}: {path} is not a PEM file (no -----BEGIN line)")
    return data
