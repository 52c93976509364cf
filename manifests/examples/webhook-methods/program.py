def on_request(event):
    print("request:", event.data.body.json)
