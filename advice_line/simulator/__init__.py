"""The built-in phone simulator, for running the line without a Twilio account (demo only).

It plays both sides of Twilio: its REST endpoint takes the calls and messages the line
places, and its phones drive the line's real webhooks with signed requests and follow the
TwiML they get back, showing every prompt as text.
"""
