"""Escalation levels in the order a waiting request widens through them."""

from advice_line.models.request import EscalationLevel

ESCALATION_LEVELS: tuple[str, ...] = tuple(level.value for level in EscalationLevel)
