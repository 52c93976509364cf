"""A project's own libraries: its ``requirements.txt``, installed once per content.

A deployment whose project has a ``requirements.txt`` beside its manifest
gets a directory of packages, installed by ``pip install --target`` from the
package index pip is configured with (``PIP_INDEX_URL``, ``pip.conf``) and
kept in the data dir as ``envs/<hash>``; its runners put it first on their
import path. The hash covers the file's bytes and the interpreter (a wheel for
one Python is not one for another), so the server, which installs it at deploy
time, and every worker, which installs it on first use when it does not share
the server's data dir, end up with the same directory name for the same file.

``requirements.txt`` comes from the user, and pip runs on the server: only
plain requirements are accepted (``name[extra]>=1.0; marker``, no options, no
URLs or paths), and only wheels are installed (``--only-binary :all:``):
building a source distribution would run its code on the server.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from ..errors import ManifestError, PawflowError
from ._confine import make_readable

__all__ = [
    "REQUIREMENTS_FILE",
    "PackageEnvs",
    "RequirementsFailed",
    "check_requirements",
    "use_packages",
]

log = logging.getLogger(__name__)

REQUIREMENTS_FILE = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 64 << 10
DEFAULT_PIP_SECONDS = 100.0  # under the CLI's two minutes for a deploy

# PEP 508 without direct references: a name, extras, versions, a marker.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"^{_NAME}\s*(?:\[\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\])?"
    r"\s*(?:\(?\s*(?:~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+"
    r"(?:\s*,\s*(?:~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+)*\s*\)?)?"
    r"\s*(?:;[^@]*)?$"
)
_PIP_REASON_LINES = 3
_PIP_REASON_CHARS = 600
# Where pip looks for its own configuration, besides the files: kept from the
# platform's environment; anything else of it (tokens, database URLs) is not pip's.
_PIP_ENV_PREFIXES = ("PIP_", "LC_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_PIP_ENV_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


class RequirementsFailed(PawflowError):
    """The project's requirements could not be installed; the message says why
    (pip's own reason), fit for the deploy's 400 reply."""


def check_requirements(text: bytes) -> list[str]:
    """The requirements in ``text`` (a ``requirements.txt``), one each.

    Raises :class:`ManifestError` (``requirements.txt:LINE: ...``) for what
    the platform does not install: options, URLs, paths, anything not a plain
    requirement.
    """
    if len(text) > MAX_REQUIREMENTS_BYTES:
        raise ManifestError(
            f"larger than {MAX_REQUIREMENTS_BYTES >> 10} KiB", file=REQUIREMENTS_FILE
        )
    try:
        lines = text.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        at = text.count(b"\n", 0, err.start) + 1
        raise ManifestError("not valid UTF-8", file=REQUIREMENTS_FILE, line=at) from None
    found: list[str] = []
    for number, raw in enumerate(lines, start=1):
        # A comment starts the line or follows whitespace (pip's rule).
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            option = line.split()[0].split("=")[0]
            raise ManifestError(
                f"options such as {option!r} are not accepted: list plain requirements "
                "(name, extras, versions); the package index is the platform's",
                file=REQUIREMENTS_FILE,
                line=number,
            )
        if "@" in line.split(";")[0] or "://" in line or "/" in line or line.endswith("\\"):
            raise ManifestError(
                f"{line!r} is not a plain requirement: URLs, paths and line continuations "
                "are not accepted, only name[extras] and versions from the package index",
                file=REQUIREMENTS_FILE,
                line=number,
            )
        if not _REQUIREMENT.match(line):
            raise ManifestError(
                f"{line!r} is not a requirement (expected e.g. 'humanize>=4.9')",
                file=REQUIREMENTS_FILE,
                line=number,
            )
        found.append(line)
    return found


def env_key(text: bytes) -> str:
    """The directory name of the environment for a ``requirements.txt`` of ``text``."""
    interpreter = f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}\n"
    return hashlib.sha256(interpreter.encode() + text).hexdigest()[:32]


class PackageEnvs:
    """The installed environments under ``directory`` (the data dir's ``envs``)."""

    def __init__(self, directory: Path, *, pip_seconds: float = DEFAULT_PIP_SECONDS) -> None:
        self.directory = directory
        self._pip_seconds = pip_seconds

    def ensure(self, text: bytes) -> Path | None:
        """The environment for a ``requirements.txt`` of ``text``, installed now
        unless it already is (None: it names no requirement). Blocks while pip
        runs; two processes sharing the data dir install it once."""
        requirements = check_requirements(text)
        if not requirements:
            return None
        key = env_key(text)
        target = self.directory / key
        if target.is_dir():
            return target  # environments are complete or absent: see the rename below
        self.directory.mkdir(parents=True, exist_ok=True)
        # flock holds per open file: one installer at a time, be it another
        # thread here or another process sharing the data dir.
        with (self.directory / f".{key}.lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            if not target.is_dir():
                self._install(requirements, key, target)
        return target

    def _install(self, requirements: list[str], key: str, target: Path) -> None:
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.directory))
        listing = staging / ".requirements.txt"
        listing.write_text("".join(f"{r}\n" for r in requirements))
        packages = staging / "packages"
        command = [
            sys.executable, "-m", "pip", "install", "--target", str(packages),
            "--only-binary", ":all:", "--no-input", "--disable-pip-version-check",
            "--no-warn-script-location", "--progress-bar", "off", "-r", str(listing),
        ]  # fmt: skip
        started = time.monotonic()
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self._pip_seconds,
                env=_pip_environment(os.environ),
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise RequirementsFailed(
                f"{REQUIREMENTS_FILE}: installing the requirements took more than "
                f"{self._pip_seconds:g} s"
            ) from None
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise RequirementsFailed(f"{REQUIREMENTS_FILE}: cannot run pip: {err}") from None
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RequirementsFailed(
                f"{REQUIREMENTS_FILE}: pip could not install the requirements: "
                + pip_reason(done.stderr or done.stdout)
            )
        make_readable(packages)
        try:
            # Atomic: whoever looks sees a complete environment or none.
            os.rename(packages, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info(
            "installed %s (%s) into %s with pip in %.1f s",
            REQUIREMENTS_FILE,
            ", ".join(requirements),
            target,
            time.monotonic() - started,
        )


def use_packages(path: str) -> None:
    """Put the project's packages at ``path`` (nothing when empty) first on this
    process's import path.

    What the process has imported already -- ``pawflow``, its dependencies, the
    client libraries the fork server preloads -- stays as it is: a module is
    imported once, so the platform's own copy wins over the project's."""
    if path and path not in sys.path:
        sys.path.insert(0, path)


def pip_reason(output: str) -> str:
    """pip's reason for failing, from what it printed: its ``ERROR:`` lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    chosen = errors[:_PIP_REASON_LINES] or lines[-_PIP_REASON_LINES:] or ["no reason given"]
    text = "; ".join(chosen)
    return text if len(text) <= _PIP_REASON_CHARS else text[: _PIP_REASON_CHARS - 1] + "…"


def _pip_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    return {
        k: v for k, v in environ.items() if k in _PIP_ENV_NAMES or k.startswith(_PIP_ENV_PREFIXES)
    }
