"""The money transfer from the durable-execution concept text: all or nothing.

Each step calls the bank over HTTP. Pawflow records every completed call: if
the worker dies between the withdrawal and the deposit, the session resumes
after the withdrawal -- the money is neither lost nor withdrawn twice. If the
deposit fails for good, the saga refunds the withdrawal: no money is lost or
created out of thin air. Every request carries ``pawflow.call_key()`` as its
``Idempotency-Key``, so a retried request takes effect once at the bank.

    python projects/transfer/bank.py [--refuse-deposits]     # a local bank on :8765
    curl -X POST <webhook url> -H 'content-type: application/json' \\
         -d '{"from": "alice", "to": "bob", "amount": 10}'
"""

import json
import urllib.error
import urllib.request
import uuid

import pawflow


class BankRefused(Exception):
    """The bank said no (an HTTP 4xx): trying again would not help."""


def on_transfer(event):
    order = event.data.body.json
    transfer(order["from"], order["to"], order["amount"])


def transfer(withdraw_account, deposit_account, amount):
    transaction_id = get_transaction_id()
    with pawflow.saga():
        withdraw_from_account_route(transaction_id, withdraw_account, amount)
        pawflow.compensate(refund_to_account_route, transaction_id, withdraw_account, amount)
        deposit_to_account_route(transaction_id, deposit_account, amount)
    print(f"transferred {amount} from {withdraw_account} to {deposit_account} ({transaction_id})")


def get_transaction_id():
    return str(uuid.uuid4())  # random: recorded, so a replay reuses the same id


def withdraw_from_account_route(transaction_id, account, amount):
    return bank(
        "withdraw", {"transaction_id": transaction_id, "account": account, "amount": amount}
    )


def deposit_to_account_route(transaction_id, account, amount):
    return bank("deposit", {"transaction_id": transaction_id, "account": account, "amount": amount})


def refund_to_account_route(transaction_id, account, amount):
    return bank("refund", {"transaction_id": transaction_id, "account": account, "amount": amount})


@pawflow.activity
def bank(operation, payload):
    """One HTTP request to the bank, recorded as one durable call."""
    request = urllib.request.Request(
        f"{pawflow.vars['BANK_URL']}/{operation}",
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            # The same on every attempt of this call, after a crash too.
            "Idempotency-Key": pawflow.call_key(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            raise BankRefused(f"{operation} refused: {exc.read().decode()}") from None
        raise  # the bank blipped: retried with the project's policy
