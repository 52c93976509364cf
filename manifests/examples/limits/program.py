def crunch(event):
    numbers = event.data.body.json or []
    print("sum:", sum(numbers))
