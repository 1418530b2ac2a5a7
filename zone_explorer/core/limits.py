"""Validation limits, declared once: the engine enforces them; the REST schemas and the CLI describe them."""

from __future__ import annotations

import os

__all__ = [
    "CONTRIBUTED_TASK_NAME",
    "INT32_MAX",
    "MAX_CONTRIBUTED_EPOCHS",
    "MAX_CURVE",
    "MAX_EPOCHS",
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
    "max_trials",
]

#: the samplers and pruners a job may name (each is built by :mod:`zone_explorer.engine.studies`)
#: the samplers a job may use; ``zone`` (the default) maps the zone, the others are Optuna's
SAMPLERS = ("zone", "tpe", "gp", "cmaes", "qmc", "random", "grid")
DEFAULT_SAMPLER = "zone"
PRUNERS = ("median", "hyperband", "none")
#: seeds a job or a contribution may list (each configuration trains once per seed)
MAX_SEEDS = 16
#: epochs per trial of a job
MAX_EPOCHS = 1000
#: seeds, sampler seeds and step counts fit a signed 32-bit integer (every RNG and database column takes one)
INT32_MAX = 2**31 - 1
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
#: characters of one text cell, or of one attribute as JSON, in a dump that `zone-explorer import` reads (a column
#: with a declared length keeps that length)
MAX_IMPORTED_TEXT = 100_000


def max_trials() -> int:
    """The cap on ``n_trials`` per job (``ZONE_EXPLORER_MAX_TRIALS``, default 100000), read when a job is parsed."""
    return int(os.environ.get("ZONE_EXPLORER_MAX_TRIALS", "100000"))
