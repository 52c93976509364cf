import os


def on_greet(event):
    retries = int(os.environ["RETRIES"])
    print(os.environ["GREETING"], event.data.body.json, f"({retries} retries)")
