"""``paw up`` says how long it has waited for Temporal on a terminal, and nothing when piped."""

from __future__ import annotations

import io
import re
from pathlib import Path

from pawflow.up import EmbeddedTemporal, Progress, find_temporal_binary


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_rewritten_in_place_then_erased() -> None:
    out, clock = _Terminal(), _Clock()
    progress = Progress(out, "waiting for Temporal on 127.0.0.1:7233", clock=clock)
    progress.tick()
    assert out.getvalue() == ""  # a quick wait shows nothing
    clock.now += 3.2
    progress.tick()
    clock.now += 1
    progress.tick()
    progress.done()
    assert out.getvalue() == (
        "\r\x1b[Kwaiting for Temporal on 127.0.0.1:7233 | 3 s"
        "\r\x1b[Kwaiting for Temporal on 127.0.0.1:7233 / 4 s"
        "\r\x1b[K"
    )


def test_nothing_when_not_a_terminal() -> None:
    out, clock = io.StringIO(), _Clock()
    progress = Progress(out, "waiting", clock=clock)
    clock.now += 10
    progress.tick()
    progress.done()
    assert not progress.active and out.getvalue() == ""


async def test_the_wait_for_a_slow_temporal_is_shown_on_a_terminal(tmp_path: Path) -> None:
    # A real Temporal that takes its time to start, as on a loaded machine.
    slow = tmp_path / "temporal"
    slow.write_text(f'#!/bin/sh\nsleep 2\nexec "{find_temporal_binary()}" "$@"\n')
    slow.chmod(0o755)
    out = _Terminal()
    temporal = EmbeddedTemporal(
        slow, tmp_path / "temporal.db", tmp_path / "temporal.log", progress=out
    )
    address = await temporal.start()
    await temporal.stop()
    lines = out.getvalue().split("\r\x1b[K")
    assert lines[0] == "" and lines[-1] == ""  # each drawn over the last, the last erased
    shown = lines[1:-1]
    assert len(shown) >= 2
    pattern = re.compile(rf"waiting for Temporal on {re.escape(address)} [|/\\-] (\d+) s")
    waited = [int(m.group(1)) for line in shown if (m := pattern.fullmatch(line))]
    assert len(waited) == len(shown), shown
    assert waited == sorted(waited) and waited[-1] >= 2
