"""Contributed results: a result is comparable only with its context (the OpenML idea), so a contribution names

* a **task**: a registered one by name, or a new one described by ``name``, ``dataset``, ``model``, ``metric``,
  ``direction`` and ``description`` (stored once; later results name it by string);
* an **optimizer** and its **config**. The hyperparameters of the optimizer's default search space (its searched
  axes and its fixed values, see :func:`required_hyperparameters`) are required; every other one is filled in,
  the run-length ones (FSGDM's ``sigma``/``n_stages``, AutoSGM's ``tau``/``spe``) from the task and the epochs
  as the engine does for its own trials, the rest with the registry defaults. The full config is stored
  (``given`` keeps the names the contributor gave), validated by the registry's domains like any searched one;
* the finite metric **value** (in the task's metric and direction, within its range: an accuracy in [0, 1], a loss
  >= 0; a new task may declare ``metric_low``/``metric_high``), optionally the learning **curve**, the
  **budget** (``epochs``, ``steps``; epochs default to the task's for a registered task), the **seeds**,
  **hardware** and **software**, and a **source** (``doi``, ``url`` and/or ``notes``; at least one).

One module per job: :mod:`~zone_explorer.contrib.validation` checks a contribution,
:mod:`~zone_explorer.contrib.csv_rows` reads CSV uploads, :mod:`~zone_explorer.contrib.storage` stores, edits and
reads them (a result is never stored twice), :mod:`~zone_explorer.contrib.requests` keeps the Idempotency-Keys, :mod:`~zone_explorer.contrib.verification` reruns them and records verdicts, and
:mod:`~zone_explorer.contrib.catalog` lists tasks and optimizers.
"""

from zone_explorer.contrib.catalog import describe_optimizer, describe_task, list_optimizers, list_tasks
from zone_explorer.contrib.csv_rows import CSV_COLUMNS, rows_from_csv
from zone_explorer.contrib.requests import RequestKey
from zone_explorer.contrib.storage import (
    EDITABLE,
    Stored,
    add_contributions,
    add_csv,
    contribution_to_dict,
    edit_contribution,
    get_contribution,
    list_contributions,
    store_contributions,
    withdraw_contribution,
)
from zone_explorer.contrib.validation import (
    ContributionError,
    TaskContext,
    contribution_bounds,
    is_lookup_name,
    required_hyperparameters,
    task_contexts,
)
from zone_explorer.contrib.verification import (
    VERIFY_ATOL,
    VERIFY_RTOL,
    VERIFY_STD_FACTOR,
    check_may_cancel_rerun,
    record_ended_verifications,
    record_verdicts,
    request_verification,
    verdict_for,
)
from zone_explorer.core.errors import NotFound

__all__ = [
    "CSV_COLUMNS",
    "EDITABLE",
    "ContributionError",
    "NotFound",
    "RequestKey",
    "Stored",
    "TaskContext",
    "VERIFY_ATOL",
    "VERIFY_RTOL",
    "VERIFY_STD_FACTOR",
    "check_may_cancel_rerun",
    "add_contributions",
    "add_csv",
    "contribution_bounds",
    "contribution_to_dict",
    "describe_optimizer",
    "edit_contribution",
    "describe_task",
    "get_contribution",
    "is_lookup_name",
    "list_contributions",
    "list_optimizers",
    "list_tasks",
    "record_ended_verifications",
    "record_verdicts",
    "request_verification",
    "required_hyperparameters",
    "rows_from_csv",
    "store_contributions",
    "task_contexts",
    "verdict_for",
    "withdraw_contribution",
]
