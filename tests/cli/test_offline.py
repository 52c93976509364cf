"""Commands that need no server, and every client command when there is no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from pawflow.cli import main
from tests.helpers import free_port, paw_env, run_paw

MANIFEST = """\
version: 1
project:
  name: offline
  triggers:
    - name: greet
      call: program.py:on_greet
      webhook: {}
"""


def write_project(directory: Path, manifest: str = MANIFEST) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pawflow.yaml").write_text(manifest)
    (directory / "program.py").write_text("def on_greet(event):\n    print('hi')\n")
    return directory


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Pawflow settings from the environment; a fresh data dir."""
    for name in ("PAWFLOW_TOKEN", "PAWFLOW_SERVER", "PAWFLOW_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAWFLOW_HOME", str(tmp_path / "home"))
    return tmp_path


def test_validate_ok(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = write_project(isolated / "p")
    assert main(["manifest", "validate", str(project / "pawflow.yaml")]) == 0
    assert capsys.readouterr().out == f"{project / 'pawflow.yaml'}: ok\n"


def test_validate_bad_is_one_line_without_traceback(isolated: Path) -> None:
    project = write_project(isolated / "p", MANIFEST.replace("on_greet", "missing"))
    result = run_paw("manifest", "validate", str(project / "pawflow.yaml"))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "pawflow.yaml:6" in lines[0]
    assert "missing" in lines[0]
    assert "Traceback" not in result.stderr


def test_validate_missing_file(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "validate", str(isolated / "nope.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_deploy_bad_project_sends_nothing(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on the port: had the command tried to upload, it would
    # report the server as unreachable instead of the manifest problem.
    project = write_project(isolated / "p", MANIFEST.replace("version: 1", "version: 2"))
    server = f"http://127.0.0.1:{free_port()}"
    code = main(["deploy", str(project), "--server", server])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and "pawflow.yaml:1" in err and "version" in err
    assert "cannot reach" not in err


def test_deploy_missing_directory(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", str(isolated / "absent")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["project", "list"],
        ["deployment", "list", "--project", "p"],
        ["event", "list", "--json"],
        ["session", "list", "--state", "running"],
        ["session", "log", "ses_x"],
        ["session", "watch", "ses_x", "--timeout", "5"],
        ["worker", "--wait-seconds", "0"],  # no waiting for a server to come
        ["deploy", "PROJECT"],
    ],
)
def test_no_server_is_a_friendly_error(
    argv: list[str],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PAWFLOW_TOKEN", "secret-token-value")
    monkeypatch.setenv("PAWFLOW_WORKER_TOKEN", "secret-token-value")  # paw worker's own
    argv = [str(write_project(isolated / "p")) if a == "PROJECT" else a for a in argv]
    server = f"http://127.0.0.1:{free_port()}"
    assert main([*argv, "--server", server]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: cannot reach the Pawflow server at {server} (is 'paw up' running?)\n"
    )
    assert "secret-token-value" not in captured.out + captured.err


def test_default_server_address_in_the_message(isolated: Path) -> None:
    # PAWFLOW_SERVER names where to look; the message shows it.
    server = f"http://127.0.0.1:{free_port()}"
    result = run_paw("session", "list", env=paw_env(PAWFLOW_TOKEN="t", PAWFLOW_SERVER=server))
    assert result.returncode == 1
    assert (
        result.stderr
        == f"error: cannot reach the Pawflow server at {server} (is 'paw up' running?)\n"
    )


def test_missing_token_mentions_pawflow_token(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["project", "list", "--data-dir", str(isolated / "empty")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "PAWFLOW_TOKEN" in err and err.count("\n") == 1


def test_bad_server_url(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["project", "list", "--server", "ftp://x"]) == 1
    assert capsys.readouterr().err.startswith("error: server URL must start with http://")


def test_usage_error_exits_2_without_traceback() -> None:
    result = run_paw("session", "watch")
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_an_error_line_shows_terminal_escapes_escaped(isolated: Path) -> None:
    result = run_paw("manifest", "validate", str(isolated / "no\x1b[2Jfile.yaml"))
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "no\\x1b[2Jfile.yaml" in result.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-3", "99999"])
def test_a_bad_body_limit_is_a_one_line_error_and_starts_nothing(
    isolated: Path, value: str
) -> None:
    data_dir = isolated / "never"
    result = run_paw("up", "--data-dir", str(data_dir), env=paw_env(PAWFLOW_MAX_BODY_MB=value))
    assert result.returncode == 1
    assert result.stderr.startswith("error: PAWFLOW_MAX_BODY_MB") and result.stderr.count("\n") == 1
    assert not data_dir.exists()
