"""A worker installs a deployment's requirements.txt itself when the server's
data dir is not its own; when it cannot, the session ends saying why."""

from __future__ import annotations

from pathlib import Path

from pawflow.sessions._envs import PackageEnvs
from pawflow.sessions._runner import RunnerSpec
from pawflow.sessions._runners import RunnerFactory
from pawflow.sessions._wire import Asked


def _spec(code: Path) -> RunnerSpec:
    return RunnerSpec(
        session_id="ses_packages",
        project="numbers",
        deployment_id="dep_packages",
        code_root=str(code),
        call="program.py:handler",
        event={},
        vars={},
        server_url="http://127.0.0.1:1",
        credential="unused",
    )


def test_a_requirement_the_worker_cannot_install_ends_the_session_with_pips_reason(
    tmp_path: Path,
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text("def handler(event):\n    print('never')\n")
    (code / "requirements.txt").write_text("pawflow-no-such-package-xyz\n")
    envs = tmp_path / "envs"
    runner = RunnerFactory(packages=PackageEnvs(envs)).spawn(_spec(code))
    try:
        message = runner.recv(60, "the runner did not answer")
    finally:
        runner.kill()
    assert isinstance(message, Asked)
    assert message.request.kind == "failed"
    assert message.request.message.startswith(
        "the project's requirements.txt could not be installed on this worker: "
        "requirements.txt: pip could not install the requirements: "
    )
    assert "pawflow-no-such-package-xyz" in message.request.message
    assert [p for p in envs.iterdir() if not p.name.startswith(".")] == []
