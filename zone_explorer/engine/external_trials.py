"""Trials of external tasks: the user's ``train(trial)`` function in this process, or the user's command in a
process group of its own (see :mod:`zone_explorer.tasks.external` for the channel between the two).

The user-facing :class:`~zone_explorer.sdk.trial.Trial` lives in ``zone_explorer.sdk`` (it has no engine imports);
this module hands it to the user's code and turns how that code ended into a :class:`TrialOutcome`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa

from zone_explorer.core.statuses import JobStatus, Outcome
from zone_explorer.engine.devices import ENVIRONMENT_ATTR, environment
from zone_explorer.engine.objective import TrialOutcome, TrialPlan
from zone_explorer.sdk.trial import Trial, TrialDiverged, TrialPruned, TrialStopped, Verdict
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Job, TrialLog, utcnow
from zone_explorer.tasks.external import (
    TRIAL_ENV,
    CommandTask,
    ExternalTask,
    FunctionTask,
    finite,
    read_results,
    stdout_values,
    trial_payload,
    write_verdict,
)

__all__ = ["MAX_TRIAL_LOG", "logged_trials", "run_external", "trial_log"]

#: characters of a command trial's output kept in the database (its end), and of it quoted in a failure reason
MAX_TRIAL_LOG = 64_000
REASON_TAIL = 1_500
#: how often a worker looks at its command (new reports, exit, timeout, cancel), and how long a group has to stop
POLL = 0.02
TERM_GRACE = 5.0


def run_external(
    task: ExternalTask, trial: optuna.Trial, plan: TrialPlan, cancelled: Callable[[], bool], *, device: str = "cpu"
) -> TrialOutcome:
    """Run one trial of an external task on ``device`` (the worker's: ``trial.device`` in the user's code); like
    :func:`~zone_explorer.engine.objective.evaluate`, it never raises, and it records where the trial ran."""
    try:
        values = plan.space.suggest(trial)
        config = plan.space.config(values, plan.run_length)
    except (TypeError, ValueError) as err:
        return TrialOutcome(Outcome.INVALID, reason=f"invalid configuration: {err}")
    trial.set_user_attr("config", config)
    trial.set_user_attr(ENVIRONMENT_ATTR, environment(device))
    if isinstance(task, CommandTask):
        return _CommandRun(task, trial, plan, values, cancelled, device).run()
    if isinstance(task, FunctionTask):
        return _run_function(task, trial, plan, values, cancelled, device)
    return TrialOutcome(Outcome.ERROR, reason=f"task {task.name!r} is of no kind this worker runs")


class _OptunaReporter:
    """``train``'s reports go to the Optuna trial; its pruner and the job's cancellation answer."""

    def __init__(self, trial: optuna.Trial, cancelled: Callable[[], bool]) -> None:
        self.trial, self.cancelled = trial, cancelled

    def report(self, epoch: int, value: float) -> Verdict:
        if not finite(value):
            return "stop"
        self.trial.report(value, epoch)
        if self.cancelled():
            return "stop"
        return "prune" if self.trial.should_prune() else "continue"

    def config(self, config: Mapping[str, Any]) -> None:
        self.trial.set_user_attr("config", dict(config))

    def final(self, value: float) -> None:
        pass


def _run_function(
    task: FunctionTask,
    ot: optuna.Trial,
    plan: TrialPlan,
    values: dict[str, Any],
    cancelled: Callable[[], bool],
    device: str,
) -> TrialOutcome:
    config = ot.user_attrs.get("config")
    if task.train is None:
        return TrialOutcome(
            Outcome.ERROR, reason=f"task {task.name!r} is a Python function: only ze.explore runs it", config=config
        )
    trial = Trial(
        plan.optimizer,
        plan.space,
        values,
        run_length=plan.run_length,
        device=device,
        number=ot.number,
        metric=task.metric,
        direction=task.direction,
        reporter=_OptunaReporter(ot, cancelled),
    )
    try:
        returned = task.train(trial)
    except TrialPruned:
        epoch, value = trial.reports[-1]
        return _outcome(trial, Outcome.PRUNED, value=value, reason=f"pruned after epoch {epoch}")
    except TrialStopped as err:
        return _outcome(trial, Outcome.CANCELLED, reason=str(err))
    except TrialDiverged as err:
        return _outcome(trial, Outcome.DIVERGED, reason=str(err))
    except Exception as err:  # the user's code failed: the trial fails with why, the exploration goes on
        return _outcome(trial, Outcome.ERROR, reason=f"train raised {type(err).__name__}: {err}")
    last = trial.reports[-1][1] if trial.reports else None
    return _final(trial, returned if returned is not None else last, "train returned None and reported nothing")


def _outcome(trial: Trial, state: Outcome, *, value: float | None = None, reason: str | None = None) -> TrialOutcome:
    return TrialOutcome(state, value=value, reason=reason, config=trial.config, epochs_run=len(trial.reports))


def _final(trial: Trial, value: Any, missing: str) -> TrialOutcome:
    if value is None:
        return _outcome(trial, Outcome.ERROR, reason=missing)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _outcome(trial, Outcome.ERROR, reason=f"the result must be a number, got {type(value).__name__}")
    if not finite(number):
        return _outcome(trial, Outcome.DIVERGED, reason=f"diverged: {trial.metric} {number} at the end")
    done = _outcome(trial, Outcome.COMPLETE, value=number)
    done.seed_values = [number]
    return done


# ---- command trials --------------------------------------------------------------------------------------------


class _CommandRun:
    """One launch of a command task's command, watched until it ends, is stopped, or runs out of time."""

    def __init__(
        self,
        task: CommandTask,
        ot: optuna.Trial,
        plan: TrialPlan,
        values: dict[str, Any],
        cancelled: Callable[[], bool],
        device: str,
    ) -> None:
        self.task, self.ot, self.plan, self.cancelled = task, ot, plan, cancelled
        self.values, self.device = values, device
        self.reports: list[tuple[int, float]] = []
        self.final: float | None = None
        self.config: dict[str, Any] | None = ot.user_attrs.get("config")

    def _job_cancelled(self) -> bool:
        """Read at every report (not only on the heartbeat): a cancel stops the script at its next report."""
        url, job_id = self.plan.url, self.plan.job_id
        if self.cancelled():
            return True
        if not url or not job_id:
            return False
        with session_scope(url) as s:
            return s.scalar(sa.select(Job.status).where(Job.id == job_id)) == JobStatus.CANCELLED

    def run(self) -> TrialOutcome:
        workdir = Path(tempfile.mkdtemp(prefix="ze-trial-"))
        log_path = workdir / "log"
        try:
            try:
                argv = shlex.split(self.task.command)
            except ValueError as err:
                return self._end(Outcome.ERROR, f"the command cannot be parsed: {err}")
            env = dict(os.environ)
            env["PYTHONUNBUFFERED"] = "1"  # the log shows lines as they come, and its tail the last ones
            env[TRIAL_ENV] = trial_payload(
                optimizer=self.plan.optimizer,
                space=self.plan.space.to_dict(),
                values=self.values,
                run_length=self.plan.run_length,
                metric=self.task.metric,
                direction=self.task.direction,
                job=self.plan.job_id,
                number=self.ot.number,
                device=self.device,
                results=workdir / "results.jsonl",
                verdicts=workdir / "verdicts",
            )
            with log_path.open("wb") as log:
                try:
                    proc = subprocess.Popen(
                        argv,
                        cwd=self.task.cwd or None,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group: a stop kills whatever it started
                    )
                except OSError as err:
                    return self._end(Outcome.ERROR, f"the command could not start: {err}")
                try:
                    state, reason = self._watch(proc, workdir)
                finally:
                    _kill_group(proc)
            text, truncated = _tail(log_path, MAX_TRIAL_LOG)
            self._store_log(text, truncated)
            if state is Outcome.COMPLETE:
                return self._result(text)
            if state in (Outcome.ERROR,):
                tail = text[-REASON_TAIL:].strip()
                reason = f"{reason}; log tail:\n{tail}" if tail else f"{reason} (no output)"
            value = self.reports[-1][1] if state is Outcome.PRUNED and self.reports else None
            return self._end(state, reason, value=value)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _watch(self, proc: subprocess.Popen[bytes], workdir: Path) -> tuple[Outcome, str]:
        results, verdicts = workdir / "results.jsonl", workdir / "verdicts"
        timeout = self.task.timeout_s
        deadline = time.monotonic() + timeout if timeout else None
        offset = 0
        while True:
            rc = proc.poll()  # before reading: whatever it wrote before it exited is read below
            messages, offset = read_results(results, offset)
            for msg in messages:
                decided = self._handle(msg, verdicts)
                if decided is not None:
                    return decided
            if rc is not None:
                if rc != 0:
                    return Outcome.ERROR, f"the command exited with code {rc}"
                return Outcome.COMPLETE, ""
            if self.cancelled():
                return Outcome.CANCELLED, "job cancelled; the command was stopped"
            if deadline is not None and time.monotonic() > deadline:
                return Outcome.ERROR, f"timed out after {timeout:g} s; the command was stopped"
            time.sleep(POLL)

    def _handle(self, msg: dict[str, Any], verdicts: Path) -> tuple[Outcome, str] | None:
        if isinstance(msg.get("config"), dict):
            self.config = msg["config"]
            self.ot.set_user_attr("config", self.config)
            return None
        if "final" in msg:
            self.final = msg["final"] if finite(msg["final"]) else float("nan")
            return None
        seq, epoch, value = msg.get("seq"), msg.get("epoch"), msg.get("value")
        if not isinstance(seq, int) or not isinstance(epoch, int) or not isinstance(value, (int, float)):
            return None
        self.reports.append((epoch, float(value)))
        if not finite(value):
            write_verdict(verdicts, seq, "stop")
            return Outcome.DIVERGED, f"diverged: {self.task.metric} {value} at epoch {epoch}"
        self.ot.report(float(value), epoch)
        if self._job_cancelled():
            write_verdict(verdicts, seq, "stop")
            return Outcome.CANCELLED, f"job cancelled; the command was stopped at epoch {epoch}"
        if self.ot.should_prune():
            write_verdict(verdicts, seq, "prune")
            return Outcome.PRUNED, f"pruned after epoch {epoch}"
        write_verdict(verdicts, seq, "continue")
        return None

    def _result(self, log_text: str) -> TrialOutcome:
        value: float | None = self.final
        if value is None and self.reports:
            value = self.reports[-1][1]
        if value is None:
            printed = stdout_values(log_text.splitlines(), self.task.metric)
            value = printed[-1] if printed else None
        if value is None:
            tail = log_text[-REASON_TAIL:].strip()
            return self._end(
                Outcome.ERROR,
                f"the command finished without reporting {self.task.metric} (call trial.report or trial.finish, or "
                f"print a line {self.task.metric}=<value>); log tail:\n{tail}",
            )
        if not finite(value):
            return self._end(Outcome.DIVERGED, f"diverged: {self.task.metric} {value} at the end")
        return self._end(Outcome.COMPLETE, None, value=value, seed_values=[value])

    def _end(
        self, state: Outcome, reason: str | None, *, value: float | None = None, seed_values: list[float] | None = None
    ) -> TrialOutcome:
        return TrialOutcome(
            state,
            value=value,
            reason=reason,
            config=self.config,
            seed_values=seed_values or [],
            epochs_run=len(self.reports),
        )

    def _store_log(self, text: str, truncated: bool) -> None:
        url, job_id = self.plan.url, self.plan.job_id
        if not url or not job_id:
            return
        with session_scope(url) as s:
            s.merge(
                TrialLog(
                    job_id=job_id, trial_number=self.ot.number, text=text, truncated=truncated, created_at=utcnow()
                )
            )


def _tail(path: Path, limit: int) -> tuple[str, bool]:
    """The last ``limit`` characters of a log (read from its end: a chatty script's log is never read whole)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            f.seek(max(0, size - 4 * limit))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "", False
    return text[-limit:], size > limit


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the command and everything it started: SIGTERM to its group, SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, TERM_GRACE)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(proc.pid):
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def trial_log(url: str, job_id: str, number: int) -> tuple[str, bool] | None:
    """A command trial's stored log and whether its beginning was cut, or None."""
    with session_scope(url) as s:
        row = s.get(TrialLog, (job_id, number))
        return (row.text, row.truncated) if row is not None else None


def logged_trials(url: str, job_id: str) -> list[int]:
    """The numbers of the job's trials that left a log (its command trials), in order."""
    with session_scope(url) as s:
        return list(
            s.scalars(sa.select(TrialLog.trial_number).where(TrialLog.job_id == job_id).order_by(TrialLog.trial_number))
        )
