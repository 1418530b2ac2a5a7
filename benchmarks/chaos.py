"""Chaos on the scale-out layout: random SIGKILLs of the workers and of the API while clients submit, contribute
and read; then an audit of the database for anything lost or duplicated.

Starts, on loopback and the machine's PostgreSQL (a fresh database, dropped afterwards): one API process
(`zone-explorer serve --workers 0`, on a socket this process holds, so a restarted API serves the same port and
clients wait in the listen queue meanwhile) and three `zone-explorer worker` processes. For ``--seconds``, a chaos
thread SIGKILLs a random worker or the API every few seconds and starts a new one; client threads (two tokens, so
two owners) submit small jobs and contributions, each with an Idempotency-Key they reuse until the write is
acknowledged (as the CLI's client does), and read jobs, their trials and contributions. Then every job is left to finish and the
database is audited. Bounded: the chaos lasts ``--seconds``, the drain at most ``--drain`` seconds.

Reports, each of which must be 0: acknowledged writes lost (a job or contribution whose id was answered but is
not stored), duplicates (a write stored twice, a trial counted twice, a job with more results than trials),
configurations lost (a lost trial whose configuration never ran again, a finished job with a RUNNING or WAITING
trial left) and 5xx answers; and the p50/p99 latency of the answered requests.

    python benchmarks/chaos.py [--seconds 60] [--clients 4] [--workers 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from loadgen import random_contribution  # noqa: E402

from zone_explorer.store.db import get_engine, init_db  # noqa: E402
from zone_explorer.store.tokens import create_token  # noqa: E402

ADMIN = os.environ.get("ZONE_EXPLORER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
JOB = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 3, "sampler": "random", "n_trials": 4}
FINISHED = ("complete", "pruned", "diverged", "invalid", "error")


def cli(*args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zone_explorer.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=pass_fds,
    )


class Layout:
    """One API and ``n`` workers on ``url``; any of them may be killed and restarted."""

    def __init__(self, url: str, n_workers: int) -> None:
        self.url = url
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = [self._worker() for _ in range(n_workers)]
        self.kills: Counter[str] = Counter()

    def _worker(self) -> subprocess.Popen:
        return cli("worker", "--db", self.url, "--heartbeat", "0.5", "--grace", "5")

    def start_api(self, wait: float = 120.0) -> None:
        fd = self.listener.fileno()
        self.api = cli(
            "serve", "--workers", "0", "--fd", str(fd), "--db", self.url, "--log-level", "warning", pass_fds=(fd,)
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited with {self.api.returncode}")
            time.sleep(0.2)
        raise RuntimeError("the API did not become ready")

    def kill_one(self, rng: random.Random) -> str:
        """SIGKILL the API (every third kill) or a random worker, and start its successor."""
        if sum(self.kills.values()) % 3 == 2 and self.api is not None:
            self.api.kill()
            self.api.wait()
            self.kills["api"] += 1
            self.start_api()
            return "api"
        i = rng.randrange(len(self.workers))
        self.workers[i].kill()
        self.workers[i].wait()
        self.kills["worker"] += 1
        self.workers[i] = self._worker()
        return "worker"

    def close(self) -> None:
        for p in [*self.workers, self.api]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.workers, self.api]:
            if p is None:
                continue
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.listener.close()


@dataclass
class Tally:
    """What the clients saw: acknowledged ids, answers by status, latencies of answered requests."""

    jobs: dict[str, str] = field(default_factory=dict)  #: idempotency key -> job id
    contributions: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, status: int, seconds: float, what: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)
            kind = what.split(":", 1)[0]
            if "/jobs/" in kind:
                kind = kind.split("/jobs/", 1)[0] + "/jobs/{id}" + ("/trials" if "/trials" in kind else "")
            self.by_kind.setdefault(kind, []).append(seconds)
            if status >= 500:
                self.server_errors.append(f"{status} {what}")


def _client(base: str, token: str, i: int, tally: Tally, stop: threading.Event, max_jobs: int, seed: int) -> None:
    rng = random.Random(seed * 1000 + i)
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            r = http.request(method, path, **kwargs)
        except httpx.TransportError:  # the API was killed under this request: the client retries
            with tally.lock:
                tally.transport_errors += 1
            return None
        tally.answered(r.status_code, time.perf_counter() - start, f"{method} {path}: {r.text[:200]}")
        return r

    def write(kind: str, method: str, path: str, body: dict[str, Any], ids: dict[str, str]) -> None:
        key = f"chaos-{kind}-{i}-{secrets.token_hex(6)}"
        for _ in range(200):  # until acknowledged, with the same key (a replay returns the first answer)
            r = call(method, path, json=body, headers={"Idempotency-Key": key})
            if r is not None and r.status_code < 300:
                data = r.json()
                with tally.lock:
                    ids[key] = data["id"] if "id" in data else data["items"][0]["id"]
                return
            if r is not None and r.status_code < 500:
                return  # refused (a quota): nothing acknowledged
            time.sleep(0.2)

    n = 0
    while not stop.is_set():
        n += 1
        roll = rng.random()
        if roll < 0.1 and len(tally.jobs) < max_jobs:
            write("job", "POST", "/api/v1/jobs", {**JOB, "sampler_seed": rng.randrange(2**31)}, tally.jobs)
        elif roll < 0.35:
            body = random_contribution(rng, f"chaos client {i}, write {n}", budget={"epochs": 3})
            write("contribution", "POST", "/api/v1/contributions", body, tally.contributions)
        else:
            with tally.lock:
                known = list(tally.jobs.values())
            job = rng.choice(known) if known else None
            # the reads a client polls; zone answers (seconds of model fitting) are load_scaleout.py's to measure
            path = rng.choice(
                [f"/api/v1/jobs/{job}", f"/api/v1/jobs/{job}/trials?limit=20"] if job else ["/api/v1/jobs"]
            )
            path = rng.choice([path, "/api/v1/jobs?limit=20", "/api/v1/contributions?limit=20"])
            call("GET", path)
        time.sleep(rng.uniform(0.02, 0.1))
    http.close()


def _warm_up(base: str, token: str, url: str, n_workers: int) -> str:
    """Before the chaos: a job of one trial per worker, run to its end (the workers' start: imports and schema
    checks), so the figures are of the service at work, not starting up."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "warm-up"}
    job = httpx.post(f"{base}/api/v1/jobs", json={**JOB, "n_trials": n_workers}, headers=headers, timeout=300)
    job.raise_for_status()
    if _wait_finished(url, [job.json()["id"]], 300):
        raise RuntimeError("the warm-up job did not finish in 300 s")
    return job.json()["id"]


