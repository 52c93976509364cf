"""``paw --version``, ``paw completion bash|zsh``, completion itself, and exit codes."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from tests.helpers import paw_env, run_paw


def test_version_is_the_installed_one() -> None:
    done = run_paw("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"paw {importlib.metadata.version('pawflow')}\n"


def test_completion_scripts() -> None:
    bash = run_paw("completion", "bash")
    assert bash.returncode == 0 and "complete " in bash.stdout and " paw" in bash.stdout
    zsh = run_paw("completion", "zsh")
    assert zsh.returncode == 0 and zsh.stdout.startswith("#compdef paw")
    fish = run_paw("completion", "fish")
    assert fish.returncode == 2 and "invalid choice: 'fish'" in fish.stderr


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell script would offer for ``line``: it runs paw with these variables."""
    answer = tmp_path / "candidates"
    env = paw_env(
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(answer),
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
    )
    done = run_paw(env=env)
    assert done.returncode == 0, done.stderr
    return [word.strip() for word in answer.read_text().split("\n")]


def test_completion_offers_commands_and_flags(tmp_path: Path) -> None:
    assert "session" in complete("paw sess", tmp_path)
    assert "list" in complete("paw session li", tmp_path)
    assert {"--limit", "--before"} <= set(complete("paw session list --", tmp_path))


def test_exit_codes() -> None:
    usage = run_paw("session", "list", "--limit", "many")
    assert usage.returncode == 2 and "not a whole number: many" in usage.stderr
    # Nothing listens on port 9: a failure, one line.
    failed = run_paw(
        "session", "list", "--server", "http://127.0.0.1:9", env=paw_env(PAWFLOW_TOKEN="t")
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: cannot reach") and failed.stderr.count("\n") == 1
