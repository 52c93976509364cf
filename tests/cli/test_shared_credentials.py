"""``paw server`` on a shared PostgreSQL database makes no credentials of its own,
and no server runs with a secret key other than the one secrets are sealed with."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pawflow.ids import new_id
from pawflow.secrets import SecretBox
from tests.helpers import free_port, http_json, paw_env, run_paw, wait_for

ADMIN = "admin-token-shared-by-the-servers"
WORKER = "worker-token-shared-by-the-servers"
MISMATCH = (
    "error: PAWFLOW_SECRET_KEY differs from the key this database's secrets are encrypted with"
)
MADE_FILES = ("token", "worker-token", "secret.key")
MANIFEST = (
    "version: 1\nproject:\n  name: shop\n  triggers:\n"
    "    - {name: order, webhook: {}, call: 'program.py:on_order'}\n"
)


class Server:
    """A ``paw server`` subprocess, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pawflow.cli", "server", "--port", str(self.port), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_for(self._up, 30, 0.05, f"paw server on {self.port}")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            output = self.log.read_text(errors="replace")
            raise AssertionError(f"exited with {self.proc.returncode}: {output[-2000:]}")
        try:
            return http_json(self.url + "/healthz")[0] == 200
        except OSError:
            return False

    def put_var(self, project: str, name: str, value: str) -> tuple[int, Any]:
        url = f"{self.url}/api/v1/projects/{project}/vars/{name}"
        return http_json(url, method="PUT", token=ADMIN, body={"value": value, "secret": True})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def server_env(
    data_dir: Path, temporal: str, database_url: str | None, **env: str
) -> dict[str, str]:
    return paw_env(
        PAWFLOW_HOME=str(data_dir),
        PAWFLOW_TEMPORAL_ADDRESS=temporal,
        PAWFLOW_DATABASE_URL=database_url,
        **env,
    )


