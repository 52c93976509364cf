"""Fans a batch out to child sessions and collects their results.

    curl -X POST <batch URL> -H 'content-type: application/json' -d '{"items": [1, 2, 3]}'

Each child is a session of its own (listed by `paw session list`); the parent
waits for each one's result durably.
"""

import pawflow


def on_batch(event):
    items = event.data.body.json["items"]
    children = [pawflow.start("program.py:square", data={"n": n}) for n in items]
    results = [pawflow.result(child) for child in children]
    print(f"squares: {results}")
    return {"sum": sum(results)}


def square(event):
    return event.data.n**2
