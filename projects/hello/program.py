"""Greets whoever the webhook names.

curl -X POST <webhook url> -H 'content-type: application/json' -d '{"name": "Ada"}'
"""

import datetime
import time

import pawflow


def on_greet(event):
    body = event.data.body.json or {}
    name = body.get("name", "world")
    # Reading the clock is an external call: its result is recorded, so a
    # replay after a crash sees the same time.
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"{pawflow.vars['GREETING']}, {name}! (it is {started:%H:%M:%S} UTC)")
    # A durable timer: the worker may restart meanwhile; the session goes on.
    time.sleep(1)
    print(f"Goodbye, {name}.")
    return {"greeted": name}
