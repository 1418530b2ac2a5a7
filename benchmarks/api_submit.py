"""Job submission over HTTP: sustained requests/s and latency percentiles, on SQLite and PostgreSQL.

    python3 benchmarks/api_submit.py [--backend sqlite|postgres|both] [--duration 20] [--concurrency 8]

Our API (`uvicorn --factory server.app:create_app`, no embedded workers, rate limit off) runs in its own process;
this process is the load generator: ``--concurrency`` asyncio clients each POST /api/v1/jobs (a valid job with a
fresh Idempotency-Key, as the Python client sends it) back to back for ``--duration`` seconds after a warm-up,
over keep-alive connections of the lean client in ``loadgen.py`` (``--client httpx`` for httpx, which costs the
server about a third of the 2 cores it shares with it).
Every submission creates a job row and its Optuna study. Prints the rate of 202 answers, the slowest one-second
window, and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter

import httpx
from api_common import database, fmt, free_port, percentiles, server, zone_explorer_server
from loadgen import HTTPConnection

from zone_explorer.store.tokens import create_token

JOB = {"task": "noisy-quadratic", "optimizer": "fsgdm", "n_trials": 20, "sampler": "random", "epochs": 2}


async def load(
    base: str, token: str, concurrency: int, warmup: float, duration: float, client: str
) -> tuple[list, list, Counter]:
    latencies: list[float] = []
    finished_at: list[float] = []
    statuses: Counter = Counter()
    auth = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def user(post) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                status = await post()
            except (httpx.TransportError, ConnectionError, asyncio.TimeoutError) as err:  # counted, not fatal
                status = type(err).__name__
            t1 = time.perf_counter()
            if t0 >= measure_from:
                statuses[status] += 1
                if status == 202:
                    latencies.append(t1 - t0)
                    finished_at.append(t1 - measure_from)

    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, headers=auth, limits=limits, timeout=60) as http:

            async def post() -> int:
                r = await http.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": uuid.uuid4().hex})
                return r.status_code

            await asyncio.gather(*(user(post) for _ in range(concurrency)))
    else:
        connections = [HTTPConnection(base, auth) for _ in range(concurrency)]

        def poster(conn: HTTPConnection):
            async def post() -> int:
                status, _ = await conn.request(
                    "POST", "/api/v1/jobs", json_body=JOB, headers={"Idempotency-Key": uuid.uuid4().hex}
                )
                return status

            return post

        await asyncio.gather(*(user(poster(c)) for c in connections))
        for c in connections:
            c.close()
    return latencies, finished_at, statuses


def run(
    backend: str, duration: float, warmup: float, concurrency: int, server_cpus: set[int] | None, client: str
) -> None:
    with database(backend) as url:
        token = create_token(url, "bench", "submit")[1]
        port = free_port()
        env = {"ZONE_EXPLORER_DATABASE_URL": url, "ZONE_EXPLORER_WORKERS": "0", "ZONE_EXPLORER_RATE_LIMIT": "0"}
        with server(zone_explorer_server(url, port), port, env, cpus=server_cpus) as base:
            latencies, finished_at, statuses = asyncio.run(load(base, token, concurrency, warmup, duration, client))
    ok = len(latencies)
    per_second = Counter(int(t) for t in finished_at if t < duration)
    slowest = min(per_second.get(s, 0) for s in range(int(duration)))
    stats = percentiles(latencies)
    print(
        f"[{backend}] {ok / duration:7.1f} submissions/s sustained over {duration:g} s (slowest second {slowest}/s), "
        f"concurrency {concurrency}, {client} client; latency {fmt(stats)}; answers {dict(statuses)}"
    )
    print(
        f"[{backend}] targets: >= 200 requests/s ({'met' if ok / duration >= 200 else 'NOT met'}), "
        f"p99 <= 100 ms ({'met' if stats['p99'] <= 100 else 'NOT met'})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: the lean keep-alive client of loadgen.py (default); httpx: httpx.AsyncClient",
    )
    ap.add_argument("--server-cpus", help="pin the server to these CPUs, e.g. 0,1 (default: no pinning)")
    args = ap.parse_args()
    cpus = {int(c) for c in args.server_cpus.split(",")} if args.server_cpus else None
    print(f"submission benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        run(backend, args.duration, args.warmup, args.concurrency, cpus, args.client)


if __name__ == "__main__":
    main()