def refused(env: dict[str, str]) -> list[str]:
    """``paw server``'s stderr lines, once it has refused to start (exit code 1)."""
    result = run_paw("server", "--port", str(free_port()), env=env, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()


def closed_temporal() -> str:
    # Nothing listens there: the server starts all the same, events stay pending.
    return f"127.0.0.1:{free_port()}"


def test_postgresql_without_credentials_refuses_to_start(postgres_url: str, tmp_path: Path) -> None:
    env = server_env(tmp_path, closed_temporal(), postgres_url)
    (line,) = refused(env)
    assert line.startswith(
        "error: PAWFLOW_TOKEN, PAWFLOW_WORKER_TOKEN and PAWFLOW_SECRET_KEY are not set: "
        "every server of a PostgreSQL database needs the same admin token, worker token "
        "and secret key"
    ), line
    assert "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'" in line
    for name in MADE_FILES:
        assert not (tmp_path / name).exists(), name

    # Tokens provisioned as files count; the missing key alone is named.
    (tmp_path / "token").write_text(ADMIN + "\n")
    env["PAWFLOW_WORKER_TOKEN"] = WORKER
    (line,) = refused(env)
    assert line.startswith("error: PAWFLOW_SECRET_KEY is not set: every server"), line
    key_maker = line.rsplit("make a key with ", 1)[1]
    made = subprocess.run(["sh", "-c", key_maker], capture_output=True, text=True, check=True)
    SecretBox(made.stdout.strip())  # the command it suggests makes a valid key
    assert not (tmp_path / "secret.key").exists()

    env["PAWFLOW_SECRET_KEY"] = "not-a-key"
    (line,) = refused(env)
    assert line.startswith("error: PAWFLOW_SECRET_KEY is not a valid secret key"), line
    assert "not-a-key" not in line


def test_servers_with_another_key_are_refused_once_a_secret_is_stored(
    postgres_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    first, second = SecretBox.generate_key(), SecretBox.generate_key()
    temporal = closed_temporal()
    shared = {"PAWFLOW_TOKEN": ADMIN, "PAWFLOW_WORKER_TOKEN": WORKER}
    one_env = server_env(
        tmp_path / "one", temporal, postgres_url, PAWFLOW_SECRET_KEY=first, **shared
    )
    two_env = server_env(
        tmp_path / "two", temporal, postgres_url, PAWFLOW_SECRET_KEY=second, **shared
    )
    one = Server(one_env, tmp_path / "one.log")
    servers.append(one)
    # No secret is stored yet: another key loses nothing and starts.
    two = Server(two_env, tmp_path / "two.log")
    servers.append(two)
    # The first secret written settles the key; the other server then writes none.
    status, body = one.put_var("shop", "API_KEY", "s3cret-value")
    assert status == 200, body
    status, body = two.put_var("shop", "OTHER_KEY", "other-value")
    assert status == 409, body
    assert body["error"].startswith(MISMATCH.removeprefix("error: "))
    two.stop()

    lines = refused(two_env)
    assert lines == [lines[0]] and lines[0].startswith(MISMATCH), lines
    for text in (lines[0], one.log.read_text(), two.log.read_text()):
        assert first not in text and second not in text
    # The right key still starts.
    servers.append(
        Server(
            server_env(
                tmp_path / "three", temporal, postgres_url, PAWFLOW_SECRET_KEY=first, **shared
            ),
            tmp_path / "three.log",
        )
    )


def deploy_and_start_a_session(server: Server, tmp_path: Path) -> str:
    """A session of a project named ``shop`` that no worker runs (so it stays live)."""
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pawflow.yaml").write_text(MANIFEST)
    (project / "program.py").write_text("def on_order(event):\n    pass\n")
    cli_env = paw_env(PAWFLOW_SERVER=server.url, PAWFLOW_TOKEN=ADMIN)
    deployed = run_paw("deploy", str(project), "--json", env=cli_env)
    assert deployed.returncode == 0, deployed.stderr
    hook = json.loads(deployed.stdout)["webhooks"]["order"]
    status, body = http_json(hook, method="POST", body={"n": 1})
    assert status == 202, body

    def session() -> str | None:
        url = f"{server.url}/api/v1/sessions?event={body['event_id']}"
        found = http_json(url, token=ADMIN)[1]["sessions"]
        return found[0]["id"] if found else None

    session_id: str = wait_for(session, 30, 0.05, "the session of the event")
    return session_id


def test_servers_with_the_same_key_read_each_others_secrets(
    postgres_url: str, temporal_address: str, tmp_path: Path, servers: list[Server]
) -> None:
    key = SecretBox.generate_key()
    queue = new_id("q")  # no worker polls it: the session stays live
    # One server is given the key in its environment, the other as a provisioned file.
    (tmp_path / "two").mkdir(mode=0o700)
    (tmp_path / "two" / "secret.key").write_text(key + "\n")
    shared = {"PAWFLOW_TOKEN": ADMIN, "PAWFLOW_WORKER_TOKEN": WORKER}
    one = Server(
        server_env(
            tmp_path / "one", temporal_address, postgres_url, PAWFLOW_SECRET_KEY=key, **shared
        ),
        tmp_path / "one.log",
        "--task-queue",
        queue,
    )
    servers.append(one)
    two = Server(
        server_env(tmp_path / "two", temporal_address, postgres_url, **shared),
        tmp_path / "two.log",
        "--task-queue",
        queue,
    )
    servers.append(two)
    assert one.put_var("shop", "FROM_ONE", "sealed-by-one")[0] == 200
    assert two.put_var("shop", "FROM_TWO", "sealed-by-two")[0] == 200
    session_id = deploy_and_start_a_session(one, tmp_path)
    for server in (one, two):
        status, body = http_json(f"{server.url}/api/v1/sessions/{session_id}/vars", token=WORKER)
        assert status == 200, body
        assert body["vars"] == {"FROM_ONE": "sealed-by-one", "FROM_TWO": "sealed-by-two"}
    # Neither server made credentials of its own.
    assert not any((tmp_path / "one" / name).exists() for name in MADE_FILES)
    assert not (tmp_path / "two" / "token").exists()


def test_sqlite_makes_its_files_and_refuses_a_changed_key_once_secrets_exist(
    tmp_path: Path, servers: list[Server]
) -> None:
    env = server_env(tmp_path, closed_temporal(), None)
    server = Server(env, tmp_path / "one.log")
    servers.append(server)
    token = (tmp_path / "token").read_text().strip()
    assert token and (tmp_path / "worker-token").read_text().strip()
    assert not (tmp_path / "secret.key").exists()  # made when first needed
    status, body = http_json(
        f"{server.url}/api/v1/projects/shop/vars/API_KEY",
        method="PUT",
        token=token,
        body={"value": "s3cret", "secret": True},
    )
    assert status == 200, body
    old_key = (tmp_path / "secret.key").read_text().strip()
    server.stop()

    new_key = SecretBox.generate_key()
    (tmp_path / "secret.key").write_text(new_key + "\n")
    lines = refused(env)
    assert lines == [lines[0]] and lines[0].startswith(MISMATCH), lines
    assert old_key not in lines[0] and new_key not in lines[0]
    (tmp_path / "secret.key").unlink()
    (line,) = refused(env)
    assert line.startswith("error: PAWFLOW_SECRET_KEY is not set and "), line
    assert not (tmp_path / "secret.key").exists()
    (tmp_path / "secret.key").write_text(old_key + "\n")
    servers.append(Server(env, tmp_path / "two.log"))


def test_sqlite_takes_a_new_key_while_no_secret_is_stored(
    tmp_path: Path, servers: list[Server]
) -> None:
    env = server_env(tmp_path, closed_temporal(), None, PAWFLOW_SECRET_KEY=SecretBox.generate_key())
    first = Server(env, tmp_path / "one.log")
    servers.append(first)
    first.stop()
    env["PAWFLOW_SECRET_KEY"] = SecretBox.generate_key()
    servers.append(Server(env, tmp_path / "two.log"))


def test_config_show_says_postgresql_servers_share_their_credentials(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    url = "postgresql://pawflow:pw-GGGG@db.internal:5432/pawflow"
    env = paw_env(PAWFLOW_HOME=str(tmp_path), PAWFLOW_DATABASE_URL=url, PAWFLOW_SECRET_KEY=key)
    table = run_paw("config", "show", env=env)
    assert table.returncode == 0, table.stderr
    assert key not in table.stdout and "pw-GGGG" not in table.stdout
    assert "every server of the database needs the same token, worker_token, secret_key" in (
        table.stdout
    )
    settings = json.loads(run_paw("config", "show", "--json", env=env).stdout)
    assert settings["secret_key"] == {"value": "***", "source": "env PAWFLOW_SECRET_KEY"}
    assert settings["token"]["source"] == (
        f"unset: required with PostgreSQL, the same on every server "
        f"(PAWFLOW_TOKEN or {tmp_path / 'token'})"
    )
    assert not any((tmp_path / name).exists() for name in MADE_FILES)
