"""Request validation: what a caller may send, normalised to the messages form.

Checked before any provider is called, so a malformed request fails with a message
naming the field and never counts as a provider failure.
"""

from __future__ import annotations

import math
from typing import Any

Request = dict[str, Any]
"""A validated request: messages (list of role/content dicts), temperature, max_tokens, stream."""


def validate_request(request: Any) -> Request:
    """Check a caller's request and return it normalised to the messages form.

    Raises ValueError naming the bad field, so a malformed request fails before any
    provider is called (and never counts as a provider failure).
    """
    if not isinstance(request, dict):
        raise ValueError(f"request: expected a dict, got {type(request).__name__}")
    prompt = request.get("prompt")
    messages = request.get("messages")
    if prompt is not None and messages is not None:
        raise ValueError("request: give either 'prompt' or 'messages', not both")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise ValueError(f"request.prompt: must be a string, got {type(prompt).__name__}")
        msgs = [{"role": "user", "content": prompt}]
    elif messages is not None:
        if not isinstance(messages, list) or not messages:
            raise ValueError("request.messages: must be a non-empty list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise ValueError(f"request.messages[{i}]: must be a dict with role and content")
            role, content = m.get("role"), m.get("content")
            if not isinstance(role, str) or not role:
                raise ValueError(f"request.messages[{i}].role: must be a non-empty string")
            if not isinstance(content, str):
                raise ValueError(f"request.messages[{i}].content: must be a string")
        msgs = messages
    else:
        raise ValueError("request: needs 'prompt' (str) or 'messages' (list)")

    temperature = request.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or not 0 <= temperature <= 2
    ):
        raise ValueError(f"request.temperature: must be a number in 0..2, got {temperature!r}")
    max_tokens = request.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(f"request.max_tokens: must be a positive integer, got {max_tokens!r}")
    stream = request.get("stream", False)
    if not isinstance(stream, bool):
        raise ValueError(f"request.stream: must be true or false, got {stream!r}")
    return {
        "messages": msgs,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": stream,
    }


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token) for responses that report no usage."""
    return (len(text) + 3) // 4 if text else 0


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m["content"]) + 1 for m in messages)
