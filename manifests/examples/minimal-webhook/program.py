def on_greet(event):
    print("hello,", event.data.body.json)
