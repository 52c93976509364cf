"""``POST /api/v1/deployments``: a project zip in, an active deployment out.

The zip is untrusted input: it is extracted into a fresh temp dir with every
entry checked (no absolute paths, no ``..``, no links, bounded count and size),
and the manifest is validated before anything is written to the store. Then
the project's ``requirements.txt``, if any, is installed (``sessions._envs``)
and every ``call`` target is loaded in a confined process of its own
(``sessions._loadcheck``): code that cannot load is refused, and the active
deployment keeps serving.
"""

from __future__ import annotations

import asyncio
import io
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from aiohttp import web

from ..errors import PawflowError
from ..integrations import IntegrationRegistry
from ..manifest import MANIFEST_FILE, Manifest, load_project
from ..sessions._confine import make_readable
from ..sessions._envs import REQUIREMENTS_FILE, PackageEnvs
from ..sessions._loadcheck import LoadChecker
from ._connections import check_connections, deployed_connections
from ._http import ApiError, base_url, read_body
from ._keys import INTEGRATIONS, SECRETS
from ._schedules import converge_deploy_schedules, sync_deploy_schedules
from ._state import CONFIG, STORE
from ._vars import stored_values

__all__ = [
    "MAX_ENTRIES",
    "MAX_UNCOMPRESSED_BYTES",
    "MAX_ZIP_BYTES",
    "ZipProblem",
    "deploy",
    "extract_zip",
]

MAX_ZIP_BYTES = 64 << 20
MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 256 << 20

_DRIVE = re.compile(r"^[A-Za-z]:")


class ZipProblem(Exception):
    """The upload is not a zip we accept; the message is fit for the 400 reply."""


async def deploy(request: web.Request) -> web.Response:
    store = request.app[STORE]
    code = await read_body(request, MAX_ZIP_BYTES)
    if not code:
        raise ApiError(400, "request body is empty; expected the project as a zip")
    with tempfile.TemporaryDirectory(prefix="pawflow-deploy-") as tmp:
        try:
            # Extracting, parsing, installing and loading touch the disk and
            # may take a while: keep them off the event loop.
            root = Path(tmp) / "project"
            manifest = await asyncio.to_thread(_load_zip, code, root, request.app[INTEGRATIONS])
            await _check_code(request, root, manifest)
        except ZipProblem as err:
            raise ApiError(400, str(err)) from None
        except PawflowError as err:
            raise ApiError(400, str(err)) from None

    project = manifest.project.name
    # First, so Temporal being unreachable fails the deploy with nothing stored.
    await sync_deploy_schedules(request, manifest)
    deployment = await store.create_deployment(project, manifest.to_dict(), code)
    base = base_url(request, request.app[CONFIG])
    webhooks: dict[str, str] = {}
    for trigger in manifest.project.triggers:
        if trigger.webhook is not None:
            hook = await store.ensure_webhook(project, trigger.name)
            webhooks[trigger.name] = f"{base}/webhooks/{hook.slug}"
    connections = await deployed_connections(request, project, manifest)
    await store.activate_deployment(deployment.id)
    await converge_deploy_schedules(request, project)
    return web.json_response(
        {
            "project": project,
            "deployment_id": deployment.id,
            "webhooks": webhooks,
            "connections": connections,
        },
        status=201,
    )


def _load_zip(code: bytes, root: Path, integrations: IntegrationRegistry) -> Manifest:
    # Readable by the load check's user (see ``sessions._confine``); the
    # private temp dir around it keeps everyone else out.
    root.mkdir(mode=0o755)
    extract_zip(code, root)
    manifest = load_project(root, display="")
    check_connections(manifest, integrations, root / MANIFEST_FILE)
    return manifest


async def _check_code(request: web.Request, root: Path, manifest: Manifest) -> None:
    """Install the project's requirements and load its code; raise a
    :class:`PawflowError` (one line) for the first problem."""
    config = request.app[CONFIG]
    project = manifest.project
    calls = [str(t.call) for t in project.triggers if t.call is not None]
    # The vars a session's module-level code would see: the manifest's, then `paw var set`'s.
    stored = await stored_values(request.app[STORE], request.app[SECRETS], project.name, None)
    variables = {**{v.name: v.value for v in project.vars}, **stored}
    envs = PackageEnvs(config.data_dir / "envs")
    checker = LoadChecker(config.data_dir, config.temporal_address)

    def check() -> list[str]:
        requirements = root / REQUIREMENTS_FILE
        installed = envs.ensure(requirements.read_bytes()) if requirements.is_file() else None
        make_readable(root)
        return checker.problems(
            root,
            calls,
            packages=str(installed or ""),
            vars=variables,
            memory_mb=project.limits.memory_mb,
        )

    problems = await asyncio.to_thread(check)
    if problems:
        raise PawflowError(problems[0])


def extract_zip(code: bytes, dest: Path) -> None:
    """Extract the zip ``code`` into the existing empty directory ``dest``.

    Raises :class:`ZipProblem` for anything that is not a plain tree of files
    and folders within the limits.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(code))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ZipProblem("request body is not a valid zip file") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise ZipProblem(f"zip has more than {MAX_ENTRIES} entries")
        if sum(e.file_size for e in entries) > MAX_UNCOMPRESSED_BYTES:
            raise ZipProblem(f"zip expands to more than {MAX_UNCOMPRESSED_BYTES} bytes")
        root = dest.resolve()
        written = 0
        for entry in entries:
            parts = _safe_parts(entry)
            if not parts:
                continue
            target = root.joinpath(*parts)
            if not target.resolve().is_relative_to(root):
                raise ZipProblem(f"zip entry {entry.filename!r} points outside the project")
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(entry) as src, target.open("wb") as out:
                    # The sizes in the zip's directory are claims; count real bytes.
                    while chunk := src.read(1 << 16):
                        written += len(chunk)
                        if written > MAX_UNCOMPRESSED_BYTES:
                            raise ZipProblem(
                                f"zip expands to more than {MAX_UNCOMPRESSED_BYTES} bytes"
                            )
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
                raise ZipProblem(f"zip entry {entry.filename!r} is corrupt: {err}") from None
            except RuntimeError as err:  # encrypted entries
                raise ZipProblem(f"zip entry {entry.filename!r} cannot be read: {err}") from None
            except OSError as err:
                raise ZipProblem(
                    f"zip entry {entry.filename!r} cannot be written: {err.strerror}"
                ) from None


def _safe_parts(entry: zipfile.ZipInfo) -> tuple[str, ...]:
    name = entry.filename
    # Zips made on Windows may use backslashes; treat them as separators so a
    # "..\\x" entry cannot slip through.
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        raise ZipProblem(f"zip entry {name!r} has a NUL character in its name")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        raise ZipProblem(f"zip entry {name!r} has an absolute path")
    parts = tuple(p for p in PurePosixPath(normalized).parts if p not in ("", "."))
    if ".." in parts:
        raise ZipProblem(f"zip entry {name!r} goes outside the project ('..')")
    # Unix file type bits; zero when the zip tool did not record them.
    kind = stat.S_IFMT(entry.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise ZipProblem(f"zip entry {name!r} is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ZipProblem(f"zip entry {name!r} is not a regular file or folder")
    return parts
