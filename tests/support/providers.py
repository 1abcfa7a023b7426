"""Real aiohttp servers on 127.0.0.1 speaking the OpenAI, Anthropic and Ollama formats.

Each :class:`FakeProvider` serves one wire format and follows a script: every request
takes the next behaviour (``Reply``, ``Status``, ``Hang``, ``Malformed``, ``Drop``,
``Big``),
and once the script is used up it repeats ``default``. Every request is recorded
with its headers, JSON body and the loop time it arrived, so tests can assert what
was sent and measure retry gaps on the same clock.

Use it through :class:`FakeFleet` (an async context manager that stops every server
it started)::

    async with FakeFleet() as fleet:
        fake = await fleet.start("openai", Status(500), Reply("hi"))

It is one file on purpose: most of its length is the three formats' canned bodies
(``_plain``, ``_stream_frames``), and they and the server's handlers share the options
of :class:`Reply` (``usage``, ``gateway``, ``truncate``, ``gap``...), so a new behaviour
or option changes the dataclass, the server and the bodies together; split, the parts
would only import each other's private helpers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FORMATS = ("openai", "anthropic", "ollama")
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "ollama": "/api/chat"}


# ---- behaviours ------------------------------------------------------------------------


@dataclass
class Reply:
    """A successful answer; streamed if the request asked for ``stream``.

    ``usage=False`` leaves token counts out; ``hang_after`` stops a stream after that
    many content chunks (to hit the client's total timeout); ``truncate`` ends a
    stream without its terminator; ``plain`` answers JSON even to a stream request;
    ``gap`` sleeps that many seconds before each content chunk (deltas over time);
    ``gateway`` sends Anthropic usage as a gateway does (``input_tokens: 0`` in
    message_start, the real count in message_delta); ``head_delay`` waits that long
    before the response headers (a provider that answers only once the first token is
    ready, as most do).
    """

    text: str = "Hello from the fake provider."
    tokens_in: int = 11
    tokens_out: int = 7
    model: str | None = None
    usage: bool = True
    hang_after: int | None = None
    truncate: bool = False
    plain: bool = False
    gap: float = 0.0
    gateway: bool = False
    head_delay: float = 0.0


@dataclass
class Status:
    """An HTTP error status, optionally with Retry-After and a body."""

    status: int
    retry_after: str | None = None
    body: Any = None
    headers: dict[str, str] | None = None


@dataclass
class Hang:
    """Never answer (until the server stops)."""


@dataclass
class Malformed:
    """A 200 with a body that is not what the format promises."""

    body: bytes = b"<html>not json</html>"
    content_type: str = "application/json"


@dataclass
class Drop:
    """Close the connection without any response."""


@dataclass
class Big:
    """A 200 of about ``size`` bytes of OpenAI-shaped JSON (an SSE stream of 16 KiB
    deltas if the request asked for one), sent in 64 KiB writes without a
    Content-Length unless ``declared``: a runaway reply. The server counts the bytes it
    got out (``big_sent``) and a client that left early in ``disconnects``."""

    size: int
    declared: bool = False


Behaviour = Reply | Status | Hang | Malformed | Drop | Big


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # event-loop time the request arrived


# ---- the server ------------------------------------------------------------------------


@dataclass
class FakeProvider:
    fmt: str
    script: list[Behaviour] = field(default_factory=list)
    default: Behaviour = field(default_factory=Reply)
    requests: list[Recorded] = field(default_factory=list)
    disconnects: int = 0  # streams the client left before their end
    finished: int = 0  # streams sent to their end
    big_sent: int = 0  # bytes a Big reply got out before it ended or the client left
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def then(self, *behaviours: Behaviour) -> FakeProvider:
        self.script.extend(behaviours)
        return self

    @property
    def count(self) -> int:
        return len(self.requests)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests (loop time)."""
        at = [r.at for r in self.requests]
        return [b - a for a, b in itertools.pairwise(at)]

    async def start(self) -> FakeProvider:
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r}")
        app = web.Application()
        app.router.add_post(PATHS[self.fmt], self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(Recorded(request.path, dict(request.headers), body, loop.time()))
        behaviour = self.script.pop(0) if self.script else self.default
        stream = isinstance(body, dict) and body.get("stream") is True

        if isinstance(behaviour, Status):
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            headers.update(behaviour.headers or {})
            payload = behaviour.body
            if payload is None:
                payload = {"error": {"message": f"fake error {behaviour.status}"}}
            text = payload if isinstance(payload, str) else json.dumps(payload)
            return web.Response(
                status=behaviour.status,
                text=text,
                headers=headers,
                content_type="application/json",
            )
        if isinstance(behaviour, Hang):
            await self._release.wait()
            return web.Response(status=503)
        if isinstance(behaviour, Malformed):
            return web.Response(body=behaviour.body, content_type=behaviour.content_type)
        if isinstance(behaviour, Big):
            return await self._big(request, behaviour, stream)
        if isinstance(behaviour, Drop):
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        model = behaviour.model or (body.get("model") if isinstance(body, dict) else None)
        model = model or "fake-model"
        if behaviour.head_delay:
            await asyncio.sleep(behaviour.head_delay)
        if stream and not behaviour.plain:
            return await self._stream(request, behaviour, model)
        return web.json_response(_plain(self.fmt, behaviour, model))

    async def _big(self, request: web.Request, big: Big, stream: bool) -> web.StreamResponse:
        if stream:
            frame = _sse({"choices": [{"index": 0, "delta": {"content": "x" * 16384}}]})
            ctype = "text/event-stream"
            frames = [frame] * (big.size // len(frame) + 1)
        else:
            head, tail = b'{"choices": [{"message": {"content": "', b'"}}]}'
            fill = big.size - len(head) - len(tail)
            frames = [head] + [b"x" * 65536] * (fill // 65536) + [b"x" * (fill % 65536), tail]
            ctype = "application/json"
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        if big.declared:
            resp.content_length = sum(len(f) for f in frames)
        await resp.prepare(request)

        async def send() -> bool:
            for f in frames:
                await resp.write(f)
                self.big_sent += len(f)
            return True

        return await self._counted(resp, send())

    async def _stream(self, request: web.Request, r: Reply, model: str) -> web.StreamResponse:
        ctype = "application/x-ndjson" if self.fmt == "ollama" else "text/event-stream"
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        pieces = _pieces(r.text)
        frames = _stream_frames(self.fmt, r, model, pieces)
        if r.truncate:  # cut right after the last content frame: no stop, no terminator
            last = max(i for i, (_, is_content) in enumerate(frames) if is_content)
            frames = frames[: last + 1]

        async def send() -> bool:
            sent_content = 0
            for frame, is_content in frames:
                if is_content and r.gap:
                    await asyncio.sleep(r.gap)
                await resp.write(frame)
                if is_content:
                    sent_content += 1
                    if r.hang_after is not None and sent_content >= r.hang_after:
                        await self._release.wait()
                        return False  # released: the reply is left unfinished
            return True

        return await self._counted(resp, send())

    async def _counted(
        self, resp: web.StreamResponse, send: Coroutine[Any, Any, bool]
    ) -> web.StreamResponse:
        """Run ``send``; a whole reply ends the body and counts as finished, a client
        that left counts as a disconnect."""
        try:
            if not await send:
                return resp
            await resp.write_eof()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            self.disconnects += 1
            return resp
        self.finished += 1
        return resp


def _pieces(text: str) -> list[str]:
    """Split text into stream chunks that join back to exactly ``text``."""
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _plain(fmt: str, r: Reply, model: str) -> dict[str, Any]:
    if fmt == "openai":
        out: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": r.text},
                    "finish_reason": "stop",
                }
            ],
        }
        if r.usage:
            out["usage"] = {
                "prompt_tokens": r.tokens_in,
                "completion_tokens": r.tokens_out,
                "total_tokens": r.tokens_in + r.tokens_out,
            }
        return out
    if fmt == "anthropic":
        out = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": r.text}],
            "stop_reason": "end_turn",
        }
        if r.usage:
            out["usage"] = {"input_tokens": r.tokens_in, "output_tokens": r.tokens_out}
        return out
    out = {
        "model": model,
        "created_at": "2024-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": r.text},
        "done": True,
        "done_reason": "stop",
    }
    if r.usage:
        out["prompt_eval_count"] = r.tokens_in
        out["eval_count"] = r.tokens_out
    return out


