"""Small deterministic media for tests and demos of speech-to-text providers."""

from __future__ import annotations

import io
import wave


def silent_wav(seconds: float = 1.0, *, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of ``seconds`` of silence (the scripted model bills by its duration)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()
