"""Local stand-ins for Slack and Postmark that speak their wire formats.

Product code, not test code: the rehearsal room runs them, and every
end-to-end test and benchmark points the real clients (slack_sdk's WebClient,
postmarker's PostmarkClient) at them by changing only the base URL.
"""
