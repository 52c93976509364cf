"""The Pawflow projects the bench deploys, written into its temp dir."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCH_PROJECT", "BYSTANDER_PROJECT", "FLOOD_PROJECT", "INGEST_PROJECT", "write_project"]

# One project, one trigger per shape of session the measures need.
BENCH_PROJECT = "bench"
_BENCH_MANIFEST = """\
version: 1
project:
  name: bench
  triggers:
    - name: calls
      webhook: {}
      call: program.py:calls
    - name: empty
      webhook: {}
      call: program.py:empty
    - name: one
      webhook: {}
      call: program.py:one_call
    - name: idle
      webhook: {}
      call: program.py:idle
    - name: transfer
      webhook: {sync: true}
      call: program.py:transfer
    - name: slow
      webhook: {}
      call: program.py:slow
"""

_BENCH_PROGRAM = '''\
"""Sessions of the Pawflow benchmarks."""

import time
import urllib.request

import pawflow


@pawflow.activity
def noop():
    """An external call that does nothing: what is left is the cost of the call."""
    return None


def calls(event):
    for _ in range(event.data.body.json.n):
        noop()


def empty(event):
    return None


def one_call(event):
    noop()


def idle(event):
    time.sleep(3600)


# The money transfer's three steps, computed here: no bank to wait for, so what
# is measured is the platform's path from the request to its reply.
@pawflow.activity
def withdraw(account, amount):
    return {"account": account, "withdrawn": amount}


@pawflow.activity
def deposit(account, amount):
    return {"account": account, "deposited": amount}


@pawflow.activity
def record(source, target, amount):
    return f"{amount} from {source} to {target}"


def transfer(event):
    order = event.data.body.json
    source, target, amount = order["from"], order["to"], order["amount"]
    return {
        "withdraw": withdraw(source, amount),
        "deposit": deposit(target, amount),
        "record": record(source, target, amount),
    }


@pawflow.activity
def slow_call(url):
    """One call that waits seconds on I/O (the bench's slow server)."""
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        return response.status


def slow(event):
    slow_call(event.data.body.json.url)
'''

# The ingest measures run on a server without workers: the session never runs.
INGEST_PROJECT = "ingest"
_INGEST_MANIFEST = """\
version: 1
project:
  name: ingest
  triggers:
    - name: hook
      webhook: {}
      call: program.py:handler
"""

_INGEST_PROGRAM = """\
def handler(event):
    return None
"""

# webhook_ack_p99_under_filter_flood: big bodies to a trigger with an expensive
# filter, small ones to another project's plain trigger, on a server without workers.
FLOOD_PROJECT = "flood"
_FLOOD_MANIFEST = """\
version: 1
project:
  name: flood
  triggers:
    - name: flood
      webhook: {}
      filter: "data.body.json.items.exists(x, x == -1)"
      call: program.py:handler
"""
BYSTANDER_PROJECT = "bystander"
_BYSTANDER_MANIFEST = """\
version: 1
project:
  name: bystander
  triggers:
    - name: plain
      webhook: {}
      call: program.py:handler
"""

_FILES = {
    BENCH_PROJECT: {"pawflow.yaml": _BENCH_MANIFEST, "program.py": _BENCH_PROGRAM},
    INGEST_PROJECT: {"pawflow.yaml": _INGEST_MANIFEST, "program.py": _INGEST_PROGRAM},
    FLOOD_PROJECT: {"pawflow.yaml": _FLOOD_MANIFEST, "program.py": _INGEST_PROGRAM},
    BYSTANDER_PROJECT: {"pawflow.yaml": _BYSTANDER_MANIFEST, "program.py": _INGEST_PROGRAM},
}


def write_project(name: str, root: Path) -> Path:
    """Write project ``name`` into ``root/name`` and return that directory."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    for file, text in _FILES[name].items():
        (directory / file).write_text(text)
    return directory
