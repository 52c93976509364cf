"""``POST /api/v1/deployments``: validation before any write, safe extraction."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.server._deploy import MAX_ENTRIES, MAX_UNCOMPRESSED_BYTES, ZipProblem, extract_zip
from pawflow.storage import SQLiteStore

from ._helpers import AUTH, MANIFEST, PROGRAM, deploy, make_zip, project_zip


async def _assert_nothing_stored(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    assert await store.list_projects() == []
    assert await store.list_deployments() == []
    resp = await client.get("/api/v1/projects", headers=AUTH)
    assert (await resp.json())["projects"] == []


async def _post(client: TestClient[Any, Any], body: bytes) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/deployments", data=body, headers={**AUTH, "Content-Type": "application/zip"}
    )
    return resp.status, await resp.json()


async def test_deploy_valid_project(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    status, body = await _post(client, project_zip())
    assert status == 201
    assert body["project"] == "hello"
    assert body["deployment_id"].startswith("dep_")
    assert set(body["webhooks"]) == {"greet", "items"}
    base = f"http://127.0.0.1:{client.port}/webhooks/"
    for trigger, url in body["webhooks"].items():
        assert url.startswith(base)
        hook = await store.resolve_webhook(url.removeprefix(base))
        assert hook is not None
        assert (hook.project, hook.trigger) == ("hello", trigger)
    active = await store.active_deployment("hello")
    assert active is not None
    assert active.id == body["deployment_id"]
    assert active.manifest["project"]["vars"] == [{"name": "GREETING", "value": "Hi"}]


async def test_deploy_zip_with_folder_entries(client: TestClient[Any, Any]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lib/", b"")
        zf.writestr("./pawflow.yaml", MANIFEST)
        zf.writestr("program.py", PROGRAM)
        zf.writestr("lib/util.py", "X = 1\n")
    status, body = await _post(client, buf.getvalue())
    assert status == 201, body


async def test_webhook_urls_survive_a_redeploy(client: TestClient[Any, Any]) -> None:
    first = await deploy(client)
    second = await deploy(client)
    assert second["deployment_id"] != first["deployment_id"]
    assert second["webhooks"] == first["webhooks"]


async def test_bad_manifest_is_400_and_stores_nothing(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    bad_call = MANIFEST.replace("program.py:on_greet", "program.py:missing")
    status, body = await _post(client, project_zip(manifest=bad_call))
    assert status == 400
    assert body["error"].startswith("pawflow.yaml:")
    assert "missing" in body["error"]
    assert "/tmp" not in body["error"]  # the temp dir is not the user's business

    status, body = await _post(client, make_zip({"program.py": PROGRAM}))
    assert status == 400
    assert "pawflow.yaml" in body["error"]

    status, body = await _post(client, project_zip(manifest="version: 1\nproject: [\n"))
    assert status == 400
    await _assert_nothing_stored(client, store)


@pytest.mark.parametrize(
    "name",
    ["../evil.py", "sub/../../evil.py", "/tmp/evil.py", "..\\evil.py", "C:/evil.py", "a/../../x"],
)
async def test_zip_slip_is_rejected(
    client: TestClient[Any, Any], store: SQLiteStore, tmp_path: Path, name: str
) -> None:
    code = make_zip({"pawflow.yaml": MANIFEST, "program.py": PROGRAM, name: "print('x')\n"})
    status, body = await _post(client, code)
    assert status == 400
    assert "error" in body
    await _assert_nothing_stored(client, store)


async def test_symlink_entry_is_rejected(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pawflow.yaml", MANIFEST)
        zf.writestr("program.py", PROGRAM)
        link = zipfile.ZipInfo("link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    status, body = await _post(client, buf.getvalue())
    assert status == 400
    assert "symbolic link" in body["error"]
    await _assert_nothing_stored(client, store)


async def test_not_a_zip_and_empty_body(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    for body in (b"this is not a zip", b""):
        status, reply = await _post(client, body)
        assert status == 400
        assert "zip" in reply["error"]
    await _assert_nothing_stored(client, store)


def test_extract_rejects_too_many_entries(tmp_path: Path) -> None:
    code = make_zip({f"f{i}.txt": "" for i in range(MAX_ENTRIES + 1)})
    with pytest.raises(ZipProblem, match="entries"):
        extract_zip(code, tmp_path)


def test_extract_rejects_too_much_data(tmp_path: Path) -> None:
    # A small zip that expands past the limit (a "zip bomb").
    buf = io.BytesIO()
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("big.bin", "w", force_zip64=True) as out,
    ):
        for _ in range(MAX_UNCOMPRESSED_BYTES // len(chunk) + 1):
            out.write(chunk)
    assert len(buf.getvalue()) < MAX_UNCOMPRESSED_BYTES // 100
    with pytest.raises(ZipProblem, match="expands"):
        extract_zip(buf.getvalue(), tmp_path)


def test_extract_writes_a_plain_tree(tmp_path: Path) -> None:
    extract_zip(make_zip({"a/b/c.txt": "hi", "d.txt": b"\x00\x01"}), tmp_path)
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "hi"
    assert (tmp_path / "d.txt").read_bytes() == b"\x00\x01"
