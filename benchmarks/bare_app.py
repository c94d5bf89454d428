"""A bare Flask endpoint served the same way, to compare the webhook against."""

from flask import Flask

app = Flask(__name__)


@app.post("/")
def bare() -> str:
    """Answer a fixed TwiML document."""
    return "<Response><Say>Hello</Say></Response>"
