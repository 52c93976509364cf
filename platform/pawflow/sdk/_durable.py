"""Durable waits and session-to-session calls: what a session does besides compute.

Waits (``sleep``, ``next_event``, ``next_signal``, ``result``) are answered by
the session's workflow: a session waiting a day holds no process. The others
act on the platform through its API and are recorded calls, so a replay does
not act twice.

What the server answers with an error is told as the call the user made
(``pawflow.subscribe('github') failed: ...``), never as the API request behind it.
"""

from __future__ import annotations

import json as _json
import urllib.parse
from collections.abc import Iterable
from typing import Any

from ..errors import NotFoundError, PawflowError, ServerError, SessionFailed
from ._activity import activity
from ._event import Event
from ._scope import Scope, require_scope
from ._told import shown, told_as

__all__ = [
    "http_outcome",
    "next_event",
    "next_signal",
    "result",
    "session_id",
    "signal",
    "sleep",
    "start",
    "subscribe",
    "unsubscribe",
    "webhook_url",
]


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def session_id() -> str:
    """The id of the session running this code (e.g. to let a child signal back)."""
    return require_scope("pawflow.session_id").session_id or ""


def sleep(seconds: float) -> None:
    """Sleep durably (like ``time.sleep`` in a session, which does the same)."""
    require_scope("pawflow.sleep").wait("sleep", float(seconds), float(seconds))


@activity
def subscribe(source: str, filter: str | None = None) -> str:
    """Start receiving the events of a trigger or connection named ``source``
    (optionally only those matching the CEL ``filter``) in this session.

    Events that arrive before :func:`next_event` asks for them wait in the
    session; none is lost. Returns the subscription id.
    """
    scope = require_scope("pawflow.subscribe")
    more = "" if filter is None else f", filter={shown(filter)}"
    with told_as(f"pawflow.subscribe({shown(source)}{more})"):
        reply = scope.server.post_json(  # type: ignore[union-attr]
            f"/api/v1/sessions/{_quote(scope.session_id or '')}/subscriptions",
            # A retried call must not leave a second subscription behind.
            {"source": source, "filter": filter, "idempotency_key": scope.call_key},
        )
    subscription_id: str = reply["subscription_id"]
    return subscription_id


@activity
def unsubscribe(subscription: str) -> None:
    """Stop receiving events for ``subscription``."""
    scope = require_scope("pawflow.unsubscribe")
    with told_as(f"pawflow.unsubscribe({shown(subscription)})"):
        scope.server.request("DELETE", f"/api/v1/subscriptions/{_quote(subscription)}")  # type: ignore[union-attr]


def next_event(subscription: str | Iterable[str], timeout: float | None = None) -> Event | None:
    """The next event of ``subscription``, waiting up to ``timeout`` seconds
    (forever when None); None when the time ran out.

    ``subscription`` may also be several subscriptions (a list of ids): then
    the oldest event of any of them comes back, and its ``subscription``
    attribute says which one it came through. Events of the others stay
    queued for a later ``next_event``; none is lost.
    """
    scope = require_scope("pawflow.next_event")
    raw = scope.wait("next_event", _subscriptions(subscription), timeout)
    if raw is None:
        return None
    if raw.get("data_by_ref"):
        # Too big to travel in a signal; events never change, so replays agree.
        with told_as(f"pawflow.next_event reading event {raw['id']}"):
            stored = scope.server.get_json(f"/api/v1/events/{_quote(raw['id'])}")  # type: ignore[union-attr]
        raw = {**raw, "data": stored["data"]}
    return Event.from_dict(raw)


# What one wait may name: a session holds at most 100 live subscriptions, and
# ids (of subscriptions, sessions) are short. The worker refuses more.
MAX_WAIT_SOURCES = 100
MAX_ID_LENGTH = 200


def _subscriptions(given: str | Iterable[str]) -> str | list[str]:
    """What a next_event request waits on: one id, or the ids in the order given."""
    if isinstance(given, str):
        return _subscription_id(given)
    try:
        ids = list(dict.fromkeys(given))
    except TypeError:
        raise PawflowError(
            f"pawflow.next_event takes a subscription id or a list of them, not {shown(given)}"
        ) from None
    if not ids:
        raise PawflowError("pawflow.next_event needs at least one subscription to wait on")
    wrong = next((i for i in ids if not isinstance(i, str)), None)
    if wrong is not None:
        raise PawflowError(
            f"pawflow.next_event: {shown(wrong)} is not a subscription id "
            "(pawflow.subscribe returns them)"
        )
    if len(ids) > MAX_WAIT_SOURCES:
        raise PawflowError(
            f"pawflow.next_event waits on at most {MAX_WAIT_SOURCES} subscriptions at once"
        )
    return [_subscription_id(i) for i in ids]


def _subscription_id(given: str) -> str:
    if len(given) > MAX_ID_LENGTH:
        raise PawflowError(
            f"pawflow.next_event: {shown(given)} is not a subscription id "
            "(pawflow.subscribe returns them)"
        )
    return given


