"""The trial a user's training code sees: its hyperparameters, its device, its optimizer, and ``report``.

One class, three places it comes from (each with its own *reporter*, the thing ``report`` talks to):

- ``ze.explore(train, ...)`` hands it to ``train(trial)``: reports go to the Optuna trial, whose pruner answers;
- ``ze.trial()`` in a script a worker launched reads it from the environment: reports go to the worker through
  the trial channel (:mod:`zone_explorer.tasks.external`), which answers;
- ``ze.trial()`` anywhere else gives the optimizer's defaults, so the script also runs on its own: reports are
  only kept.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import optuna

from optimizers.registry import get_optimizer
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import FixedDim, Space, default_space
from zone_explorer.tasks.external import TRIAL_ENV

__all__ = ["Trial", "TrialDiverged", "TrialPruned", "TrialStopped", "defaults_trial", "trial"]

#: raised by ``report`` when the pruner stops the trial (Optuna's own: ``except optuna.TrialPruned`` works)
TrialPruned = optuna.TrialPruned

Verdict = Literal["continue", "prune", "stop"]


class TrialStopped(Exception):
    """Raised by ``report`` when the job was cancelled: the trial ends there (do not catch it)."""


class TrialDiverged(ArithmeticError):
    """Raised by ``report`` for a NaN or infinite value: the trial ends as diverged, with the value and epoch."""


class Reporter(Protocol):
    def report(self, epoch: int, value: float) -> Verdict: ...

    def config(self, config: Mapping[str, Any]) -> None: ...

    def final(self, value: float) -> None: ...


class _Kept:
    """Outside any worker: nothing stops the trial; what it reports is kept on it."""

    def report(self, epoch: int, value: float) -> Verdict:
        return "continue"

    def config(self, config: Mapping[str, Any]) -> None:
        pass

    def final(self, value: float) -> None:
        pass


class Trial:
    """One configuration to train.

    ``params`` are this trial's hyperparameters (the run-length ones aside, which ``optimizer`` derives);
    ``device`` is where to train (``"cpu"`` unless the worker was given devices); ``number`` counts the job's
    trials from 0.
    """

    def __init__(
        self,
        optimizer: str,
        space: Space,
        values: Mapping[str, Any],
        *,
        run_length: Mapping[str, int] | None = None,
        device: str = "cpu",
        number: int = 0,
        metric: str = "value",
        direction: str = "maximize",
        reporter: Reporter | None = None,
    ) -> None:
        self.optimizer_name = optimizer
        self.space = space
        self.values = dict(values)
        self.device = device
        self.number = number
        self.metric = metric
        self.direction = direction
        self._run_length_params = get_profile(optimizer).run_length_params
        self._reporter: Reporter = reporter or _Kept()
        #: the complete config of the last optimizer built (run length included); until then the job's
        self.config: dict[str, Any] = space.config(self.values, run_length or {})
        self.reports: list[tuple[int, float]] = []
        self.result: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.config.items() if k not in self._run_length_params}

    def run_length(self, steps_per_epoch: int | None, epochs: int | None) -> dict[str, int]:
        """The run-length hyperparameters for the user's numbers (FSGDM's sigma and n_stages, AutoSGM's window)."""
        profile = get_profile(self.optimizer_name)
        if not profile.run_length_params:
            return {}
        for name, value in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs)):
            if value is None:
                raise TypeError(
                    f"trial.optimizer: {name} is required for {self.optimizer_name} (it sets "
                    f"{' and '.join(profile.run_length_params)})"
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"trial.optimizer: {name} must be a positive integer, got {value!r}")
        assert steps_per_epoch is not None and epochs is not None
        return profile.derive_run_length(steps_per_epoch, epochs)

    def optimizer(
        self, params: Iterable[Any], *, steps_per_epoch: int | None = None, epochs: int | None = None, **switches: Any
    ) -> Any:
        """This trial's optimizer over ``params`` (a ``torch.optim.Optimizer``).

        ``steps_per_epoch`` (optimizer steps per epoch) and ``epochs`` set the run-length hyperparameters of the
        optimizers that have them (FSGDM's ``sigma = steps_per_epoch * epochs`` and ``n_stages``, AutoSGM's
        window); a space that fixes one of them wins. ``switches`` go to the constructor (e.g. ``foreach=False``).
        """
        self.config = self.space.config(self.values, self.run_length(steps_per_epoch, epochs))
        self._reporter.config(self.config)
        return get_optimizer(self.optimizer_name).create(params, self.config, **switches)

    def report(self, epoch: int, value: float) -> None:
        """Record the metric after ``epoch``; raises :data:`TrialPruned` when the pruner stops the trial,
        :class:`TrialStopped` when the job was cancelled and :class:`TrialDiverged` for a non-finite value."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"trial.report: epoch must be an integer >= 0, got {epoch!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)  # a 0-d tensor or numpy scalar
            except (TypeError, ValueError):
                raise TypeError(f"trial.report: value must be a number, got {type(value).__name__}") from None
        value = float(value)
        self.reports.append((epoch, value))
        verdict = self._reporter.report(epoch, value)
        if not math.isfinite(value):
            raise TrialDiverged(f"diverged: {self.metric} {value} at epoch {epoch}")
        if verdict == "prune":
            raise TrialPruned(f"pruned at epoch {epoch}")
        if verdict == "stop":
            raise TrialStopped(f"job cancelled; trial stopped at epoch {epoch}")

    def finish(self, value: float | None = None) -> float | None:
        """The trial's result: ``value``, or else the last value reported. A script launched by a worker calls it at
        the end (a ``train`` function returns its result instead)."""
        if value is None and self.reports:
            value = self.reports[-1][1]
        if value is not None:
            value = float(value)
            self.result = value
            self._reporter.final(value)
        return value

    def __repr__(self) -> str:
        return f"<Trial {self.number} {self.optimizer_name} {self.params} on {self.device}>"


# ---- a script launched by a worker --------------------------------------------------------------------------


class _Channel:
    """Reports to the worker that launched this script and waits for its verdict (see tasks.external)."""

    def __init__(self, results: Path, verdicts: Path, worker_pid: int) -> None:
        self.results, self.verdicts, self.worker_pid = results, verdicts, worker_pid
        self.seq = 0

    def _send(self, message: Mapping[str, Any]) -> None:
        with self.results.open("a") as f:
            f.write(json.dumps(message) + "\n")

    def report(self, epoch: int, value: float) -> Verdict:
        self.seq += 1
        self._send({"seq": self.seq, "epoch": epoch, "value": value})
        return self._wait(self.seq)

    def _wait(self, seq: int) -> Verdict:
        while True:
            try:
                got, verdict = self.verdicts.read_text().split()
                if int(got) >= seq and verdict in ("continue", "prune", "stop"):
                    return verdict  # type: ignore[return-value]
            except (FileNotFoundError, ValueError):
                pass
            if not _alive(self.worker_pid):
                return "stop"  # our worker is gone: nobody will record the rest
            time.sleep(0.01)

    def config(self, config: Mapping[str, Any]) -> None:
        self._send({"config": dict(config)})

    def final(self, value: float) -> None:
        self._send({"final": value})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def defaults_trial(optimizer: str) -> Trial:
    """A trial with the optimizer's default search point: fixed values of its default space, defaults elsewhere."""
    space = default_space(optimizer)
    defaults = get_optimizer(optimizer).defaults()
    values = {k: (d.value if isinstance(d, FixedDim) else defaults[k]) for k, d in space.params.items()}
    return Trial(optimizer, space, values)


def trial(optimizer: str = "fsgdm") -> Trial:
    """The trial this script runs: read from the environment when a worker launched it (``zone-explorer run
    --command``), else a trial of ``optimizer`` with its defaults, so the script also runs on its own."""
    raw = os.environ.get(TRIAL_ENV)
    if not raw:
        return defaults_trial(optimizer)
    try:
        data = json.loads(raw)
        return Trial(
            data["optimizer"],
            Space.from_dict(data["space"]),
            data["values"],
            run_length=data["run_length"],
            device=data["device"],
            number=data["number"],
            metric=data["metric"],
            direction=data["direction"],
            reporter=_Channel(Path(data["results"]), Path(data["verdicts"]), int(data["worker_pid"])),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{TRIAL_ENV}: not a trial a worker wrote ({type(err).__name__}: {err})") from None
