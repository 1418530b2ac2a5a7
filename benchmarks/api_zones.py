"""Zone data over HTTP for a 10,000-trial study, side by side with optuna-dashboard on the same storage.

    python3 benchmarks/api_zones.py [--backend sqlite|postgres|both] [--trials 10000] [--requests 200] [--db URL]

For each backend: one study (written through Optuna's storage API, attached to a job made by create_job), then
two servers on loopback reading that same database: ours (`uvicorn --factory server.app:create_app`, API only)
and `optuna-dashboard`. This process is the client and times sequential GETs of

* ours: `GET /api/v1/zones/digits-cnn/fsgdm` (the zone map, best configs, marginals, importance, K);
* optuna-dashboard: `GET /api/studies/{id}` (its study detail: every trial, what its pages draw from).

The first request of each is reported apart (ours computes the analysis then, and caches it per data version;
optuna-dashboard fills its trial cache); the figures are over the requests after it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import httpx
import sqlalchemy as sa
from api_common import build_study, database, fmt, free_port, percentiles, server, zone_explorer_server

from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import Job


def reuse_study(url: str, trials: int):
    """An earlier run's study in a database given with --db (building one takes a minute or two)."""
    with session_scope(url) as s:
        return s.scalars(
            sa.select(Job).where(Job.task == "digits-cnn", Job.optimizer == "fsgdm", Job.n_trials == trials)
        ).first()


def timed_gets(base: str, path: str, n: int) -> tuple[float, list[float], int]:
    with httpx.Client(base_url=base, timeout=300) as client:
        t0 = time.perf_counter()
        first = client.get(path)
        cold = time.perf_counter() - t0
        first.raise_for_status()
        size = len(first.content)
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get(path)
            samples.append(time.perf_counter() - t0)
            r.raise_for_status()
    return cold, samples, size


def run(backend: str, trials: int, requests: int, dashboard_requests: int, db: str | None) -> dict:
    with contextlib.nullcontext(init_db(db)) if db else database(backend) as url:
        job = reuse_study(url, trials)
        if job is None:
            t0 = time.perf_counter()
            job = build_study(url, trials)
            print(
                f"[{backend}] built a {trials}-trial study in {time.perf_counter() - t0:.1f} s ({url.split('@')[-1]})"
            )
        port = free_port()
        env = {"ZONE_EXPLORER_DATABASE_URL": url, "ZONE_EXPLORER_WORKERS": "0"}
        with server(zone_explorer_server(url, port), port, env) as base:
            cold, ours, size = timed_gets(base, "/api/v1/zones/digits-cnn/fsgdm", requests)
        ours_stats = percentiles(ours)
        print(
            f"[{backend}] zone-explorer  GET /api/v1/zones/digits-cnn/fsgdm   first {cold * 1000:8.1f} ms, then {fmt(ours_stats)}, {size / 1024:.0f} KiB"
        )
        port = free_port()
        cmd = [
            sys.executable,
            "-c",
            "from optuna_dashboard._cli import main; main()",
            url,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--quiet",
        ]
        with server(cmd, port, ready="/api/studies") as base:
            studies = httpx.get(f"{base}/api/studies", timeout=60).json()["study_summaries"]
            study_id = next(s["study_id"] for s in studies if s["study_name"] == job.study_name)
            dcold, theirs, dsize = timed_gets(base, f"/api/studies/{study_id}", dashboard_requests)
        theirs_stats = percentiles(theirs)
        print(
            f"[{backend}] optuna-dashboard GET /api/studies/{study_id}              first {dcold * 1000:8.1f} ms, then {fmt(theirs_stats)}, {dsize / 1024:.0f} KiB"
        )
        ratio = theirs_stats["p50"] / ours_stats["p50"]
        print(
            f"[{backend}] zone data p50 {ours_stats['p50']:.1f} ms (target <= 100 ms): "
            f"{ratio:.0f}x faster than optuna-dashboard's study detail (target >= 5x)"
        )
        return {"ours": ours_stats, "dashboard": theirs_stats, "ratio": ratio}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--dashboard-requests", type=int, default=20)
    ap.add_argument("--db", help="keep the study in this database and reuse it next time (one backend only)")
    args = ap.parse_args()
    print(f"zone data benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    backends = ("sqlite", "postgres") if args.backend == "both" and not args.db else (args.backend,)
    for backend in backends:
        run(backend, args.trials, args.requests, args.dashboard_requests, args.db)


if __name__ == "__main__":
    main()