@activity
def start(call: str, data: Any = None) -> str:
    """Start a child session running ``call`` ("file.py:function") of this
    project with an event whose data is ``data``; returns its session id."""
    scope = require_scope("pawflow.start")
    with told_as(f"pawflow.start({shown(call)}{'' if data is None else ', ...'})"):
        reply = scope.server.post_json(  # type: ignore[union-attr]
            "/api/v1/sessions",
            {
                "project": scope.project,
                "call": call,
                "data": data if data is not None else {},
                "parent_session_id": scope.session_id,
                # A retried call must not start a second child.
                "idempotency_key": scope.call_key,
            },
        )
    session_id: str = reply["session_id"]
    return session_id


def result(session_id: str, timeout: float | None = None) -> Any:
    """Wait for the child session ``session_id`` to end and return its result.

    Raises :class:`pawflow.errors.SessionFailed` if it ended in error or was
    stopped, and :class:`TimeoutError` if ``timeout`` seconds passed first.
    """
    scope = require_scope("pawflow.result")
    _check_child(scope, session_id)
    done = scope.wait("result", session_id, timeout)
    if done is None:
        raise TimeoutError(f"session {session_id} did not end within {timeout} s")
    if done["state"] != "completed":
        raise SessionFailed(f"session {session_id} ended {done['state']}: {done.get('error')}")
    return done.get("result")


def _check_child(scope: Scope, session_id: str) -> None:
    """Refuse to wait for a session whose end this one will never hear of.

    Read directly, not recorded: a session's parent never changes, so a replay
    reads the same answer. When the server cannot say now, the wait goes ahead.
    """
    try:
        info = scope.server.get_json(f"/api/v1/sessions/{_quote(session_id)}")  # type: ignore[union-attr]
    except ServerError as exc:
        if exc.status == 404:
            raise NotFoundError(f"pawflow.result: there is no session {session_id!r}") from None
        return
    if info.get("parent_session_id") != scope.session_id:
        raise PawflowError(
            f"pawflow.result waits for this session's own children (started with "
            f"pawflow.start); {session_id} is not one of them"
        )


@activity
def signal(session_id: str, name: str, payload: Any = None) -> None:
    """Send the signal ``name`` with JSON ``payload`` to the session ``session_id``."""
    scope = require_scope("pawflow.signal")
    more = "" if payload is None else ", ..."
    with told_as(f"pawflow.signal({shown(session_id)}, {shown(name)}{more})"):
        scope.server.post_json(  # type: ignore[union-attr]
            f"/api/v1/sessions/{_quote(session_id)}/signals",
            {"name": name, "payload": payload, "sender": scope.session_id},
        )


def next_signal(
    names: str | Iterable[str] | None = None, timeout: float | None = None
) -> dict[str, Any] | None:
    """The next signal sent to this session (only those named in ``names``, if
    given) as ``{"name", "payload", "sender"}``; None when ``timeout`` ran out."""
    wanted = [names] if isinstance(names, str) else sorted(names or ())
    got: dict[str, Any] | None = require_scope("pawflow.next_signal").wait(
        "next_signal", wanted, timeout
    )
    return got


@activity
def http_outcome(
    status: int = 200,
    *,
    json: Any = None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer the HTTP request that started this session (``webhook: {sync: true}``)."""
    if json is not None and body is not None:
        raise PawflowError("http_outcome takes json= or body=, not both")
    payload: dict[str, Any] = {"status": status, "headers": headers or {}}
    if body is not None:
        payload["body"] = body
    else:
        _json.dumps(json)  # fail here, in the session, if it is not JSON
        payload["json"] = json
    scope = require_scope("pawflow.http_outcome")
    with told_as(f"pawflow.http_outcome({status!r}, ...)"):
        scope.server.post_json(  # type: ignore[union-attr]
            f"/api/v1/sessions/{_quote(scope.session_id or '')}/http_outcome", payload
        )


@activity
def webhook_url(trigger: str) -> str:
    """The full public URL of the webhook trigger named ``trigger`` of this
    session's project, e.g. to send someone a callback link.

    Raises :class:`pawflow.PawflowError` naming the trigger when the project
    has no such trigger or it is not a webhook trigger.
    """
    scope = require_scope("pawflow.webhook_url")
    call = f"pawflow.webhook_url({shown(trigger)})"
    if not isinstance(trigger, str) or not trigger:
        raise PawflowError(f"{call}: the trigger's name must be a non-empty string")
    path = f"/api/v1/sessions/{_quote(scope.session_id or '')}/webhooks/{_quote(trigger)}"
    with told_as(call):
        try:
            reply = scope.server.get_json(path)  # type: ignore[union-attr]
        except ServerError as err:
            # The user's mistake, told as such; anything else is the server's failure.
            if err.status == 404:
                raise NotFoundError(f"{call}: {err}") from None
            if err.status == 400:
                raise PawflowError(f"{call}: {err}") from None
            raise
    url: str = reply["url"]
    return url
