"""Where trials run: the ``--devices`` list of `worker` and `serve`, and what each trial records of its machine.

A worker runs one trial at a time on each device of its list (``cuda:0,cuda:1``: two trials at once, one per GPU;
a device listed twice runs two trials on it at once). ``auto`` is every GPU torch sees, or the CPU when it sees
none. Every trial records where it ran (:func:`environment`) as its ``environment`` user attribute, on the CPU too,
so a result can be traced to its hardware and software.
"""

from __future__ import annotations

import functools
import platform
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import MAX_DEVICES

__all__ = [
    "ENVIRONMENT_ATTR",
    "DevicePlan",
    "environment",
    "parse_devices",
    "visible_gpus",
    "worker_names",
]

#: the trial user attribute holding :func:`environment`
ENVIRONMENT_ATTR = "environment"

_CUDA = re.compile(r"^cuda(?::(\d{1,3}))?$")
#: characters of a device list: MAX_DEVICES entries of "cuda:NNN," fit
_MAX_SPEC = MAX_DEVICES * len("cuda:999,")


def visible_gpus() -> int:
    """CUDA devices torch sees here (0 on a CPU build or a machine without a GPU)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass(frozen=True)
class DevicePlan:
    """The devices a worker runs trials on, one trial at a time each, and a note for the user (``auto`` on a
    machine without a GPU falls back to the CPU and says so)."""

    devices: tuple[str, ...]
    note: str | None = None

    def as_option(self) -> str:
        """The list as ``--devices`` takes it (``auto`` resolved): what `serve` hands its embedded workers."""
        return ",".join(self.devices)


def parse_devices(spec: str, *, field: str = "--devices", gpus: Callable[[], int] = visible_gpus) -> DevicePlan:
    """Check a device list such as ``cpu``, ``cuda:0,cuda:1`` or ``auto`` and resolve it against this machine.

    Raises :class:`~zone_explorer.core.errors.FieldError` (a ``ValueError``) naming ``field`` and the rule: each
    entry is ``cpu``, ``cuda`` (= ``cuda:0``) or ``cuda:N`` with N a GPU torch sees here; ``auto`` stands alone;
    at most :data:`~zone_explorer.core.limits.MAX_DEVICES` entries. ``gpus`` counts the visible GPUs (tests
    pass a fake count).
    """
    if not isinstance(spec, str):
        raise FieldError(field, f"expected a comma-separated list of devices, got {type(spec).__name__}")
    if len(spec) > _MAX_SPEC:
        raise FieldError(field, f"at most {_MAX_SPEC} characters (at most {MAX_DEVICES} devices), got {len(spec)}")
    entries = [e.strip().lower() for e in spec.split(",")]
    if not spec.strip() or any(not e for e in entries):
        raise FieldError(field, f"empty device in {spec!r}; give e.g. cpu, cuda:0,cuda:1 or auto")
    if len(entries) > MAX_DEVICES:
        raise FieldError(field, f"at most {MAX_DEVICES} devices per worker, got {len(entries)}")
    if "auto" in entries:
        if len(entries) > 1:
            raise FieldError(field, "auto stands alone (it means every visible GPU); list devices or give auto")
        visible = gpus()
        if visible == 0:
            return DevicePlan(("cpu",), note=f"{field} auto: torch sees no CUDA GPU here; trials run on the cpu")
        return DevicePlan(tuple(f"cuda:{i}" for i in range(visible)))
    devices: list[str] = []
    count: int | None = None  # asked once, at the first cuda entry: a cpu-only list never touches CUDA
    for entry in entries:
        if entry == "cpu":
            devices.append("cpu")
            continue
        match = _CUDA.match(entry)
        if match is None:
            raise FieldError(
                field, f"unknown device {entry[:40]!r}; each device is cpu, cuda:N (N = 0, 1, ...) or auto"
            )
        index = int(match.group(1) or 0)
        count = gpus() if count is None else count
        if count == 0:
            import torch

            raise FieldError(
                field,
                f"{entry} needs a CUDA GPU, but torch sees none here (torch {torch.__version__}, built with CUDA "
                f"{torch.version.cuda or 'none'}); use cpu, or auto to take every GPU a machine has",
            )
        if index >= count:
            seen = ", ".join(f"cuda:{i}" for i in range(count))
            raise FieldError(field, f"{entry} does not exist: this machine has {count} CUDA GPU(s): {seen}")
        devices.append(f"cuda:{index}")
    return DevicePlan(tuple(devices))


def worker_names(base: str, devices: tuple[str, ...] | list[str]) -> list[str]:
    """One worker name per device, as claims record them: ``base/cuda:0``; a repeated device gets ``#2``, ``#3``."""
    seen: dict[str, int] = {}
    names = []
    for device in devices:
        seen[device] = seen.get(device, 0) + 1
        names.append(f"{base}/{device}" + (f"#{seen[device]}" if seen[device] > 1 else ""))
    return names


@functools.cache
def _machine() -> dict[str, Any]:
    """What does not change while a process runs: host, Python, torch and its CUDA build, the CPU's model."""
    import torch

    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, *, requested: str | None = None) -> dict[str, Any]:
    """Where a trial runs, for its record: the device and its name (the GPU's, or the CPU model), torch and the
    CUDA version it was built with, cuDNN on a GPU, the host and Python. ``requested`` is the worker's device when
    the trial could not use it (a task that takes no device runs on the cpu)."""
    import torch

    env: dict[str, Any] = {"device": device}
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        env["device_name"] = torch.cuda.get_device_name(index)
        env["cudnn"] = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
    else:
        env["device_name"] = _machine()["cpu"]
    env.update(_machine())
    del env["cpu"]
    if requested is not None and requested != device:
        env["requested_device"] = requested
    return env
