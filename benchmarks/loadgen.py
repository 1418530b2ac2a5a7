"""A lean HTTP/1.1 load client for the benchmarks: keep-alive connections over asyncio streams.

The server under test shares the machine's 2 cores with the load generator, so the client's own CPU is taken
from the server. httpx's AsyncClient spends about 2 ms of CPU per request here, as much as our whole submission
path; this client spends a small fraction of that, which is closer to clients on other machines. Pass
``--client httpx`` to the benchmarks that offer it to measure with httpx instead.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any
from urllib.parse import urlsplit


def random_contribution(rng: random.Random, notes: str, **extra: Any) -> dict[str, Any]:
    """A valid contribution body for FSGDM on noisy-quadratic: a random configuration in the default space and a
    random value (``extra``: more fields, e.g. a budget)."""
    return {
        "task": "noisy-quadratic",
        "optimizer": "fsgdm",
        "value": rng.uniform(0.05, 2.0),
        "seeds": [0],
        "config": {
            "c_scaling": 10 ** rng.uniform(-2.3, 0.3),
            "v_coefficient": 10 ** rng.uniform(-1.3, 1.7),
            "lr": 0.01,
            "weight_decay": 5e-4,
        },
        "source": {"notes": notes},
        **extra,
    }


class HTTPConnection:
    """One keep-alive connection; requests on it are sequential (use one per concurrent user)."""

    def __init__(self, base: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, *, body: bytes = b"", json_body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body). Raises ``ConnectionError`` or ``asyncio.TimeoutError`` on transport failures."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in {**self.headers, **(headers or {})}.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return await asyncio.wait_for(self._exchange(head + body), self.timeout)

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        try:
            self._writer.write(data)
            await self._writer.drain()
            status, close, body = await self._read_response()
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            self.close()
            raise ConnectionError(str(err)) from None
        if close:
            self.close()
        return status, body

    async def _read_response(self) -> tuple[int, bool, bytes]:
        reader = self._reader
        assert reader is not None
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        fields = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        return status, fields.get("connection", "").lower() == "close", body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
