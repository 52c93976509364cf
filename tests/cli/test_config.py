"""The effective configuration: precedence, checks, Temporal credentials, ``paw config show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from pawflow.config import is_wildcard, reachable_host, resolve_config
from pawflow.errors import ConfigError
from tests.helpers import free_port, paw_env, run_paw

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def pem(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(PEM.replace(b"MIIB", name.encode()))
    return str(path)


def test_a_flag_beats_the_environment_which_beats_the_data_dir_and_defaults(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("from-file\n")
    env = {"PAWFLOW_HOME": str(tmp_path), "PAWFLOW_TEMPORAL_ADDRESS": "env-host:7233"}
    effective = resolve_config({"temporal": "flag-host:7233"}, "server", env)
    assert effective.temporal_address == "flag-host:7233"
    assert effective.setting("temporal_address").source == "flag --temporal"
    assert resolve_config({}, "server", env).temporal_address == "env-host:7233"
    assert effective.setting("token").value == "from-file"
    assert effective.setting("token").source == f"file {tmp_path / 'token'}"
    with_env = resolve_config({}, "server", {**env, "PAWFLOW_TOKEN": "from-env"})
    assert with_env.setting("token").value == "from-env"
    assert (effective.namespace, effective.setting("temporal_namespace").source) == (
        "default",
        "default",
    )


def test_roles_default_the_temporal_address_differently(tmp_path: Path) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path)}
    assert resolve_config({}, "server", env).temporal_address == "127.0.0.1:7233"
    assert resolve_config({}, "up", env).temporal_address is None  # embedded
    assert resolve_config({}, "worker", env).temporal_address is None  # asks the server


def test_tls_files_become_the_connect_arguments(tmp_path: Path) -> None:
    env = {
        "PAWFLOW_HOME": str(tmp_path),
        "PAWFLOW_TEMPORAL_TLS_CA": pem(tmp_path, "ca"),
        "PAWFLOW_TEMPORAL_TLS_CERT": pem(tmp_path, "cert"),
        "PAWFLOW_TEMPORAL_TLS_KEY": pem(tmp_path, "key"),
    }
    access = resolve_config({}, "server", env).temporal_access
    kwargs = access.connect_kwargs()
    assert set(kwargs) == {"tls"}
    tls = kwargs["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == (tmp_path / "ca").read_bytes()
    assert tls.client_cert == (tmp_path / "cert").read_bytes()
    assert tls.client_private_key == (tmp_path / "key").read_bytes()
    assert access.kind == "mTLS"
    assert "key" not in repr(access).replace("TemporalAccess", "")  # no key material shown


def test_an_api_key_means_tls_with_the_key(tmp_path: Path) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path), "PAWFLOW_TEMPORAL_API_KEY": "cloud-key-123"}
    access = resolve_config({}, "worker", env).temporal_access
    assert access.connect_kwargs() == {"tls": True, "api_key": "cloud-key-123"}
    # With a private CA the key still goes along, over TLS with that CA.
    with_ca = resolve_config(
        {}, "worker", {**env, "PAWFLOW_TEMPORAL_TLS_CA": pem(tmp_path, "ca")}
    ).temporal_access.connect_kwargs()
    assert with_ca["api_key"] == "cloud-key-123"
    assert with_ca["tls"].server_root_ca_cert == (tmp_path / "ca").read_bytes()


def test_no_credentials_connect_in_plaintext(tmp_path: Path) -> None:
    access = resolve_config({}, "server", {"PAWFLOW_HOME": str(tmp_path)}).temporal_access
    assert access.connect_kwargs() == {}
    assert access.kind == "plaintext"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "PAWFLOW_TEMPORAL_TLS_CERT": "/nonexistent/client.pem",
                "PAWFLOW_TEMPORAL_TLS_KEY": "x",
            },
            "PAWFLOW_TEMPORAL_TLS_CERT: the client certificate file /nonexistent/client.pem "
            "does not exist",
        ),
        (
            {"PAWFLOW_TEMPORAL_TLS_CERT": "/nonexistent/client.pem"},
            "PAWFLOW_TEMPORAL_TLS_CERT is set but the client key is not",
        ),
        (
            {
                "PAWFLOW_TEMPORAL_TLS_KEY": "/k",
                "PAWFLOW_TEMPORAL_TLS_CERT": "/c",
                "PAWFLOW_TEMPORAL_API_KEY": "k",
            },
            "both an API key (PAWFLOW_TEMPORAL_API_KEY) and a client certificate",
        ),
        ({"PAWFLOW_TEMPORAL_ADDRESS": "temporal"}, "PAWFLOW_TEMPORAL_ADDRESS must be HOST:PORT"),
        ({"PAWFLOW_PUBLIC_URL": "hooks.example.com"}, "PAWFLOW_PUBLIC_URL must be an http://"),
        ({"PAWFLOW_MAX_BODY_MB": "lots"}, "PAWFLOW_MAX_BODY_MB must be megabytes, not 'lots'"),
        ({"PAWFLOW_TEMPORAL_NAMESPACE": " "}, None),  # blank = unset: the default
    ],
)
def test_bad_values_are_one_line_errors_naming_their_source(
    tmp_path: Path, env: dict[str, str], message: str | None
) -> None:
    full = {"PAWFLOW_HOME": str(tmp_path), **env}
    if message is None:
        assert resolve_config({}, "server", full).namespace == "default"
        return
    with pytest.raises(ConfigError) as caught:
        resolve_config({}, "server", full)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_database_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path), "PAWFLOW_DATABASE_URL": "mysql://u:s3cr3t-pw@db/x"}
    with pytest.raises(ConfigError) as caught:
        resolve_config({}, "server", env)
    assert "PAWFLOW_DATABASE_URL must be a postgresql://" in str(caught.value)
    assert "s3cr3t-pw" not in str(caught.value)


def test_a_missing_cert_file_stops_paw_server_with_one_line(tmp_path: Path) -> None:
    env = paw_env(
        PAWFLOW_HOME=str(tmp_path),
        PAWFLOW_TEMPORAL_TLS_CERT=str(tmp_path / "missing.pem"),
        PAWFLOW_TEMPORAL_TLS_KEY=pem(tmp_path, "key"),
    )
    result = run_paw("server", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: PAWFLOW_TEMPORAL_TLS_CERT: the client certificate file "
        f"{tmp_path / 'missing.pem'} does not exist"
    ]


def test_config_show_names_sources_and_never_prints_a_secret(tmp_path: Path) -> None:
    secrets = {
        "PAWFLOW_TOKEN": "admin-secret-AAAA",
        "PAWFLOW_WORKER_TOKEN": "worker-secret-BBBB",
        "PAWFLOW_SECRET_KEY": "fernet-secret-CCCC",
        "PAWFLOW_TEMPORAL_API_KEY": "api-secret-DDDD",
    }
    password = "db-password-EEEE"
    env = paw_env(
        PAWFLOW_HOME=str(tmp_path),
        PAWFLOW_DATABASE_URL=f"postgresql://pawflow:{password}@db.internal:5432/pawflow",
        PAWFLOW_TEMPORAL_ADDRESS="temporal.internal:7233",
        PAWFLOW_PUBLIC_URL="https://hooks.example.com/",
        **secrets,
    )
    table = run_paw("config", "show", env=env)
    shown = run_paw("config", "show", "--json", env=env)
    assert table.returncode == 0 and shown.returncode == 0, table.stderr + shown.stderr
    for text in (table.stdout, shown.stdout, table.stderr, shown.stderr):
        for secret in [*secrets.values(), password]:
            assert secret not in text
    settings = json.loads(shown.stdout)
    assert settings["token"] == {"value": "***", "source": "env PAWFLOW_TOKEN"}
    assert settings["temporal_api_key"]["value"] == "***"
    assert settings["database_url"]["value"] == (
        "postgresql://pawflow:***@db.internal:5432/pawflow"
    )
    assert settings["temporal_address"] == {
        "value": "temporal.internal:7233",
        "source": "env PAWFLOW_TEMPORAL_ADDRESS",
    }
    assert settings["public_url"]["value"] == "https://hooks.example.com/"
    assert settings["port"] == {"value": "9980", "source": "default"}
    assert "temporal.internal:7233" in table.stdout
    assert "env PAWFLOW_TEMPORAL_ADDRESS" in table.stdout


def test_config_show_reads_tokens_from_the_data_dir_without_printing_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("file-secret-FFFF\n")
    result = run_paw("config", "show", "--json", env=paw_env(PAWFLOW_HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "file-secret-FFFF" not in result.stdout
    settings = json.loads(result.stdout)
    assert settings["token"] == {"value": "***", "source": f"file {tmp_path / 'token'}"}
    assert settings["worker_token"]["source"].startswith("unset")
    assert not (tmp_path / "worker-token").exists()  # showing creates nothing


def test_a_wildcard_host_maps_to_an_address_one_can_send_to() -> None:
    assert is_wildcard("0.0.0.0") and is_wildcard("::") and not is_wildcard("127.0.0.1")
    address = reachable_host("0.0.0.0")
    assert not is_wildcard(address)
    assert reachable_host("10.1.2.3") == "10.1.2.3"
