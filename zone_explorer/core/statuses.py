"""The closed sets of states a job, a trial claim and a trial outcome go through.

The enums derive from ``str``: a member *is* its value, so it compares equal to, hashes like and is stored as the
plain string (``JobStatus.QUEUED == "queued"``). Database columns, REST answers, Optuna user attributes and
exported files therefore keep the values they always had, and rows read back as plain strings compare equal.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "RESULT_OUTCOMES",
    "SLOT_TAKING_CLAIMS",
    "ClaimStatus",
    "ContributionStatus",
    "JobStatus",
    "Outcome",
    "Verdict",
]


class _StrValue(str, Enum):
    """``str()`` and f-strings give the value, as ``enum.StrEnum`` does from Python 3.11 (we support 3.10)."""

    def __str__(self) -> str:
        return str(self.value)


class JobStatus(_StrValue):
    """A job: ``queued`` until a worker claims its first trial, then ``running``; it ends ``completed`` when
    ``n_trials`` trials have a result, ``failed`` when every one of them raised an error (no result at all: see
    ``Job.error``), or ``cancelled`` on request while queued or running."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: jobs that still hand out trials (and that a cancel applies to)
ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ClaimStatus(_StrValue):
    """A claim on one slot of a job's trial budget: ``running`` until its trial ends ``done`` (a result, whatever
    its outcome), ``cancelled`` (the job was cancelled) or ``lost`` (its worker stopped heartbeating; the
    configuration is queued again and the slot is free for the retry)."""

    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    LOST = "lost"


#: claims that use up a slot of the job's budget; cancelled and lost ones do not
SLOT_TAKING_CLAIMS = (ClaimStatus.RUNNING, ClaimStatus.DONE)


class Outcome(_StrValue):
    """How a trial ended, recorded on its claim and as its ``outcome`` user attribute in Optuna."""

    COMPLETE = "complete"  # trained for every epoch; its value is the mean metric over the seeds
    PRUNED = "pruned"  # stopped early by the pruner; its value is the last mean reported
    DIVERGED = "diverged"  # a non-finite loss or metric
    INVALID = "invalid"  # the sampled point is not a valid optimizer configuration
    ERROR = "error"  # the task or optimizer raised: a bug, or a task this worker cannot build
    CANCELLED = "cancelled"  # the job was cancelled while the trial ran
    LOST = "lost"  # its worker was presumed dead; the configuration was queued again


#: outcomes that are results (their claim is ``done``): a zone is drawn from them, diverged and invalid included
RESULT_OUTCOMES = frozenset({Outcome.COMPLETE, Outcome.PRUNED, Outcome.DIVERGED, Outcome.INVALID, Outcome.ERROR})


class ContributionStatus(_StrValue):
    """A contribution is ``active`` (it counts in its zone) until its owner or an admin withdraws it."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class Verdict(_StrValue):
    """What a rerun says of a contributed result: ``pending`` while the verification job runs, then ``verified``
    (the rerun matched within the tolerance), ``disputed`` (it did not, or diverged) or ``unverified`` (the job was
    cancelled or failed, or recorded no result: request verification again)."""

    PENDING = "pending"
    VERIFIED = "verified"
    DISPUTED = "disputed"
    UNVERIFIED = "unverified"
