"""``paw init``: every template makes a project the manifest pipeline accepts;
refusals are one line and write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pawflow.cli import main
from pawflow.manifest import load_project
from tests.helpers import run_paw

TEMPLATES = ("hello", "webhook-json", "schedule", "github")


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (directories as empty markers)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_makes_a_valid_project(
    template: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / f"My {template}"
    assert main(["init", str(directory), "--template", template]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in directory.iterdir()) == [
        "README.md",
        "pawflow.yaml",
        "program.py",
    ]
    # The whole manifest pipeline, call targets included (parsed with ast).
    manifest = load_project(directory)
    expected = f"my-{template}"
    assert manifest.project.name == expected
    assert main(["manifest", "validate", str(directory / "pawflow.yaml")]) == 0
    assert capsys.readouterr().out.endswith(": ok\n")
    # Every module of the project is Python that compiles, and the README names the project.
    compile((directory / "program.py").read_text(), "program.py", "exec")
    assert f"# {expected}\n" in (directory / "README.md").read_text()
    assert "__PROJECT__" not in "".join(p.read_text() for p in directory.iterdir())
    # What it made and what to run next.
    assert f"Created project {expected} in {directory} (template {template})" in out
    for name in ("pawflow.yaml", "program.py", "README.md"):
        assert str(directory / name) in out
    assert f"paw dev '{directory}'" in out
    assert f"paw deploy '{directory}'" in out


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_templates_program_passes_the_linter(template: str, tmp_path: Path) -> None:
    # A user's first file should not greet them with warnings (unused imports, ...).
    assert main(["init", str(tmp_path / "p"), "--template", template]) == 0
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "E,F,W,I",
         "--line-length", "100", str(tmp_path / "p" / "program.py")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_default_template_is_hello_with_a_curl_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "greeter")]) == 0
    out = capsys.readouterr().out
    manifest = load_project(tmp_path / "greeter")
    assert manifest.project.name == "greeter"
    (trigger,) = manifest.project.triggers
    assert trigger.webhook is not None and str(trigger.call) == "program.py:on_greet"
    assert "(template hello)" in out
    assert "curl -X POST <webhook url>" in out


def test_webhook_json_is_a_sync_webhook_with_its_url_as_a_var(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "orders"), "--template", "webhook-json"]) == 0
    project = load_project(tmp_path / "orders").project
    (trigger,) = project.triggers
    assert trigger.webhook is not None and trigger.webhook.sync
    assert [v.name for v in project.vars] == ["API_URL"]
    assert "@pawflow.activity" in (tmp_path / "orders" / "program.py").read_text()


def test_github_template_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "gh-bot"), "--template", "github"]) == 0
    out = capsys.readouterr().out
    project = load_project(tmp_path / "gh-bot").project
    (connection,) = project.connections
    assert connection.integration == "github"
    (trigger,) = project.triggers
    assert trigger.connection == connection.name and trigger.event_type == "issues"
    readme = (tmp_path / "gh-bot" / "README.md").read_text()
    for secret in ("token", "webhook_secret"):
        assert f"paw var set --project gh-bot --connection gh {secret}" in readme
    assert "README.md" in out


def test_schedule_template_says_how_to_run_it_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "nightly"), "--template", "schedule"]) == 0
    out = capsys.readouterr().out
    (trigger,) = load_project(tmp_path / "nightly").project.triggers
    assert trigger.schedule is not None
    assert "paw session start --project nightly --call program.py:on_tick" in out


@pytest.mark.parametrize(
    ("base", "name"),
    [
        ("My Project.v2", "my-project-v2"),
        ("42_answers", "answers"),
        ("Über_Tool--", "uber_tool"),
        ("snake_case", "snake_case"),
    ],
)
def test_the_name_is_dirs_base_name_made_valid(
    base: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / base)]) == 0
    assert load_project(tmp_path / base).project.name == name


def test_name_flag_and_an_existing_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    assert main(["init", str(tmp_path / "here"), "--name", "chosen"]) == 0
    assert load_project(tmp_path / "here").project.name == "chosen"


def test_parents_are_made(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "a" / "b" / "c")]) == 0
    assert load_project(tmp_path / "a" / "b" / "c").project.name == "c"


def _refused(*args: str) -> str:
    result = run_paw("init", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_non_empty_dir_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "program.py").write_text("print('mine too')\n")
    before = tree(tmp_path)
    line = _refused(str(target))
    assert f"{target} exists and is not empty" in line
    assert tree(tmp_path) == before


def test_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    before = tree(tmp_path)
    assert "is not a directory" in _refused(str(tmp_path / "file"))
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", ["Bad", "9lives", "has space", "-x", ""])
def test_an_invalid_name_is_refused_and_nothing_written(name: str, tmp_path: Path) -> None:
    line = _refused(str(tmp_path / "new"), f"--name={name}")
    assert f"invalid project name {name!r}" in line
    assert "lower-case letters" in line
    assert tree(tmp_path) == {}


def test_a_dir_name_with_nothing_to_keep_asks_for_a_name(tmp_path: Path) -> None:
    line = _refused(str(tmp_path / "2024"))
    assert "'2024'" in line and "--name" in line
    assert tree(tmp_path) == {}


def test_a_write_that_fails_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    before = tree(tmp_path)
    # Its parent is a file: making the directory fails after the checks passed.
    line = _refused(str(tmp_path / "plain" / "proj" / "deeper"))
    assert line.startswith("error: cannot write ")
    assert tree(tmp_path) == before


def test_an_unknown_template_is_a_usage_error(tmp_path: Path) -> None:
    result = run_paw("init", str(tmp_path / "x"), "--template", "nope")
    assert result.returncode == 2
    assert "invalid choice: 'nope'" in result.stderr
    assert tree(tmp_path) == {}
