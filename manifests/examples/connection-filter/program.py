def on_issue(event):
    print("new issue:", event.data.issue.title)


def on_order(event):
    print("big order:", event.data.body.json.amount)
