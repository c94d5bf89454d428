"""Twilio: signed webhooks, TwiML builders, the REST gateway and the simulator."""
