"""The PyGithub client sessions get. Its own module: PyGithub costs about 35 MB,
which the server, loading every integration to verify webhooks, does not need."""

from __future__ import annotations

from typing import Any

from github import Auth, Github

__all__ = ["PUBLIC_API", "GitHubClient"]

PUBLIC_API = "https://api.github.com"


class GitHubClient(Github):
    """PyGithub's ``Github`` with a repr that names the API it talks to."""

    def __init__(self, token: str, base_url: str = PUBLIC_API, **options: Any) -> None:
        super().__init__(auth=Auth.Token(token), base_url=base_url.rstrip("/"), **options)
        self._pawflow_base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"GitHubClient({self._pawflow_base_url!r})"
