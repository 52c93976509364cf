def quote(event):
    amount = float(event.data.query.get("amount", "1"))
    return {"amount": amount, "fee": round(amount * 0.01, 2)}  # the 200 reply's JSON


def ping(event):
    return "pong"
