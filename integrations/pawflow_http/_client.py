"""A ``requests.Session`` bound to one base URL, with auth and retries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["HttpClient"]

_REDACTED = "***"
# Retried only where a repeat cannot do harm twice, and on answers that mean
# "try again later".
_RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUSES = (429, 502, 503, 504)


class HttpClient(requests.Session):
    """``client.get("/items")`` requests ``base_url + "/items"``; absolute URLs
    are used as given. The auth header goes with every request, but not past a
    redirect to another origin, and is blanked in responses (they are recorded
    in the session's history)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_header: str | None = None,
        auth_header_name: str = "Authorization",
        retries: int = 3,
        timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self._auth_header_name = auth_header_name
        if auth_header:
            self.headers[auth_header_name] = auth_header
        retry = Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=_RETRY_STATUSES,
            allowed_methods=_RETRY_METHODS,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        # As requests pickles a Session, but without the auth header.
        state = {attr: getattr(self, attr, None) for attr in self.__attrs__}
        headers = requests.structures.CaseInsensitiveDict(state.get("headers") or {})
        headers.pop(self._auth_header_name, None)
        state["headers"] = headers
        state["base_url"] = self.base_url
        state["timeout"] = self.timeout
        state["_auth_header_name"] = self._auth_header_name
        return state

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """Called on each redirect. requests drops ``Authorization`` (and the
        cookies set by hand) when a redirect leaves the origin: another host or
        port, or https to http. The connection's auth header may have another
        name, and must not reach a host it was not meant for either."""
        super().rebuild_auth(prepared_request, response)
        previous = response.request.url if response.request is not None else None
        if (
            previous is not None
            and prepared_request.url is not None
            and self.should_strip_auth(previous, prepared_request.url)
        ):
            prepared_request.headers.pop(self._auth_header_name, None)

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send a request; ``url`` may be relative to the base URL."""
        kwargs.setdefault("timeout", self.timeout)
        response = super().request(method, urljoin(self.base_url, url.lstrip("/")), *args, **kwargs)
        for r in (*response.history, response):
            if r.request is not None and self._auth_header_name in r.request.headers:
                r.request.headers[self._auth_header_name] = _REDACTED
        return response
