"""Waits, durably, for someone to approve a request, or to cancel it.

    curl -X POST <request URL> -H 'content-type: application/json' -d '{"id": "r1"}'
    curl -X POST <approve URL> -H 'content-type: application/json' -d '{"id": "r1"}'
    curl -X POST <cancel URL>  -H 'content-type: application/json' -d '{"id": "r1"}'

The session may wait for days: it holds no process meanwhile, and an answer
posted while it is not yet waiting is kept for it. Whichever answer comes
first decides; after a day without one the request times out.
"""

import json

import pawflow

ONE_DAY = 24 * 3600


def on_request(event):
    request_id = event.data.body.json["id"]
    about_it = f"data.body.json.id == {json.dumps(request_id)}"
    approve = pawflow.subscribe("approve", filter=about_it)
    cancel = pawflow.subscribe("cancel", filter=about_it)
    # Where a mail or chat message would send the approver.
    print(f"approve: POST {pawflow.webhook_url('approve')} {{'id': {request_id!r}}}")
    print(f"cancel:  POST {pawflow.webhook_url('cancel')} {{'id': {request_id!r}}}")
    answer = pawflow.next_event([approve, cancel], timeout=ONE_DAY)
    if answer is None:
        outcome = "timed out"
    elif answer.subscription == approve:
        outcome = "approved"
    else:
        outcome = "cancelled"
    print(outcome)
    return {"id": request_id, "outcome": outcome}
