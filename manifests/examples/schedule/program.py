def nightly(event):
    # event.type is "schedule"; the data holds the tick's scheduled time (ISO 8601, UTC).
    print("nightly run for", event.data.scheduled_time)


def check(event):
    print(event.trigger, "at", event.data.scheduled_time)
