"""Waits, durably, for someone to approve a request.

    curl -X POST <request URL> -H 'content-type: application/json' -d '{"id": "r1"}'
    curl -X POST <decide URL>  -H 'content-type: application/json' -d '{"id": "r1", "approve": true}'

The session may wait for days: it holds no process meanwhile, and a decision
posted while it is not yet waiting is kept for it.
"""

import json

import pawflow

ONE_DAY = 24 * 3600


def on_request(event):
    request_id = event.data.body.json["id"]
    decisions = pawflow.subscribe("decide", filter=f"data.body.json.id == {json.dumps(request_id)}")
    print(f"waiting for a decision on {request_id}")
    decision = pawflow.next_event(decisions, timeout=ONE_DAY)
    pawflow.unsubscribe(decisions)
    approved = decision is not None and bool(decision.data.body.json.get("approve"))
    print("approved" if approved else "rejected")
    return {"id": request_id, "approved": approved}
