"""The public landing page: live figures about the line, no personal data, no sign-in."""
