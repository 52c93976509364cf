"""Loading valid manifests, duplicate names, and how files are named in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pawflow.errors import ManifestError
from pawflow.manifest import (
    CallTarget,
    Manifest,
    Project,
    Trigger,
    Var,
    WebhookSpec,
    load_manifest,
    load_project,
)

from ._support import BASE, PROGRAM, ProjectDir, where


def test_valid_manifest_becomes_the_model(project: ProjectDir) -> None:
    manifest = project.load()
    assert manifest == Manifest(
        version=1,
        project=Project(
            name="hello",
            vars=(Var("GREETING", "Hello"),),
            triggers=(
                Trigger("greet", CallTarget("program.py", "on_greet"), WebhookSpec(("POST",))),
            ),
        ),
    )
    assert manifest.source == "proj/pawflow.yaml"


def test_optional_sections_default_to_empty(project: ProjectDir) -> None:
    manifest = project.load("version: 1\nproject:\n  name: bare\n")
    assert manifest.project == Project("bare")


def test_webhook_methods_keep_their_order(project: ProjectDir) -> None:
    manifest = project.load(BASE.replace("webhook: {}", "webhook: {methods: [PUT, GET]}"))
    assert manifest.project.triggers[0].webhook == WebhookSpec(("PUT", "GET"))


def test_version_is_stored_as_an_integer(project: ProjectDir) -> None:
    manifest = project.load(BASE.replace("version: 1", "version: 1.0"))
    assert type(manifest.version) is int
    assert manifest.to_dict()["version"] == 1


def test_duplicate_trigger_name(project: ProjectDir) -> None:
    err = project.error(
        BASE + "    - name: greet\n      webhook: {}\n      call: program.py:on_greet\n"
    )
    assert where(err) == ("proj/pawflow.yaml", 11, "project.triggers[1].name")
    assert err.message == "duplicate trigger name 'greet' (first used on line 8)"


def test_duplicate_var_name(project: ProjectDir) -> None:
    text = BASE.replace("  triggers:", "    - name: GREETING\n      value: again\n  triggers:")
    err = project.error(text)
    assert where(err) == ("proj/pawflow.yaml", 7, "project.vars[1].name")
    assert err.message == "duplicate variable name 'GREETING' (first used on line 5)"


def test_var_names_are_case_sensitive(project: ProjectDir) -> None:
    text = BASE.replace("  triggers:", "    - name: greeting\n      value: hi\n  triggers:")
    assert [v.name for v in project.load(text).project.vars] == ["GREETING", "greeting"]


# -- how files are named ---------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory holding projects/hello, so paths can be relative."""
    ProjectDir(tmp_path / "projects" / "hello").write("program.py", PROGRAM)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_manifest(directory: Path, text: str) -> None:
    ProjectDir(directory).write("pawflow.yaml", text)


def test_errors_name_the_directory_as_given(workdir: Path) -> None:
    _write_manifest(workdir / "projects/hello", BASE.replace("name: hello", "name: Hello"))
    with pytest.raises(ManifestError) as info:
        load_project(Path("projects/hello/"))
    assert str(info.value).startswith("projects/hello/pawflow.yaml:3: project.name: ")


def test_current_directory_is_not_shown(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_manifest(workdir / "projects/hello", BASE)
    monkeypatch.chdir(workdir / "projects/hello")
    assert load_project(Path(".")).source == "pawflow.yaml"
    assert load_manifest(Path("pawflow.yaml")).source == "pawflow.yaml"


def test_source_is_the_displayed_name(workdir: Path) -> None:
    _write_manifest(workdir / "projects/hello", BASE)
    assert load_project(Path("projects/hello")).source == "projects/hello/pawflow.yaml"
    assert load_project(Path("projects/hello"), display="").source == "pawflow.yaml"
    assert load_project(Path("projects/hello"), display="up/").source == "up/pawflow.yaml"


def test_empty_display_for_uploaded_projects(workdir: Path) -> None:
    _write_manifest(workdir / "projects/hello", BASE.replace("version: 1", "version: 3"))
    with pytest.raises(ManifestError) as info:
        load_project(workdir / "projects/hello", display="")
    assert str(info.value) == "pawflow.yaml:1: version: must be 1, got 3"


def test_empty_display_names_user_files_relative_to_the_project(workdir: Path) -> None:
    _write_manifest(workdir / "projects/hello", BASE)
    ProjectDir(workdir / "projects/hello").write("program.py", "def on_greet(event:\n")
    with pytest.raises(ManifestError) as info:
        load_project(workdir / "projects/hello", display="")
    assert where(info.value) == ("program.py", 1, "project.triggers[0].call")


def test_missing_manifest_in_project(workdir: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_project(Path("projects/hello"))
    assert str(info.value) == "projects/hello/pawflow.yaml: file not found"


def test_missing_project_directory(workdir: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_project(Path("projects/nope"))
    assert str(info.value) == "projects/nope: no such project directory"
