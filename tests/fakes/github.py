"""A fake GitHub REST API: the part the samples and the connection test use.

``GET /user``, ``GET /repos/{o}/{r}``, ``GET /repos/{o}/{r}/issues/{n}``,
``POST .../issues/{n}/labels`` and ``POST .../issues/{n}/comments``. Requests
must carry ``Authorization: token <token>`` (or Bearer); anything else is a 401
like GitHub's "Bad credentials".
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ._service import FakeService

__all__ = ["FakeGitHub"]


class FakeGitHub(FakeService):
    def __init__(self, token: str = "ghp-test-token", login: str = "octocat") -> None:
        super().__init__()
        self.token = token
        self.login = login
        self.labels: dict[tuple[str, str, int], list[str]] = {}
        self.comments: dict[tuple[str, str, int], list[str]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/user", self._user)
        app.router.add_get("/repos/{owner}/{repo}", self._repo)
        app.router.add_get("/repos/{owner}/{repo}/issues/{number:\\d+}", self._issue)
        app.router.add_post("/repos/{owner}/{repo}/issues/{number:\\d+}/labels", self._add_labels)
        app.router.add_post("/repos/{owner}/{repo}/issues/{number:\\d+}/comments", self._comment)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and given == self.token

    def _reply(self, request: web.Request, value: Any, status: int = 200) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response(value, status=status)

    def _repo_json(self, owner: str, repo: str) -> dict[str, Any]:
        return {
            "id": 1,
            "name": repo,
            "full_name": f"{owner}/{repo}",
            "owner": {"login": owner, "id": 2},
            "url": f"{self.url}/repos/{owner}/{repo}",
        }

    def _issue_json(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        key = (owner, repo, number)
        return {
            "id": 100 + number,
            "number": number,
            "title": f"issue {number}",
            "state": "open",
            "labels": [{"name": n} for n in self.labels.get(key, [])],
            "url": f"{self.url}/repos/{owner}/{repo}/issues/{number}",
            "repository_url": f"{self.url}/repos/{owner}/{repo}",
        }

    async def _user(self, request: web.Request) -> web.Response:
        return self._reply(request, {"login": self.login, "id": 1, "type": "User"})

    async def _repo(self, request: web.Request) -> web.Response:
        m = request.match_info
        return self._reply(request, self._repo_json(m["owner"], m["repo"]))

    async def _issue(self, request: web.Request) -> web.Response:
        m = request.match_info
        return self._reply(request, self._issue_json(m["owner"], m["repo"], int(m["number"])))

    async def _add_labels(self, request: web.Request) -> web.Response:
        m = request.match_info
        key = (m["owner"], m["repo"], int(m["number"]))
        body = json.loads(await request.read() or b"{}")
        names = body.get("labels", body) if isinstance(body, dict) else body
        if self._authorized(request):
            self.labels.setdefault(key, []).extend(str(n) for n in names)
        return self._reply(request, [{"name": n} for n in self.labels.get(key, [])])

    async def _comment(self, request: web.Request) -> web.Response:
        m = request.match_info
        key = (m["owner"], m["repo"], int(m["number"]))
        body = json.loads(await request.read() or b"{}")
        if self._authorized(request):
            self.comments.setdefault(key, []).append(str(body.get("body")))
        comment = {"id": 7, "body": body.get("body"), "user": {"login": self.login}}
        return self._reply(request, comment, status=201)
