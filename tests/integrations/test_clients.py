"""The integrations' clients and credential checks against local fakes."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pawflow_github
import pawflow_http
import pawflow_slack
import pytest

from pawflow.errors import PawflowError
from pawflow.integrations import ConnectionTestFailed
from tests.fakes.bank import FakeBank
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub().running() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack().running() as fake:
        yield fake


def test_github_client_labels_and_comments(github: FakeGitHub) -> None:
    gh = pawflow_github.INTEGRATION.client({"token": github.token, "base_url": github.url})
    assert repr(gh) == f"GitHubClient({github.url!r})"
    issue = gh.get_repo("acme/widgets").get_issue(3)
    issue.add_to_labels("triage")
    issue.create_comment("Thanks!")
    assert github.labels[("acme", "widgets", 3)] == ["triage"]
    assert github.comments[("acme", "widgets", 3)] == ["Thanks!"]
    assert github.count("POST", "/repos/acme/widgets/issues/3/labels") == 1


def test_github_credential_check(github: FakeGitHub) -> None:
    check = pawflow_github.INTEGRATION.test
    assert check is not None
    assert check({"token": github.token, "base_url": github.url}) == "authenticated as octocat"
    with pytest.raises(ConnectionTestFailed, match="refused the token"):
        check({"token": "wrong", "base_url": github.url})


def test_slack_client_posts_and_keeps_no_token_in_responses(slack: FakeSlack) -> None:
    client = pawflow_slack.INTEGRATION.client(
        {"bot_token": slack.token, "base_url": slack.url + "/api"}
    )
    assert "xoxb" not in repr(client)
    response = client.chat_postMessage(channel="C1", text="hello")
    assert response["ok"] and slack.messages == [{"channel": "C1", "text": "hello"}]
    # Responses are recorded in session history: the token must not travel with them.
    recorded = pickle.dumps(response)
    assert slack.token.encode() not in recorded
    assert pickle.loads(recorded)["ts"] == response["ts"]


def test_slack_credential_check(slack: FakeSlack) -> None:
    check = pawflow_slack.INTEGRATION.test
    assert check is not None
    good = {"bot_token": slack.token, "base_url": slack.api_url}
    assert check(good) == "authenticated as pawbot in Paw Team"
    with pytest.raises(ConnectionTestFailed, match="invalid_auth"):
        check({**good, "bot_token": "xoxb-wrong"})


def test_http_client_base_url_auth_header_and_redaction() -> None:
    bank = FakeBank()
    with bank.running():
        values = pawflow_http.INTEGRATION.resolve(
            {"base_url": bank.url + "/v1", "auth_header": "Bearer s3cr3t-value"}
        )
        client = pawflow_http.INTEGRATION.client(values)
        assert repr(client) == f"HttpClient({bank.url + '/v1/'!r})"
        response = client.post("deposit", json={"transaction_id": "t1"})
        assert response.json()["operation"] == "v1/deposit"
        assert bank.count("v1/deposit") == 1
        recorded = pickle.dumps(response)
        assert b"s3cr3t-value" not in recorded
        assert b"s3cr3t-value" not in pickle.dumps(client)


def test_http_credential_check_reports_unreachable() -> None:
    check = pawflow_http.INTEGRATION.test
    assert check is not None
    with pytest.raises(ConnectionTestFailed, match="cannot reach"):
        check(pawflow_http.INTEGRATION.resolve({"base_url": "http://127.0.0.1:9"}))


def test_client_getters_need_a_session() -> None:
    with pytest.raises(PawflowError, match="only available inside a Pawflow session"):
        pawflow_github.client("gh")
