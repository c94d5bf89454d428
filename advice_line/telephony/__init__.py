"""Twilio: signed webhooks over intake, call legs and messages; the dialer; the gateway."""
