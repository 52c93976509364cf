"""``python -m bench._filter_cost``: what a normal filter costs per event.

Before filters left the event loop, the dispatcher evaluated them in its own
process (``Filter.matches``); now a :class:`~pawflow.filters.FilterPool` does,
in processes of its own. This prints both, for one small event and one filter:
in the pool, one event at a time (a round trip each) and many at once (batched),
with the part spent on the event loop.
"""

from __future__ import annotations

import asyncio
import time

from pawflow.filters import FilterPool, compile_filter

EVENT = {
    "method": "POST",
    "headers": {"content-type": "application/json"},
    "body": {"json": {"action": "opened", "n": 3}, "text": '{"action":"opened","n":3}'},
}
EXPRESSION = 'data.body.json.action == "opened"'
EVENTS = 2000


def in_process() -> float:
    """ms per event, all of it on the caller's thread."""
    compiled = compile_filter(EXPRESSION)
    started = time.perf_counter()
    for _ in range(EVENTS):
        compiled.matches("post", EVENT)
    return (time.perf_counter() - started) / EVENTS * 1000


async def in_pool() -> tuple[float, float, float]:
    """ms per event: one at a time; many at once (wall, and on the event loop)."""
    pool = FilterPool()
    try:
        # Every process started, celpy imported: what is measured is the steady state.
        await asyncio.gather(*(pool.evaluate("post", EVENT, [EXPRESSION]) for _ in range(10)))
        started = time.perf_counter()
        for _ in range(EVENTS // 4):
            await pool.evaluate("post", EVENT, [EXPRESSION])
        one = (time.perf_counter() - started) / (EVENTS // 4) * 1000
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(pool.evaluate("post", EVENT, [EXPRESSION]) for _ in range(EVENTS)))
        many = (time.perf_counter() - started) / EVENTS * 1000
        loop = (time.process_time() - cpu) / EVENTS * 1000
    finally:
        await pool.close()
    return one, many, loop


def main() -> None:
    print(f"in process (before): {in_process():.3f} ms/event, all on the event loop")
    one, many, loop = asyncio.run(in_pool())
    print(f"filter pool, one at a time: {one:.3f} ms/event")
    print(f"filter pool, {EVENTS} at once: {many:.3f} ms/event, {loop:.3f} ms of it on the loop")


if __name__ == "__main__":
    main()
