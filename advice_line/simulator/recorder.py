"""The simulator's recordings: a short generated WAV for each recorded conference."""

from __future__ import annotations

import io
import math
import struct
import wave

RATE = 8000  # Twilio's recordings are 8 kHz mono


def tone_wav(seconds: int, hertz: float = 440.0) -> bytes:
    """A quiet tone of ``seconds`` (at least one) as a 16-bit mono WAV file."""
    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * hertz * n / RATE)))
        for n in range(RATE * max(seconds, 1))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)
    return buffer.getvalue()
