"""The Slack front end: thin listeners that parse, authorise, call a `bot`
service and reply with Block Kit."""
