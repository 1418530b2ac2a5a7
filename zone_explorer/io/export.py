"""Trials as CSV or JSON: one row per trial, the optimizer's full config in columns."""

from __future__ import annotations

import csv
import io
import json

from zone_explorer.store.models import Job
from zone_explorer.store.trials import load_trials

__all__ = ["export_trials"]

_BASE = (
    "number",
    "state",
    "outcome",
    "value",
    "value_std",
    "seed_values",
    "reason",
    "datetime_start",
    "datetime_complete",
)


def export_trials(url: str, job: Job, fmt: str) -> str:
    rows = [t.to_dict() for t in load_trials(url, job.study_name)]
    if fmt == "json":
        return (
            json.dumps({"job": job.id, "task": job.task, "optimizer": job.optimizer, "trials": rows}, indent=1) + "\n"
        )
    if fmt != "csv":
        raise ValueError(f"format must be 'csv' or 'json', got {fmt!r}")
    config_keys = sorted({k for r in rows for k in r["config"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_BASE, *config_keys])
    for r in rows:
        seed_values = r["seed_values"]
        base = [
            r[k] if k != "seed_values" else (";".join(map(repr, seed_values)) if seed_values else None) for k in _BASE
        ]
        writer.writerow(
            ["" if v is None else v for v in base]
            + ["" if r["config"].get(k) is None else r["config"][k] for k in config_keys]
        )
    return out.getvalue()
