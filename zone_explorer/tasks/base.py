"""The task protocol and the task registry.

A *task* is what one trial trains: a model, its training batches, a training loss and one validation
metric.  The engine builds the optimizer from ``run.model.parameters()`` and runs::

    run = task.setup(seed, device=device)   # or task.setup(seed) for a task that takes no device
    for epoch in range(epochs):
        opt.train()                         # only optimizers that have it (schedule-free)
        for batch in run.batches(epoch):
            opt.zero_grad(set_to_none=True)
            loss = run.loss(batch)          # non-finite -> the trial diverged
            loss.backward()
            opt.step()
        opt.eval()                          # schedule-free: the weights become the average x; BatchNorm
                                            # statistics are then re-estimated on up to 50 of the epoch's batches
        value = run.evaluate()              # task.metric, optimised in task.direction
        report(value, epoch)

Adding your own task
--------------------
Subclass :class:`Task`, fill in the class attributes and implement :meth:`Task.steps_per_epoch` and
:meth:`Task.setup`; ``setup(seed)`` returns an object with ``model``, ``steps_per_epoch``,
``batches(epoch)``, ``loss(batch)`` and ``evaluate()`` (see :class:`TaskRun`).  Keep it deterministic per
seed: initialise weights and shuffle with a ``torch.Generator`` seeded from ``seed`` (the helpers
:func:`derive_seed` and :func:`build_module` do that) and leave the global RNGs alone.  Do not call
``torch.set_num_threads``; the engine sets the thread count.

Then either register it from your own code::

    from zone_explorer.tasks import register_task
    register_task(MyTask())

or publish it from an installed distribution through the ``zone_explorer.tasks`` entry-point group, in
that distribution's ``pyproject.toml``:

.. code-block:: toml

    [project.entry-points."zone_explorer.tasks"]
    my-task = "my_package.tasks:MyTask"

The entry point may resolve to a :class:`Task` subclass (instantiated without arguments), a :class:`Task`
instance, or a zero-argument factory returning one.  Entry points are loaded lazily, on the first call
of :func:`get_task`, :func:`task_names`, :func:`all_tasks` or :func:`task_load_errors`, and the task is
registered under its ``name`` attribute with ``source`` set to the distribution's name.  An entry point
that fails to import, resolves to something else, or reuses a registered name is skipped; the reason is
kept in :func:`task_load_errors` (keyed ``"<distribution>:<entry point name>"``) instead of breaking the
registry.  After installing a package into a running process call ``load_entry_point_tasks()`` again.

Running on a GPU
----------------
A worker started with ``--devices cuda:0`` hands each trial its device.  A task whose ``setup`` takes a
``device`` keyword (``def setup(self, seed, device="cpu")``) gets it and puts the model and every tensor
``batches``, ``loss`` and ``evaluate`` use on it; :func:`build_module` takes the device too, and initialises on
the CPU first so that a seed gives the same weights on every device.  A task whose ``setup`` takes only the seed
runs on the CPU wherever its worker is, and its trials record that (see :func:`setup_on`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol, TypeGuard, runtime_checkable

import numpy as np
import torch

from zone_explorer.core.errors import FieldError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Task",
    "TaskRun",
    "UnknownTaskError",
    "add_task_resolver",
    "all_tasks",
    "build_module",
    "derive_seed",
    "get_task",
    "load_entry_point_tasks",
    "register_task",
    "setup_on",
    "takes_device",
    "task_load_errors",
    "task_names",
]

ENTRY_POINT_GROUP = "zone_explorer.tasks"
DIRECTIONS = ("maximize", "minimize")


@runtime_checkable
class TaskRun(Protocol):
    """One seeded instance of a task: the model the optimizer trains plus its data."""

    model: torch.nn.Module
    steps_per_epoch: int

    def batches(self, epoch: int) -> Iterable[Any]:
        """One epoch of training batches, deterministic per (seed, epoch); exactly ``steps_per_epoch`` of them."""
        ...

    def loss(self, batch: Any) -> torch.Tensor:
        """Scalar training loss of ``batch``, with grad."""
        ...

    def evaluate(self) -> float:
        """The validation metric (eval mode and no grad inside; the model's mode is restored after)."""
        ...


class Task(ABC):
    """A trainable benchmark; see the module docstring."""

    name: str
    description: str
    metric: str  # e.g. "val_accuracy"
    direction: Literal["maximize", "minimize"]
    default_epochs: int
    dataset: str  # one line, shown in the catalog
    model: str  # one line, shown in the catalog
    #: the values the metric can take, ``(low, high)`` with infinite ends where it is unbounded (an accuracy lies in
    #: [0, 1], a loss in [0, inf)); contributed values outside are refused, so declare it when you know it
    metric_range: tuple[float, float] = (-math.inf, math.inf)
    #: "builtin", or the distribution that provided the task through an entry point
    source: str = "builtin"

    @abstractmethod
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch, known without building the model."""

    @abstractmethod
    def setup(self, seed: int) -> TaskRun:
        """Build the model and data for one trial, deterministically from ``seed``. Override it as
        ``setup(self, seed, device="cpu")`` to run on the trial's device (see the module docstring)."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for the catalog."""
        return {
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "direction": self.direction,
            "default_epochs": int(self.default_epochs),
            "steps_per_epoch": int(self.steps_per_epoch()),
            "dataset": self.dataset,
            "model": self.model,
            "metric_range": [None if math.isinf(end) else end for end in self.metric_range],
            "source": getattr(self, "source", "builtin"),
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'name', '?')!r}>"