def _stream_frames(fmt: str, r: Reply, model: str, pieces: list[str]) -> list[tuple[bytes, bool]]:
    """Every frame of a streamed reply, each flagged True if it carries content."""
    frames: list[tuple[bytes, bool]] = []
    if fmt == "openai":
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
        frames.append(
            (_sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}), False)
        )
        for p in pieces:
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": p}}]}
            frames.append((_sse(chunk), True))
        stop = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        frames.append((_sse(stop), False))
        if r.usage:
            usage = {"prompt_tokens": r.tokens_in, "completion_tokens": r.tokens_out}
            frames.append((_sse({**base, "choices": [], "usage": usage}), False))
        frames.append((_sse("[DONE]"), False))
        return frames
    if fmt == "anthropic":
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "usage": (
                    {"input_tokens": 0 if r.gateway else r.tokens_in, "output_tokens": 1}
                    if r.usage
                    else {}
                ),
            },
        }
        frames.append((_sse(start, "message_start"), False))
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        frames.append((_sse(block, "content_block_start"), False))
        frames.append((_sse({"type": "ping"}, "ping"), False))
        for p in pieces:
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": p},
            }
            frames.append((_sse(delta, "content_block_delta"), True))
        frames.append(
            (_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"), False)
        )
        mdelta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        if r.usage:
            mdelta["usage"] = {"output_tokens": r.tokens_out}
            if r.gateway:
                mdelta["usage"]["input_tokens"] = r.tokens_in
        frames.append((_sse(mdelta, "message_delta"), False))
        frames.append((_sse({"type": "message_stop"}, "message_stop"), False))
        return frames
    for p in pieces:
        line = {"model": model, "message": {"role": "assistant", "content": p}, "done": False}
        frames.append(((json.dumps(line) + "\n").encode(), True))
    final: dict[str, Any] = {
        "model": model,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
    }
    if r.usage:
        final["prompt_eval_count"] = r.tokens_in
        final["eval_count"] = r.tokens_out
    frames.append(((json.dumps(final) + "\n").encode(), False))
    return frames


# ---- fleet -----------------------------------------------------------------------------


class FakeFleet:
    """Starts fake providers for one test and stops all of them at the end."""

    def __init__(self) -> None:
        self.servers: list[FakeProvider] = []

    async def __aenter__(self) -> FakeFleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self.servers:
            await server.stop()

    async def start(
        self, fmt: str, *script: Behaviour, default: Behaviour | None = None
    ) -> FakeProvider:
        fake = FakeProvider(fmt, list(script), default if default is not None else Reply())
        self.servers.append(fake)
        return await fake.start()


def dead_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
