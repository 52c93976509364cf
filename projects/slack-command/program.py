"""Slack slash command: reply in the channel with chat.postMessage.

Slack gets its 200 as soon as the command is stored; the reply is one durable
call of the session, so it is posted once even if a worker crashes.
"""

import pawflow_slack


def on_command(event):
    command = event.data
    slack = pawflow_slack.client("slack")
    words = command.text.split()
    reply = f"<@{command.user_id}> asked for {' '.join(words) or 'nothing'} — on it!"
    answer = slack.chat_postMessage(channel=command.channel_id, text=reply)
    return {"channel": command.channel_id, "ts": answer["ts"]}
