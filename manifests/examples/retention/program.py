def ping(event):
    print("pong")
