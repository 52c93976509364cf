"""Discovery of integrations and the checks of connection vars."""

from __future__ import annotations

import pawflow_github
import pawflow_http
import pytest

from pawflow.errors import NotFoundError
from pawflow.integrations import Integration, IntegrationRegistry, InvalidVars, load_integration


def test_installed_integrations_are_discovered() -> None:
    registry = IntegrationRegistry.discover()
    assert registry.names() == ["github", "http", "slack"]
    assert registry.problems == ()
    assert registry.get("github") is pawflow_github.INTEGRATION
    assert load_integration("http") is pawflow_http.INTEGRATION
    with pytest.raises(NotFoundError, match=r"unknown integration 'jira' \(installed: github"):
        registry.get("jira")
    assert IntegrationRegistry.discover(group="pawflow.no-such-group").names() == []


def test_registries_are_explicit() -> None:
    registry = IntegrationRegistry([pawflow_http.INTEGRATION])
    assert "http" in registry and "github" not in registry
    with pytest.raises(ValueError, match="two integrations"):
        IntegrationRegistry([pawflow_http.INTEGRATION, pawflow_http.INTEGRATION])


def test_secret_vars_and_defaults() -> None:
    github = pawflow_github.INTEGRATION
    assert github.secret_vars == {"token", "webhook_secret"}
    assert github.defaults() == {"base_url": "https://api.github.com"}
    assert github.resolve({"token": "t"}) == {"base_url": "https://api.github.com", "token": "t"}


def test_var_checks_name_the_var() -> None:
    github = pawflow_github.INTEGRATION
    with pytest.raises(InvalidVars, match="needs the var 'token'") as missing:
        github.check_vars({})
    assert missing.value.var == "token"
    github.check_vars({}, complete=False)
    with pytest.raises(InvalidVars, match="no var 'tokne'"):
        github.check_vars({"tokne": "x"}, complete=False)
    with pytest.raises(InvalidVars, match=r"var 'base_url'.*ftp://x"):
        github.check_vars({"base_url": "ftp://x"}, complete=False)


def test_a_bad_secret_value_is_not_echoed() -> None:
    integration = Integration(
        name="strict",
        description="",
        vars_schema={
            "type": "object",
            "properties": {"key": {"type": "string", "pattern": "^k-", "x-secret": True}},
        },
        client=dict,
    )
    with pytest.raises(InvalidVars) as err:
        integration.check_vars({"key": "hunter2"})
    assert "hunter2" not in str(err.value) and "'key'" in str(err.value)
