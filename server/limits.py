"""Request body size limit (413), enforced before any route parses the body.

A pure ASGI middleware: it reads the body up to the limit (so chunked uploads without Content-Length are capped
too) and replays it to the app. An oversized body is drained rather than cut off, so the client reads the 413
instead of a reset connection; bodies declared beyond ``hard_cap`` are refused without reading.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, hard_cap: int = 64 * 1024 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.hard_cap = max(hard_cap, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
                if size < 0:
                    raise ValueError
            except ValueError:
                await _reply(send, 400, "Content-Length must be a non-negative integer", "Content-Length")
                return
            if size > self.hard_cap:
                await self._too_large(send, size)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total <= self.max_bytes:
                chunks.append(body)
            elif total > self.hard_cap:
                break
            if not message.get("more_body", False):
                break
        if total > self.max_bytes:
            await self._too_large(send, total)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, size: int) -> None:
        await _reply(
            send,
            413,
            f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes "
            "(ZONE_EXPLORER_MAX_BODY_BYTES); split a batch into smaller ones",
            "body",
            error="payload_too_large",
        )


async def _reply(send: Send, status: int, detail: str, field: str | None, *, error: str = "bad_request") -> None:
    payload = json.dumps({"error": error, "detail": detail, "field": field}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
