"""pawflow.register_no_activity: what a session registers runs inline, nothing else does."""

from __future__ import annotations

import email.utils
import functools
import os
import urllib.request

import pytest

import pawflow
from pawflow.sdk._scope import Scope, ScopedGreenlet
from pawflow.sessions._calls import CallKind, classify

PREFIX = "pawflow_dep_x."


class Client:
    def fetch(self) -> int:
        return 1


def in_scope(scope: Scope, *targets: object) -> None:
    """Register ``targets`` as session code does: inside the session's greenlet."""
    ScopedGreenlet(lambda: [pawflow.register_no_activity(t) for t in targets], scope).switch()


def test_a_registered_function_runs_inline_and_nothing_else_does() -> None:
    scope = Scope({})
    assert classify(os.getpid, PREFIX, scope.no_activity) is CallKind.EXTERNAL
    in_scope(scope, os.getpid)
    assert classify(os.getpid, PREFIX, scope.no_activity) is CallKind.INLINE
    assert classify(functools.partial(os.getpid), PREFIX, scope.no_activity) is CallKind.INLINE
    assert classify(os.getcwd, PREFIX, scope.no_activity) is CallKind.EXTERNAL
    assert classify(os.getpid, PREFIX, Scope({}).no_activity) is CallKind.EXTERNAL  # per session


def test_a_registered_method_covers_it_on_every_instance() -> None:
    scope = Scope({})
    in_scope(scope, Client.fetch)
    assert classify(Client().fetch, "pawflow_dep_y.", scope.no_activity) is CallKind.INLINE


def test_a_registered_module_covers_what_it_defines_and_holds() -> None:
    scope = Scope({})
    assert classify(email.utils.formatdate, PREFIX, scope.no_activity) is CallKind.EXTERNAL
    in_scope(scope, email)
    assert classify(email.utils.formatdate, PREFIX, scope.no_activity) is CallKind.INLINE
    assert classify(urllib.request.urlopen, PREFIX, scope.no_activity) is CallKind.EXTERNAL
    in_scope(scope, urllib.request)
    assert classify(urllib.request.urlopen, PREFIX, scope.no_activity) is CallKind.INLINE
    opener = urllib.request.OpenerDirector()
    assert classify(opener.open, PREFIX, scope.no_activity) is CallKind.INLINE


def test_outside_a_session_it_does_nothing_and_bad_targets_are_refused() -> None:
    assert pawflow.register_no_activity(os.getpid) is os.getpid
    with pytest.raises(TypeError, match="takes a function or a module, not a int"):
        pawflow.register_no_activity(3)
