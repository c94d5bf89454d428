"""Domain errors: raised before anything changes, shown to users as plain sentences."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was changed."""


class NotFound(DomainError):
    """The request, offer or clinician does not exist."""


class IllegalTransition(DomainError):
    """The request or clinician is not in a state that allows this step."""


class AlreadyTaken(DomainError):
    """Another clinician has already taken the request."""


class MissingSkills(DomainError):
    """The clinician lacks a skill the waiting request still requires."""


class NotQualified(DomainError):
    """The clinician may not give the s136(1C) consultation."""


class InvalidInput(DomainError):
    """Input is missing or malformed; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(sentence(field, message) for field, message in errors.items()))
        self.errors = errors


def sentence(field: str, message: str, label: str | None = None) -> str:
    """One error in words: a message that is a sentence alone, else prefixed by its field's
    label (``label``, or the field's name in words: never ``under_18_in_crisis``)."""
    if message[:1].isupper():
        return message
    return f"{label or field.replace('_', ' ').capitalize()}: {message}"