# ---- helpers for task authors --------------------------------------------------------------------------


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixed from integer ``keys`` (e.g. ``derive_seed(seed, epoch)``); well spread, no collisions
    between neighbouring keys."""
    words = np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def generator(*keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(*keys)``."""
    return torch.Generator().manual_seed(derive_seed(*keys))


def build_module(
    factory: Callable[[], torch.nn.Module], gen: torch.Generator, device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Construct ``factory()`` without touching the global RNG and initialise it from ``gen``, on ``device``.

    The module is built on the meta device (no default initialisation runs), materialised on the CPU and
    initialised like PyTorch's defaults (``Linear``/``Conv``: U(±1/√fan_in) for weights and biases;
    ``GRU``/``LSTM``/``RNN``: U(±1/√hidden); ``Embedding``: N(0, 1); norms: ones and zeros), but drawing
    from ``gen``.  Other parameterised module types must define ``reset_parameters(generator)``.  It moves to
    ``device`` last: ``gen`` is a CPU generator, and a seed gives the same initial weights on every device.
    """
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cpu")
    with torch.no_grad():
        for sub in module.modules():
            _init_submodule(sub, gen)
    module.train()
    return module.to(device)


def _uniform(t: torch.Tensor, bound: float, gen: torch.Generator) -> None:
    torch.nn.init.uniform_(t, -bound, bound, generator=gen)


def _init_submodule(sub: torch.nn.Module, gen: torch.Generator) -> None:
    own = list(sub.parameters(recurse=False))
    if isinstance(sub, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
        fan_in = sub.weight[0].numel()
        bound = 1.0 / fan_in**0.5 if fan_in > 0 else 0.0
        _uniform(sub.weight, bound, gen)
        if sub.bias is not None:
            _uniform(sub.bias, bound, gen)
    elif isinstance(sub, torch.nn.RNNBase):
        bound = 1.0 / sub.hidden_size**0.5
        for p in own:
            _uniform(p, bound, gen)
    elif isinstance(sub, torch.nn.Embedding):
        torch.nn.init.normal_(sub.weight, generator=gen)
        if sub.padding_idx is not None:
            sub.weight[sub.padding_idx].zero_()
    elif isinstance(sub, (torch.nn.LayerNorm, torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm)):
        if getattr(sub, "weight", None) is not None:
            torch.nn.init.ones_(sub.weight)
        if getattr(sub, "bias", None) is not None:
            torch.nn.init.zeros_(sub.bias)
        if isinstance(sub, torch.nn.modules.batchnorm._NormBase) and sub.track_running_stats:
            sub.reset_running_stats()
    elif _accepts_generator(reset := getattr(sub, "reset_parameters", None)):
        reset(generator=gen)
    elif own:
        raise TypeError(
            f"build_module: don't know how to initialise {type(sub).__name__}; give it reset_parameters(generator)"
        )


def _accepts_generator(fn: object) -> TypeGuard[Callable[..., object]]:
    import inspect

    if not callable(fn):
        return False
    try:
        return "generator" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def takes_device(task: Task) -> bool:
    """Whether ``task.setup`` takes a ``device`` keyword (the built-in tasks do; a plug-in task may not)."""
    import inspect

    try:
        return "device" in inspect.signature(task.setup).parameters
    except (TypeError, ValueError):
        return False


def setup_on(task: Task, seed: int, device: str) -> TaskRun:
    """``task.setup(seed)`` on ``device`` when the task takes one (:func:`takes_device`), else on the CPU."""
    if takes_device(task):
        return task.setup(seed, device=device)  # type: ignore[call-arg]  # checked by takes_device
    return task.setup(seed)


# ---- registry ------------------------------------------------------------------------------------------


class UnknownTaskError(FieldError):
    """``get_task`` was given a name that is not registered (field ``task``)."""

    def __init__(self, name: object, known: list[str], suggestions: list[str]) -> None:
        self.name = name
        self.known = known
        self.suggestions = suggestions
        hint = f" (did you mean {' or '.join(repr(s) for s in suggestions)}?)" if suggestions else ""
        super().__init__("task", f"unknown task {name!r}{hint}; known tasks: {', '.join(known) or '(none)'}")


_LOCK = threading.RLock()
_REGISTRY: dict[str, Task] = {}
_LOAD_ERRORS: dict[str, str] = {}
#: entry points ("dist:name") already turned into registered tasks, so a reload does not re-register them
_LOADED_ENTRY_POINTS: dict[str, str] = {}
_ENTRY_POINTS_SCANNED = False
#: asked, in order, for a name the registry lacks (tasks stored in a database: see zone_explorer.tasks.external)
_RESOLVERS: list[Callable[[str], Task | None]] = []


def add_task_resolver(resolver: Callable[[str], Task | None]) -> None:
    """Let :func:`get_task` ask ``resolver(name)`` for a name the registry lacks; a task it returns is registered.

    A resolver that raises is skipped (a database that is away must not break the built-in tasks). Adding the
    same resolver twice keeps one.
    """
    with _LOCK:
        if resolver not in _RESOLVERS:
            _RESOLVERS.append(resolver)


def _validate(task: object) -> Task:
    if not isinstance(task, Task):
        raise TypeError(f"expected a zone_explorer.tasks.Task, got {type(task).__name__}")
    problems = []
    for attr in ("name", "description", "metric", "dataset", "model"):
        value = getattr(task, attr, None)
        if not isinstance(value, str) or (attr in ("name", "metric") and not value.strip()):
            problems.append(f"{attr} must be a{' non-empty' if attr in ('name', 'metric') else ''} string")
    if getattr(task, "direction", None) not in DIRECTIONS:
        problems.append(f"direction must be one of {DIRECTIONS}")
    epochs = getattr(task, "default_epochs", None)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        problems.append("default_epochs must be a positive int")
    bounds = getattr(task, "metric_range", None)
    if (
        not isinstance(bounds, tuple)
        or len(bounds) != 2
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and not math.isnan(b) for b in bounds)
        or not bounds[0] < bounds[1]
    ):
        problems.append("metric_range must be a (low, high) tuple of numbers with low < high (inf for no bound)")
    if problems:
        raise TypeError(f"invalid task {type(task).__name__}: " + "; ".join(problems))
    return task


def register_task(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to the registry under ``task.name``; a taken name raises ``ValueError`` unless ``replace``."""
    _validate(task)
    with _LOCK:
        if task.name in _REGISTRY and not replace:
            raise ValueError(
                f"task: a task named {task.name!r} is already registered ({_REGISTRY[task.name]!r}); pass replace=True to override"
            )
        _REGISTRY[task.name] = task
    return task


