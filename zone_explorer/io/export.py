"""Trials as CSV or JSON: one row per trial, the optimizer's full config in columns.

Each CSV row also says where it comes from (job id, task, optimizer) and its budget (epochs, seeds), so that rows of
several jobs can be pasted into one sheet; for FSGDM a ``K`` column holds the zone constant v(1 + 1/c).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from zone_explorer.core.zone_constant import zone_constant
from zone_explorer.store.models import Job
from zone_explorer.store.trials import load_trials

__all__ = ["export_trials"]

#: the job's columns, the same on every row
_JOB = ("job_id", "task", "optimizer", "epochs", "seeds")
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
    "device",
)
#: the optimizer whose configs have a zone constant K, and its two parameters
_K_OPTIMIZER, _C, _V = "fsgdm", "c_scaling", "v_coefficient"


def _k(config: Mapping[str, Any]) -> float | None:
    """FSGDM's K for one trial's config; None where c or v is missing or K is not finite (c = 0)."""
    c, v = config.get(_C), config.get(_V)
    if not isinstance(c, (int, float)) or not isinstance(v, (int, float)):
        return None
    k = float(zone_constant(np.float64(c), np.float64(v)))  # numpy floats: c = 0 gives inf, not ZeroDivisionError
    return k if math.isfinite(k) else None


def export_trials(url: str, job: Job, fmt: str) -> str:
    rows = [t.to_dict() for t in load_trials(url, job.study_name)]
    if fmt == "json":
        return (
            json.dumps(
                {
                    "job": job.id,
                    "task": job.task,
                    "optimizer": job.optimizer,
                    "epochs": job.epochs,
                    "seeds": job.seeds,
                    "trials": rows,
                },
                indent=1,
            )
            + "\n"
        )
    if fmt != "csv":
        raise ValueError(f"format must be 'csv' or 'json', got {fmt!r}")
    config_keys = sorted({k for r in rows for k in r["config"]})
    with_k = job.optimizer == _K_OPTIMIZER
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_JOB, *_BASE, *(["K"] if with_k else []), *config_keys])
    job_cells = [job.id, job.task, job.optimizer, job.epochs, ";".join(map(str, job.seeds))]
    for r in rows:
        cells = {
            **r,
            "seed_values": ";".join(map(repr, r["seed_values"])) if r["seed_values"] else None,
            "device": (r["environment"] or {}).get("device"),  # the rest of where it ran is in the JSON export
        }
        base = [cells[k] for k in _BASE]
        k_cell = [_k(r["config"])] if with_k else []
        writer.writerow(
            job_cells
            + ["" if v is None else v for v in [*base, *k_cell]]
            + ["" if r["config"].get(k) is None else r["config"][k] for k in config_keys]
        )
    return out.getvalue()
