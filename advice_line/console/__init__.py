"""Clinician pages and socket events."""