def _wait_finished(url: str, job_ids: list[str], timeout: float) -> list[str]:
    """Wait until every job has ended; the ids of those still active at the deadline."""
    deadline = time.monotonic() + timeout
    active = list(job_ids)
    while active and time.monotonic() < deadline:
        with get_engine(url).connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id FROM ze_jobs WHERE status IN ('queued', 'running') AND id = ANY(:ids)"),
                {"ids": active},
            ).scalars()
            active = list(rows)
        time.sleep(1)
    return active


def audit(url: str, tally: Tally) -> dict[str, int]:
    """Count what must be 0, from the database itself."""
    from zone_explorer.store.trials import load_trials

    problems: dict[str, list[str]] = {"lost_writes": [], "duplicates": [], "configurations_lost": []}
    with get_engine(url).connect() as conn:
        jobs = {r.id: r for r in conn.execute(sa.text("SELECT id, status, n_trials, study_name FROM ze_jobs"))}
        contributions = set(conn.execute(sa.text("SELECT id FROM ze_contributions")).scalars())
        job_keys = Counter(
            k.split(":", 1)[1]
            for k in conn.execute(sa.text("SELECT idempotency_key FROM ze_jobs")).scalars()
            if k and ":" in k
        )
        claims = conn.execute(
            sa.text("SELECT job_id, optuna_trial_id FROM ze_trial_claims WHERE status = 'done'")
        ).all()
        fingerprints = Counter(
            conn.execute(sa.text("SELECT fingerprint FROM ze_contributions WHERE status = 'active'")).scalars()
        )
    problems["lost_writes"] += [f"job {j}" for j in tally.jobs.values() if j not in jobs]
    problems["lost_writes"] += [f"contribution {c}" for c in tally.contributions.values() if c not in contributions]
    problems["duplicates"] += [f"job key {k} x{n}" for k, n in job_keys.items() if n > 1]
    problems["duplicates"] += [f"contribution {f} x{n}" for f, n in fingerprints.items() if f and n > 1]
    if len(jobs) != len(set(tally.jobs.values())):
        problems["duplicates"].append(f"{len(jobs)} jobs stored for {len(set(tally.jobs.values()))} acknowledged")
    trial_ids = Counter(t for _, t in claims)
    problems["duplicates"] += [f"trial {t} done by {n} claims" for t, n in trial_ids.items() if n > 1]
    done = Counter(j for j, _ in claims)
    for job_id, job in jobs.items():
        if done[job_id] > job.n_trials:
            problems["duplicates"].append(f"job {job_id}: {done[job_id]} results for {job.n_trials} trials")
        if job.status not in ("completed", "failed"):
            problems["configurations_lost"].append(f"job {job_id} still {job.status} after the drain")
            continue
        trials = load_trials(url, job.study_name)
        finished = [t for t in trials if t.attrs.get("outcome") in FINISHED]
        if len(finished) != job.n_trials or done[job_id] != job.n_trials:
            problems["configurations_lost"].append(f"job {job_id}: {len(finished)} results for {job.n_trials}")
        left = [t.number for t in trials if t.state in ("RUNNING", "WAITING")]
        if left:
            problems["configurations_lost"].append(f"job {job_id}: trials {left} left running or waiting")
        # a lost trial that held a configuration (drawn, or given as a retry) is queued again as a new trial, which
        # may be lost too and queued again: each lost one needs its retry, and the chain ends in a result (counted)
        retried = {t.attrs.get("retry_of") for t in trials}
        for t in trials:
            held = bool(t.params) or "retry_of" in t.attrs
            if t.attrs.get("outcome") == "lost" and held and t.number not in retried:
                problems["configurations_lost"].append(f"job {job_id}: lost trial {t.number} never rerun")
    for kind, items in problems.items():
        for item in items[:5]:
            print(f"  {kind}: {item}")
    return {k: len(v) for k, v in problems.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the chaos lasts")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=6.0, help="mean seconds between two SIGKILLs")
    parser.add_argument("--max-jobs", type=int, default=24, help="jobs the clients submit at most")
    parser.add_argument("--drain", type=float, default=300.0, help="seconds left to the jobs to finish afterwards")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    name = f"ze_chaos_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    layout: Layout | None = None
    try:
        url = init_db(ADMIN.rsplit("/", 1)[0] + "/" + name)
        tokens = [create_token(url, f"chaos {i}", "submit,contribute")[1] for i in range(2)]
        layout = Layout(url, args.workers)
        layout.start_api()
        tally, stop = Tally(), threading.Event()
        warm = _warm_up(layout.base, tokens[0], url, args.workers)
        tally.jobs["warm-up"] = warm
        clients = [
            threading.Thread(
                target=_client,
                args=(layout.base, tokens[i % 2], i, tally, stop, args.max_jobs, args.seed),
                name=f"client-{i}",
            )
            for i in range(args.clients)
        ]
        for t in clients:
            t.start()
        rng = random.Random(args.seed)
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            time.sleep(min(rng.expovariate(1 / args.kill_every), max(end - time.monotonic(), 0)))
            if time.monotonic() < end:
                layout.kill_one(rng)
        stop.set()
        for t in clients:
            t.join(timeout=300)
        started = time.monotonic()
        unfinished = _wait_finished(url, list(tally.jobs.values()), args.drain)
        drained = time.monotonic() - started
        print(
            f"# {args.seconds:g} s of chaos on 1 API + {args.workers} workers on PostgreSQL (loopback), "
            f"{args.clients} clients on 2 tokens; SIGKILLs: {layout.kills['worker']} workers, {layout.kills['api']} "
            f"API; then {drained:.0f} s for the jobs to finish ({len(unfinished)} did not)"
        )
        print(
            f"acknowledged: {len(tally.jobs)} jobs, {len(tally.contributions)} contributions; requests answered: "
            f"{sum(tally.statuses.values())} ({dict(sorted(tally.statuses.items()))}), cut by a kill and retried: "
            f"{tally.transport_errors}"
        )
        counts = audit(url, tally)
        qs = statistics.quantiles(tally.latencies, n=100) if len(tally.latencies) > 1 else [0.0] * 99
        print(
            f"acknowledged writes lost: {counts['lost_writes']}, duplicates: {counts['duplicates']}, "
            f"configurations lost: {counts['configurations_lost']}, 5xx: {len(tally.server_errors)}"
        )
        print(f"latency of answered requests: p50 {qs[49] * 1e3:.0f} ms, p99 {qs[98] * 1e3:.0f} ms")
        for kind, ts in sorted(tally.by_kind.items()):
            print(
                f"  {kind:<48} n={len(ts):4d}  median {statistics.median(ts) * 1e3:7.0f} ms  max {max(ts) * 1e3:7.0f} ms"
            )
        for e in tally.server_errors[:5]:
            print("  5xx:", e)
        bad = sum(counts.values()) + len(tally.server_errors)
    finally:
        if layout is not None:
            layout.close()
        from zone_explorer.store.db import get_engine as engines

        engines.cache_clear()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
