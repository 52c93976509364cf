"""A toy bank for trying the transfer sample on a laptop (not part of the project's code).

    python projects/transfer/bank.py [--port 8765] [--refuse-deposits]

POST /withdraw, /deposit and /refund take ``{"transaction_id", "account",
"amount"}`` and print the balances. A request whose ``Idempotency-Key`` was
seen before changes nothing and gets the first answer again. With
``--refuse-deposits`` every deposit is refused (HTTP 409): the transfer's
saga then refunds the withdrawal.
"""

import argparse
import json
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock


def serve(port: int, refuse_deposits: bool) -> None:
    balances: defaultdict[str, int] = defaultdict(lambda: 100)
    answers: dict[str, tuple[int, bytes]] = {}
    lock = Lock()
    sign = {"withdraw": -1, "deposit": 1, "refund": 1}

    class Bank(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            operation = self.path.strip("/")
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            key = self.headers.get("Idempotency-Key") or ""
            with lock:
                if key and key in answers:
                    status, body = answers[key]
                elif operation not in sign:
                    status, body = 404, b'{"error": "no such operation"}'
                elif operation == "deposit" and refuse_deposits:
                    status, body = 409, b'{"error": "deposits are refused today"}'
                else:
                    balances[payload["account"]] += sign[operation] * int(payload["amount"])
                    status, body = 200, json.dumps({"balances": balances}).encode()
                if key:
                    answers[key] = (status, body)
                print(operation, payload, "->", status, dict(balances), flush=True)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Bank).serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--refuse-deposits", action="store_true")
    options = parser.parse_args()
    serve(options.port, options.refuse_deposits)
