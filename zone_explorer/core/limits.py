"""Validation limits, declared once: the engine enforces them; the REST schemas and the CLI describe them."""

from __future__ import annotations

import os

__all__ = [
    "CONTRIBUTED_TASK_NAME",
    "INT32_MAX",
    "MAX_AXIS_STEPS",
    "MAX_CHOICES",
    "MAX_DIMENSION_BOUND",
    "MAX_GRID_POINTS",
    "MAX_CONTRIBUTED_EPOCHS",
    "MAX_CURVE",
    "MAX_DEVICES",
    "MAX_EPOCHS",
    "MAX_FILTER_CURVES",
    "MAX_QUERY_JSON",
    "MAX_QUERY_JSON_DEPTH",
    "MAX_IMPORTED_TEXT",
    "MAX_SEEDS",
    "MAX_LONG_TEXT",
    "MAX_METRIC_NAME",
    "MAX_NAME",
    "MAX_NOTES",
    "MAX_SHORT_TEXT",
    "PRUNERS",
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "max_imported_study_trials",
    "max_job_epochs",
    "max_owner_active_jobs",
    "max_owner_queued_epochs",
    "max_trials",
]

#: the samplers and pruners a job may name (each is built by :mod:`zone_explorer.engine.studies`)
#: the samplers a job may use; ``zone`` (the default) maps the zone, the others are Optuna's
SAMPLERS = ("zone", "tpe", "gp", "cmaes", "qmc", "random", "grid")
DEFAULT_SAMPLER = "zone"
PRUNERS = ("median", "hyperband", "none")
#: seeds a job or a contribution may list (each configuration trains once per seed)
MAX_SEEDS = 16
#: devices one worker runs trials on at once (`worker --devices`, `serve --devices`)
MAX_DEVICES = 64
#: epochs per trial of a job
MAX_EPOCHS = 1000
#: seeds, sampler seeds and step counts fit a signed 32-bit integer (every RNG and database column takes one)
INT32_MAX = 2**31 - 1
#: a searched dimension's ``low``, ``high`` and ``step`` are at most this in magnitude: Optuna stores every value as
#: a float, which keeps an integer exact up to 2**53, and the width of a range stays finite
MAX_DIMENSION_BOUND = 10**15
#: steps of a float dimension with a ``step``, (high - low) / step: a finer step is continuous in all but cost
MAX_AXIS_STEPS = 10**9
#: choices of a categorical dimension
MAX_CHOICES = 100
#: points of a grid job's grid: every worker of the job holds them all (with n_trials, the grid also has at least
#: 2 values per numeric axis and every choice of a categorical one)
MAX_GRID_POINTS = 200_000
#: a contribution's learning curve (one value per epoch or report) and its epoch budget
MAX_CURVE = 10_000
MAX_CONTRIBUTED_EPOCHS = 100_000
#: the name of a task a contributor describes: lower case, digits, ``.``, ``_`` and ``-``, at most 64 characters
CONTRIBUTED_TASK_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
#: characters of free text a request may send: names and DOIs, a new task's metric, one-line descriptions
#: (dataset, model, hardware, software), long ones (a task's description, a URL), and notes
MAX_NAME = 200
MAX_METRIC_NAME = 100
MAX_SHORT_TEXT = 500
MAX_LONG_TEXT = 2000
MAX_NOTES = 5000
#: a JSON value sent in a query parameter (the pages' ``config=``): characters, and nesting of arrays and objects
#: (checked before parsing: a deeper one would cost a RecursionError, not a 422); its integers fit 64 bits
MAX_QUERY_JSON = 4000
MAX_QUERY_JSON_DEPTH = 8
#: FSGDM stages the filter page draws (evenly spread, first and last included): only those are computed, so a run
#: of any length (``n_stages`` and ``sigma`` up to INT32_MAX) costs the same
MAX_FILTER_CURVES = 24
#: characters of one text cell, or of one attribute as JSON, in a dump that `zone-explorer import` reads (a column
#: with a declared length keeps that length)
MAX_IMPORTED_TEXT = 100_000


def max_trials() -> int:
    """The cap on ``n_trials`` per job (``ZONE_EXPLORER_MAX_TRIALS``, default 100000), read when a job is parsed."""
    return int(os.environ.get("ZONE_EXPLORER_MAX_TRIALS", "100000"))


def max_job_epochs() -> int:
    """The cap on a job's training epochs, ``n_trials x epochs x len(seeds)`` (``ZONE_EXPLORER_MAX_JOB_EPOCHS``,
    default 10000000), read when a job is parsed: one job cannot queue years of work."""
    return int(os.environ.get("ZONE_EXPLORER_MAX_JOB_EPOCHS", "10000000"))


def max_owner_active_jobs() -> int:
    """Per-token quota: jobs one owner (the token that submits them) may have queued or running at once
    (``ZONE_EXPLORER_MAX_OWNER_ACTIVE_JOBS``, default 100), checked when a job is submitted through the API."""
    return int(os.environ.get("ZONE_EXPLORER_MAX_OWNER_ACTIVE_JOBS", "100"))


def max_owner_queued_epochs() -> int:
    """Per-token quota: training epochs one owner may have waiting, summed over its queued and running jobs as
    ``(n_trials - finished trials) x epochs x seeds`` (``ZONE_EXPLORER_MAX_OWNER_QUEUED_EPOCHS``, default 50000000,
    five full-size jobs), checked when a job is submitted through the API."""
    return int(os.environ.get("ZONE_EXPLORER_MAX_OWNER_QUEUED_EPOCHS", "50000000"))


def max_imported_study_trials() -> int:
    """Trials one study of a dump may bring to `zone-explorer import` (``ZONE_EXPLORER_MAX_IMPORTED_TRIALS``,
    default twice :func:`max_trials`: a job's trials, with room for lost ones and their retries). A study with more
    refuses the whole dump before any trial is built."""
    return int(os.environ.get("ZONE_EXPLORER_MAX_IMPORTED_TRIALS", str(2 * max_trials())))
