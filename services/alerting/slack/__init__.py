"""Slack interactivity: buttons on incident messages and the `/crisiswatch` slash command.

`signature.py` verifies Slack's signed requests (pure), `replay.py` refuses a request seen
before, `blocks.py` builds and updates the buttons (pure), `actions.py` runs a click through
the incident lifecycle (`incidents/work.py`), `commands.py` answers the slash command,
`respond.py` posts to Slack's `response_url`, and `routes.py` is the thin HTTP edge.
"""
