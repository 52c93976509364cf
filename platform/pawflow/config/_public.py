"""The public base URL: what webhook URLs start with, printed and given to services.

Behind a proxy or load balancer only the operator knows it
(``PAWFLOW_PUBLIC_URL``). Without it a server uses its own address; when that
is a wildcard (``0.0.0.0``) which nobody can send to, the machine's outward
address instead, with a hint to set the real one.
"""

from __future__ import annotations

import socket
import urllib.parse

from ..errors import ConfigError

__all__ = ["PUBLIC_URL_HINT", "check_public_url", "is_wildcard", "listen_url", "reachable_host"]

PUBLIC_URL_HINT = (
    "it listens on every interface: set PAWFLOW_PUBLIC_URL to the URL webhooks reach it at "
    "(e.g. https://pawflow.example.com)"
)
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
# A TEST-NET address: connecting a UDP socket to it sends nothing, but makes the
# kernel pick the interface that leads outwards.
_PROBE = ("192.0.2.1", 9)


def check_public_url(url: str, where: str) -> str:
    """``url`` without a trailing slash if it is an absolute http(s) URL with no
    query or fragment; else a one-line error naming ``where``."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"{where} must be an http:// or https:// URL without query or fragment "
            f"(e.g. https://pawflow.example.com), not {url!r}"
        )
    return url.strip().rstrip("/")


def is_wildcard(host: str) -> bool:
    """Whether listening on ``host`` means every interface."""
    return host.strip() in _WILDCARDS


def reachable_host(host: str) -> str:
    """``host``, or for a wildcard the address other machines most likely reach
    this one at (127.0.0.1 when there is no network)."""
    if not is_wildcard(host):
        return host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = ("2001:db8::1", 9) if family == socket.AF_INET6 else _PROBE
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(probe)
            address: str = s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    return address


def listen_url(host: str, port: int) -> str:
    """``http://host:port``, with IPv6 literals bracketed."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
