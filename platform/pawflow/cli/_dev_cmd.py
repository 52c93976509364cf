"""``paw dev [DIR]``: deploy on every save and stream the sessions it starts.

One loop in the main thread: watch the directory (``watchfiles``), redeploy
what changed, say so in one line. A save that does not deploy (a manifest or
code error, a refusal by the server) is one error line; the deployment that
was active stays active. Session logs are printed by other threads
(``_dev_sessions``); Ctrl-C ends them all and exits 0, as stopping is the
normal way out of ``paw dev``: nothing is undeployed.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from .. import config
from ..errors import ConfigError, PawflowError, ServerError
from ._archive import SKIPPED_DIRS
from ._commands import Deployed, deploy_project, endpoint_lines
from ._dev_console import Console
from ._dev_sessions import SessionFollower, StoppableClient

__all__ = ["add_dev_command", "cmd_dev"]

# watchfiles groups the changes of one save: it yields once nothing changed for
# _STEP_MS (an editor's save is a few writes and renames), or after _DEBOUNCE_MS.
_DEBOUNCE_MS = 1600
_STEP_MS = 100
# How often the watcher comes back empty-handed: the first time tells it is watching.
_WAKE_MS = 200
# Files editors write beside the one being edited (vim's swap files and its
# write test "4913", emacs's backups and autosaves, JetBrains' and Kate's).
_EDITOR_FILES = ("*.sw?", "*~", "#*#", "4913", "*___jb_tmp___", "*___jb_old___", "*.kate-swp")


def add_dev_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw dev``."""
    dev = leaf(
        commands,
        "dev",
        cmd_dev,
        "deploy a project, redeploy it on every save and print the logs of the sessions "
        "it starts; Ctrl-C stops (exit 0) and leaves the last deployment active",
    )
    dev.add_argument(
        "dir", nargs="?", default=".", metavar="DIR", help="the project directory (default: .)"
    )


def cmd_dev(args: argparse.Namespace) -> int:
    """``paw dev [DIR]``: until Ctrl-C, deploy every saved change of DIR and
    print the log of every session the project starts, prefixed with its id."""
    directory = Path(args.dir)
    if not directory.is_dir():
        raise ConfigError(f"{args.dir}: no such project directory")
    client = StoppableClient(config.resolve_server(args.server), config.find_token(args.data_dir))
    console = Console(sys.stdout, sys.stderr)
    follower = SessionFollower(client, console)
    loop = _Redeployer(client, follower, console, directory, args.dir)
    stop = threading.Event()
    changes = _watch(directory.resolve(), stop)
    try:
        next(changes)  # the watcher is set up: no save after this line is missed
        loop.deploy(None)
        follower.start()
        console.say(f"watching {args.dir}: a save redeploys; Ctrl-C stops")
        for changed in changes:
            if console.closed:
                raise BrokenPipeError  # paw's exit for output nobody reads
            if changed:
                loop.deploy(changed)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        changes.close()
        follower.stop()
    if loop.active is None:
        console.say("stopped; nothing was deployed")
    else:
        console.say(f"stopped; {loop.active} stays active")
    return 0


class _Redeployer:
    """Deploys the directory and tells how it went, one line each time."""

    def __init__(
        self,
        client: StoppableClient,
        follower: SessionFollower,
        console: Console,
        directory: Path,
        shown_as: str,
    ) -> None:
        self._client = client
        self._follower = follower
        self._console = console
        self._directory = directory
        self._shown_as = shown_as
        self._endpoints: list[str] | None = None
        self.active: str | None = None  # the last deployment made here

    def deploy(self, changed: set[str] | None) -> None:
        """Deploy now; ``changed`` names the files saved (None at the start)."""
        from ..manifest import load_project

        try:
            # The sessions the project has now are not the new deployment's:
            # looked up before it exists, so none of its own is missed.
            self._follower.baseline(load_project(self._directory).project.name)
            deployed = deploy_project(lambda: self._client, self._directory, self._shown_as)
        except ServerError as err:
            if self.active is None and err.status in (None, 401):
                raise  # no server to develop against (or not with this token)
            self._failed(err)
            return
        except PawflowError as err:
            self._failed(err)
            return
        self.active = deployed.deployment_id
        self._report(deployed, changed)

    def _failed(self, err: PawflowError) -> None:
        kept = f" ({self.active} stays active)" if self.active else ""
        self._console.error(f"{err}{kept}")

    def _report(self, deployed: Deployed, changed: set[str] | None) -> None:
        if changed is None:
            what = f"project {deployed.project}"
        else:
            what = f"{len(changed)} file{'' if len(changed) == 1 else 's'} changed"
        self._console.say(f"deployed {deployed.deployment_id} ({what})")
        endpoints = endpoint_lines(deployed)
        if endpoints != self._endpoints:  # at the start, and when a trigger comes or goes
            self._console.lines(endpoints)
            self._endpoints = endpoints


def _watch(directory: Path, stop: threading.Event) -> Generator[set[str], None, None]:
    """The files saved in ``directory``, a set per save; an empty set every
    ``_WAKE_MS`` when nothing changed (the first one: it is watching)."""
    import watchfiles

    def wanted(change: watchfiles.Change, path: str) -> bool:
        return _is_project_file(directory, path)

    for changes in watchfiles.watch(
        directory,
        watch_filter=wanted,
        debounce=_DEBOUNCE_MS,
        step=_STEP_MS,
        rust_timeout=_WAKE_MS,
        yield_on_timeout=True,
        stop_event=stop,
    ):
        yield {os.path.normpath(path) for _, path in changes}


def _is_project_file(directory: Path, path: str) -> bool:
    """Whether a change to ``path`` is worth a deploy: not in a dotted or
    skipped directory, not a dotfile, bytecode or an editor's swap file."""
    try:
        parts = Path(os.path.normpath(path)).relative_to(directory).parts
    except ValueError:
        return False
    if not parts:
        return False
    if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts):
        return False
    name = parts[-1]
    return not name.endswith((".pyc", ".pyo")) and not any(
        fnmatch.fnmatchcase(name, pattern) for pattern in _EDITOR_FILES
    )