def _ensure_loaded() -> None:
    if not _ENTRY_POINTS_SCANNED:
        load_entry_point_tasks()


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _resolve(obj: Any) -> Task:
    if isinstance(obj, Task):
        return obj
    if callable(obj):  # a Task subclass or a zero-argument factory
        made = obj()
        if isinstance(made, Task):
            return made
        raise TypeError(f"calling {obj!r} returned {type(made).__name__}, not a Task")
    raise TypeError(f"{obj!r} is neither a Task subclass, a Task instance nor a factory")


def load_entry_point_tasks() -> list[str]:
    """(Re)scan the ``zone_explorer.tasks`` entry-point group and register new tasks; returns their names.

    Failures are recorded in :func:`task_load_errors` and skipped.  Safe to call again: entry points
    loaded before are not loaded twice; earlier errors of entry points tried again are replaced.
    """
    global _ENTRY_POINTS_SCANNED
    loaded: list[str] = []
    with _LOCK:
        _ENTRY_POINTS_SCANNED = True
        importlib.invalidate_caches()  # see distributions installed since the last scan
        try:
            eps = _entry_points()
        except Exception as exc:  # a corrupt metadata directory must not break the registry
            _LOAD_ERRORS["<entry points>"] = f"{type(exc).__name__}: {exc}"
            return loaded
        _LOAD_ERRORS.pop("<entry points>", None)
        for ep in eps:
            dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value.split(":")[0].split(".")[0]
            key = f"{dist}:{ep.name}"
            if key in _LOADED_ENTRY_POINTS:
                continue
            try:
                task = _validate(_resolve(ep.load()))
                if task.name in _REGISTRY:
                    raise ValueError(f"task name {task.name!r} is already registered by {_REGISTRY[task.name]!r}")
                task.source = dist
                _REGISTRY[task.name] = task
            except Exception as exc:
                _LOAD_ERRORS[key] = f"{ep.value}: {type(exc).__name__}: {exc}"
                continue
            _LOAD_ERRORS.pop(key, None)
            _LOADED_ENTRY_POINTS[key] = task.name
            loaded.append(task.name)
    return loaded


