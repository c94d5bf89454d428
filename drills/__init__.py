"""Fault drills: kill the app, Redis or PostgreSQL under load and check what survives."""
