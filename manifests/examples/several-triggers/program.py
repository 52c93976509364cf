def on_opened(event):
    print("opened:", event.data.body.json)
