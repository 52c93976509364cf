"""Which targets run inline and which become recorded external calls."""

from __future__ import annotations

import datetime
import functools
import io
import json
import math
import os
import random
import re
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

import pawflow
from pawflow.sessions._calls import CallKind, classify, describe

PREFIX = "pawflow_dep_x."


@pytest.mark.parametrize(
    "target",
    [
        len,
        sorted,
        str.upper,
        "abc".upper,
        [].append,
        {}.get,
        dict,
        ValueError,
        json.dumps,
        json.loads,
        math.sqrt,
        re.compile,
        urllib.parse.quote,
        functools.partial(json.dumps, indent=2),
        datetime.timedelta,
        uuid.UUID,
        os.getenv,
        os.environ.get,
        pawflow.AttrDict,
    ],
)
def test_deterministic_targets_run_inline(target: Any) -> None:
    assert classify(target, PREFIX) is CallKind.INLINE


@pytest.mark.parametrize(
    "target",
    [
        time.time,
        datetime.datetime.now,
        datetime.date.today,
        random.random,
        random.randint,
        uuid.uuid4,
        os.urandom,
        urllib.request.urlopen,
        io.BytesIO().read,
        input,
    ],
)
def test_io_clocks_and_entropy_are_external(target: Any) -> None:
    assert classify(target, PREFIX) is CallKind.EXTERNAL


def test_print_and_sleep_are_special() -> None:
    assert classify(print, PREFIX) is CallKind.PRINT
    assert classify(time.sleep, PREFIX) is CallKind.SLEEP


def test_project_code_runs_inline_unless_marked_activity() -> None:
    def helper() -> None: ...

    helper.__module__ = PREFIX + "program"
    assert classify(helper, PREFIX) is CallKind.INLINE
    assert classify(pawflow.activity(helper), PREFIX) is CallKind.EXTERNAL


def test_other_deployments_code_is_not_inline() -> None:
    def helper() -> None: ...

    helper.__module__ = "pawflow_dep_other.program"
    assert classify(helper, PREFIX) is CallKind.EXTERNAL


def test_describe_names_functions_readably() -> None:
    def charge() -> None: ...

    charge.__module__ = PREFIX + "billing"
    assert (
        describe(charge, PREFIX) == "billing.test_describe_names_functions_readably.<locals>.charge"
    )
    assert describe(urllib.request.urlopen, PREFIX) == "urllib.request.urlopen"
    assert describe(datetime.datetime.now, PREFIX) == "datetime.now"
