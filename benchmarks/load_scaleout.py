"""Load on the scale-out layout: 20 concurrent clients poll job status and read zones while 3 workers run a job.

Starts, on loopback and the machine's PostgreSQL (a fresh database, dropped afterwards): one API process
(`zone-explorer serve --workers 0`) and three `zone-explorer worker` processes; this process is the load
generator. Bounded in time; reports p50/p99 latency and the error count (target: zero errors, p99 <= 250 ms).

    python benchmarks/load_scaleout.py [--seconds 30] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from loadgen import HTTPConnection, random_contribution  # noqa: E402

from zone_explorer.store.db import init_db  # noqa: E402
from zone_explorer.store.tokens import create_token  # noqa: E402

ADMIN = os.environ.get("ZONE_EXPLORER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "zone_explorer.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _load(base: str, paths: list[str], clients: int, seconds: float) -> tuple[dict[str, list[float]], list[str]]:
    """``clients`` users, each on its own keep-alive connection, each waiting 50 ms between requests: half of
    them only poll the job's status, the others also read the zone and its summary in turn."""
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        conn = HTTPConnection(base, timeout=30)
        n = 0
        while time.monotonic() < stop:
            path = paths[n % len(paths)] if i % 2 else paths[0]
            n += 1
            start = time.perf_counter()
            try:
                status, _ = await conn.request("GET", path)
                problem = None if status == 200 else f"{status} {path}"
            except (ConnectionError, asyncio.TimeoutError) as e:
                problem = f"{type(e).__name__} {path}"
            latencies[path].append(time.perf_counter() - start)
            if problem:
                errors.append(problem)
            await asyncio.sleep(0.05)
        conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


def _wait_for_workers(base: str, job_id: str, workers: int, timeout: float = 120.0) -> float:
    """Seconds until every worker is running a trial of the job: the load is measured while they run it, not
    while they start (a starting worker imports torch and checks the schema, seconds of CPU each)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        progress = httpx.get(f"{base}/api/v1/jobs/{job_id}", timeout=30).json()["progress"]
        if progress["running"] >= workers:
            return time.monotonic() - start
        time.sleep(0.2)
    raise RuntimeError(f"{workers} workers were not all running trials after {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    name = f"ze_load_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = init_db(ADMIN.rsplit("/", 1)[0] + "/" + name)
    procs: list[subprocess.Popen] = []
    try:
        _, token = create_token(url, "load benchmark", "submit,contribute")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs.append(cli("serve", "--workers", "0", "--port", str(port), "--db", url, "--log-level", "warning"))
        for _ in range(60):
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        auth = {"Authorization": f"Bearer {token}"}
        rng = random.Random(0)
        seed = [random_contribution(rng, "load benchmark") for _ in range(300)]
        httpx.post(
            f"{base}/api/v1/contributions/batch", json={"contributions": seed}, headers=auth, timeout=60
        ).raise_for_status()
        job = httpx.post(
            f"{base}/api/v1/jobs",
            headers=auth,
            timeout=60,
            json={"task": "noisy-quadratic", "optimizer": "fsgdm", "n_trials": 2000, "epochs": 3, "sampler": "random"},
        ).json()
        procs += [cli("worker", "--db", url) for _ in range(args.workers)]
        started = _wait_for_workers(base, job["id"], args.workers)

        paths = [
            f"/api/v1/jobs/{job['id']}",
            "/api/v1/zones/noisy-quadratic/fsgdm",
            "/api/v1/zones/noisy-quadratic/fsgdm/summary",
        ]
        latencies, errors = asyncio.run(_load(base, paths, args.clients, args.seconds))
        done = httpx.get(f"{base}/api/v1/jobs/{job['id']}", timeout=30).json()["progress"]["finished"]
        every = [t for ts in latencies.values() for t in ts]
        qs = statistics.quantiles(every, n=100)
        print(
            f"# {args.clients} clients for {args.seconds:g} s against 1 API + {args.workers} workers on PostgreSQL "
            f"(loopback); the workers were all running trials {started:.1f} s after their start, and {done} trials "
            "finished meanwhile"
        )
        print(f"requests: {len(every)} ({len(every) / args.seconds:.0f}/s), errors: {len(errors)}")
        print(f"latency p50 {qs[49] * 1e3:.1f} ms, p99 {qs[98] * 1e3:.1f} ms   (target: 0 errors, p99 <= 250 ms)")
        for path, ts in latencies.items():
            q = statistics.quantiles(ts, n=100)
            print(
                f"  {path:<48} n={len(ts):5d}  p50 {q[49] * 1e3:7.1f} ms  p99 {q[98] * 1e3:7.1f} ms  max {max(ts) * 1e3:7.1f} ms"
            )
        if errors:
            print("first errors:", errors[:5])
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
