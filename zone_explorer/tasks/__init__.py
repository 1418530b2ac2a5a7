"""Built-in training tasks and the task registry (see :mod:`zone_explorer.tasks.base` for adding your own)."""

from __future__ import annotations

from zone_explorer.tasks.base import (
    ENTRY_POINT_GROUP,
    Task,
    TaskRun,
    UnknownTaskError,
    all_tasks,
    get_task,
    load_entry_point_tasks,
    register_task,
    task_load_errors,
    task_names,
)
from zone_explorer.tasks.charlm_pydoc import CharLMPydocTask
from zone_explorer.tasks.digits_cnn import DigitsCNNTask
from zone_explorer.tasks.digits_lowrank_mlp import DigitsLowRankMLPTask
from zone_explorer.tasks.noisy_quadratic import NoisyQuadraticTask
from zone_explorer.tasks.tabular_mlp import TabularMLPTask

__all__ = [
    "ENTRY_POINT_GROUP",
    "BUILTIN_TASKS",
    "CharLMPydocTask",
    "DigitsCNNTask",
    "DigitsLowRankMLPTask",
    "NoisyQuadraticTask",
    "TabularMLPTask",
    "Task",
    "TaskRun",
    "UnknownTaskError",
    "all_tasks",
    "get_task",
    "load_entry_point_tasks",
    "register_task",
    "task_load_errors",
    "task_names",
]

#: names of the tasks that ship with Zone Explorer
BUILTIN_TASKS: tuple[str, ...] = ()


def _register_builtins() -> None:
    global BUILTIN_TASKS
    for task in (DigitsCNNTask(), DigitsLowRankMLPTask(), CharLMPydocTask(), TabularMLPTask(), NoisyQuadraticTask()):
        register_task(task, replace=True)  # replace: re-importing the package must not fail
    BUILTIN_TASKS = ("charlm-pydoc", "digits-cnn", "digits-lowrank-mlp", "noisy-quadratic", "tabular-mlp")


_register_builtins()
