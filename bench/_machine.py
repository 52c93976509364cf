"""Facts about the machine and the code a run measured."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from pawflow.up import find_temporal_binary

__all__ = ["git_short_sha", "load_average", "machine_facts"]

_REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            # Read-only: without this, git status may refresh (and lock) the index.
            ["git", "--no-optional-locks", *args],
            cwd=_REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_short_sha() -> str:
    """The short commit hash of the checkout, ``nogit`` outside a repository."""
    return _git("rev-parse", "--short", "HEAD") or "nogit"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (the machine may be shared)."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / (1024 * 1024), 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _temporal_cli() -> str | None:
    try:
        done = subprocess.run(
            [str(find_temporal_binary()), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def machine_facts(*, quick: bool) -> dict[str, Any]:
    """Cores, memory, CPU, OS, Python, temporalio, temporal CLI, git commit, mode."""
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "cpu_model": _cpu_model(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "temporalio": _version("temporalio"),
        "aiohttp": _version("aiohttp"),
        "temporal_cli": _temporal_cli(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "mode": "quick" if quick else "full",
        "load_average_at_start": load_average(),
    }
