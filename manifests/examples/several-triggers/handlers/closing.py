def on_closed(event):
    print("closed:", event.data.body.json)
