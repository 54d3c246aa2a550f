"""Images and speech-to-text of the scripted model."""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import struct
import wave
import zlib
from typing import Any

from ._common import ScriptedModelError, now

__all__ = ["generate_images", "render_png", "transcribe"]

DEFAULT_SIZE = (256, 256)
MAX_SIDE = 1024
MAX_IMAGES = 10
BYTES_PER_SECOND = 16_000  # duration estimate for audio that is not a WAV file
_SIZE_RE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TRANSCRIPT_FORMATS = ("json", "text", "verbose_json")
_WORDS_TEXT = (
    "alpha amber anchor apple autumn banner basket beacon bridge candle canyon castle cedar circle clover "
    "comet copper coral cotton crystal delta desert echo ember falcon feather forest garden glacier "
    "harbor hazel island ivory jasmine lantern lemon marble meadow mirror needle ocean olive orbit pebble "
    "pepper planet prairie quartz river saddle silver spruce summit timber velvet willow"
)
_WORDS = tuple(_WORDS_TEXT.split())


def _image_count(raw: Any) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_IMAGES:
        raise ScriptedModelError(f"n must be an integer from 1 to {MAX_IMAGES}, got {raw!r}")
    return raw


def _image_size(raw: Any) -> tuple[int, int]:
    if raw is None or raw == "auto":
        return DEFAULT_SIZE
    match = _SIZE_RE.match(raw) if isinstance(raw, str) else None
    if match is None or min(int(match.group(1)), int(match.group(2))) < 1:
        raise ScriptedModelError(f"size must look like '256x256' (width x height, both >= 1), got {raw!r}")
    return min(int(match.group(1)), MAX_SIDE), min(int(match.group(2)), MAX_SIDE)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _rows(width: int, height: int, seed: bytes) -> bytes:
    """Raw scanlines (filter byte 0 + RGB) of a two-colour checkerboard or stripe pattern."""
    back, fore = seed[0:3], seed[3:6]
    if fore == back:
        fore = bytes(b ^ 0x80 for b in back)
    cell = 4 + seed[6] % 61
    pattern = seed[7] % 3  # 0 checkerboard, 1 vertical stripes, 2 horizontal stripes
    repeat = width // (2 * cell) + 1
    row_a = b"\x00" + ((back * cell + fore * cell) * repeat)[: 3 * width]
    row_b = b"\x00" + ((fore * cell + back * cell) * repeat)[: 3 * width]
    if pattern == 1:
        row_b = row_a
    elif pattern == 2:
        row_a, row_b = b"\x00" + back * width, b"\x00" + fore * width
    return b"".join(row_a if (y // cell) % 2 == 0 else row_b for y in range(height))


def render_png(prompt: str, index: int, width: int, height: int) -> bytes:
    """A deterministic RGB PNG whose colours and pattern come from sha256(prompt, index)."""
    seed = hashlib.sha256(f"{prompt}\x00{index}".encode()).digest()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(_rows(width, height, seed), 6)
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def generate_images(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """OpenAI ``images/generations`` answer with ``n`` deterministic PNG images."""
    del model  # every model draws the same way
    if not isinstance(body, dict):
        raise ScriptedModelError("the request body must be a JSON object")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ScriptedModelError("prompt must be a non-empty string")
    count = _image_count(body.get("n"))
    width, height = _image_size(body.get("size"))
    output = body.get("response_format") or "b64_json"
    if output not in ("b64_json", "url"):
        raise ScriptedModelError("response_format must be 'b64_json' or 'url'")
    data = []
    for index in range(count):
        encoded = base64.b64encode(render_png(prompt, index, width, height)).decode("ascii")
        item = {"b64_json": encoded} if output == "b64_json" else {"url": "data:image/png;base64," + encoded}
        data.append({**item, "revised_prompt": prompt})
    return {"created": now(), "data": data}


def audio_duration(audio: bytes) -> float:
    """Seconds of a WAV file from its header; otherwise ``len / 16000`` with a minimum of 1 s."""
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (wave.Error, EOFError, ValueError, struct.error):
        rate = frames = 0
    if rate > 0:
        return frames / rate
    return max(1.0, len(audio) / BYTES_PER_SECOND)


def _transcript_words(audio: bytes, duration: float) -> list[str]:
    count = min(40, max(3, math.ceil(duration * 2)))
    stream = hashlib.sha256(audio).digest()
    while len(stream) < count:
        stream += hashlib.sha256(stream).digest()
    return [_WORDS[byte % len(_WORDS)] for byte in stream[:count]]


def transcribe(
    audio: bytes,
    *,
    filename: str,
    model: str,
    response_format: str = "json",
    language: str | None = None,
) -> dict[str, Any]:
    """OpenAI ``audio/transcriptions`` answer: hash-derived words and the audio's duration."""
    del model  # every model hears the same way
    if not isinstance(audio, (bytes, bytearray)) or not audio:
        raise ScriptedModelError("the audio file is missing or empty")
    if response_format not in _TRANSCRIPT_FORMATS:
        raise ScriptedModelError(f"response_format must be one of {', '.join(_TRANSCRIPT_FORMATS)}")
    if language is not None and not isinstance(language, str):
        raise ScriptedModelError("language must be a string")
    data = bytes(audio)
    duration = audio_duration(data)
    sentence = " ".join(_transcript_words(data, duration)).capitalize() + "."
    text = f"scripted transcript of {filename or 'audio'} ({duration:.1f} s): {sentence}"
    result: dict[str, Any] = {
        "text": text,
        "usage": {"type": "duration", "seconds": max(1, math.ceil(duration))},
    }
    if response_format == "verbose_json":
        segment = {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": round(duration, 3),
            "text": text,
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": 0.0,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.0,
        }
        result.update(task="transcribe", language=language or "en", duration=round(duration, 3))
        result["segments"] = [segment]
    return result