def get_task(name: str) -> Task:
    """The registered task called ``name``; unknown names raise :class:`UnknownTaskError`, a ``FieldError``."""
    with _LOCK:
        _ensure_loaded()
        task = _REGISTRY.get(name) if isinstance(name, str) else None
        if task is not None:
            return task
        resolvers = list(_RESOLVERS) if isinstance(name, str) else []
    for resolver in resolvers:  # outside the lock: a resolver may read a database
        try:
            found = resolver(name)
        except Exception:
            continue
        if found is not None:
            return register_task(found, replace=True)
    with _LOCK:
        known = sorted(_REGISTRY)
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6) if isinstance(name, str) else []
    raise UnknownTaskError(name, known, [lowered[c] for c in close])


def task_names() -> list[str]:
    """Sorted names of all registered tasks (built-ins and entry points)."""
    with _LOCK:
        _ensure_loaded()
        return sorted(_REGISTRY)


def all_tasks() -> list[Task]:
    """All registered tasks, sorted by name."""
    with _LOCK:
        _ensure_loaded()
        return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def task_load_errors() -> dict[str, str]:
    """Entry points that could not be loaded: ``"<distribution>:<entry point>" -> reason``."""
    with _LOCK:
        _ensure_loaded()
        return dict(_LOAD_ERRORS)
