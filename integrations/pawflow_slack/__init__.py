"""The ``slack`` integration.

Incoming requests (Events API callbacks, slash commands, interactivity) are
verified with the app's signing secret and timestamp; requests older than five
minutes are refused as replays, and the URL-verification challenge is answered.
Session code gets ``slack_sdk``'s ``WebClient`` authenticated with the bot token::

    slack = pawflow_slack.client("slack")
    slack.chat_postMessage(channel=event.data.channel_id, text="on it")
"""

from pawflow.integrations import ConnectionClient

from ._integration import INTEGRATION, REPLAY_WINDOW_SECONDS, SlackClient

client = ConnectionClient(INTEGRATION)
"""``pawflow_slack.client("slack")``: the ``WebClient`` of connection ``slack``."""

__all__ = ["INTEGRATION", "REPLAY_WINDOW_SECONDS", "SlackClient", "client"]
