"""``noisy-quadratic``: the noisy quadratic model (NQM) of Zhang et al., 2019 ("Which algorithmic choices matter at
which batch sizes?"), a closed-form stand-in for neural-network training.

f(x) = ½ Σ_i h_i x_i², with curvatures h_i log-spaced from 1 down to 1/condition.  Each step sees the gradient
h ⊙ x + ξ with ξ_i ~ N(0, noise² · h_i) (gradient noise covariance proportional to the curvature, as for a
loss whose Hessian equals the gradient covariance).  The training loss of a batch ξ is
½ Σ h_i x_i² + Σ ξ_i x_i, so ``loss.backward()`` yields exactly that noisy gradient; the metric is the
noise-free f(x).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from zone_explorer.tasks._common import INIT_STREAM, SHUFFLE_STREAM
from zone_explorer.tasks.base import Task, TaskRun, generator

__all__ = ["NoisyQuadratic", "NoisyQuadraticTask"]


class NoisyQuadratic(nn.Module):
    """Holds the iterate ``x`` (the only parameter) and the fixed curvatures ``h`` (a buffer)."""

    h: torch.Tensor

    def __init__(self, h: torch.Tensor, x0: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("h", h)
        self.x = nn.Parameter(x0)

    def forward(self, xi: torch.Tensor | None = None) -> torch.Tensor:
        value = 0.5 * (self.h * self.x.square()).sum()
        return value if xi is None else value + (xi * self.x).sum()


class _NoisyQuadraticRun:
    """The noise is drawn on the CPU (its generator is a CPU one: a seed gives the same run on every device) and
    moves to the device one epoch at a time."""

    def __init__(self, task: NoisyQuadraticTask, seed: int, device: str | torch.device) -> None:
        self.seed = int(seed)
        self.steps_per_epoch = task.steps_per_epoch()
        self.device = torch.device(device)
        h = task.curvatures()
        self.noise_std = (task.noise * h.sqrt()).to(self.device)
        x0 = torch.randn(task.dim, generator=generator(self.seed, INIT_STREAM), dtype=torch.float32) * task.init_scale
        self.model: nn.Module = NoisyQuadratic(h, x0).to(self.device)

    def batches(self, epoch: int) -> Iterator[torch.Tensor]:
        z = torch.randn(
            self.steps_per_epoch, len(self.noise_std), generator=generator(self.seed, SHUFFLE_STREAM, int(epoch))
        )
        yield from z.to(self.device) * self.noise_std  # one noise vector ξ per step

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = self.model(batch)
        return loss

    def evaluate(self) -> float:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return float(self.model().item())
        finally:
            self.model.train(was_training)


class NoisyQuadraticTask(Task):
    """The NQM with options; the registered ``noisy-quadratic`` uses the defaults."""

    metric = "final_loss"
    direction = "minimize"
    metric_range = (0.0, math.inf)

    def __init__(
        self,
        *,
        dim: int = 100,
        condition: float = 1e3,
        noise: float = 0.3,
        init_scale: float = 1.0,
        steps: int = 100,
        epochs: int = 10,
        name: str = "noisy-quadratic",
    ) -> None:
        if dim < 1 or condition < 1 or noise < 0 or init_scale <= 0 or steps < 1 or epochs < 1:
            raise ValueError(
                "noisy-quadratic: need dim >= 1, condition >= 1, noise >= 0, init_scale > 0, steps >= 1, epochs >= 1"
            )
        self.dim = int(dim)
        self.condition = float(condition)
        self.noise = float(noise)
        self.init_scale = float(init_scale)
        self._steps = int(steps)
        self.default_epochs = int(epochs)
        self.name = name
        self.description = (
            "Noisy quadratic model: ½Σh_i·x_i² with log-spaced curvatures and curvature-proportional gradient noise; "
            "the metric is the exact noise-free loss after training."
        )
        self.dataset = (
            f"synthetic: {self.dim} dims, h_i log-spaced 1 .. {1 / self.condition:g} (condition {self.condition:g}), "
            f"gradient noise N(0, {self.noise:g}²·h_i), {self._steps} noise draws per epoch"
        )
        self.model = f"{self.dim} parameters x, x0 ~ N(0, {self.init_scale:g}²)"

    def curvatures(self) -> torch.Tensor:
        return torch.logspace(0.0, -math.log10(self.condition), self.dim, dtype=torch.float64).to(torch.float32)

    def steps_per_epoch(self) -> int:
        return self._steps

    def setup(self, seed: int, device: str | torch.device = "cpu") -> TaskRun:
        return _NoisyQuadraticRun(self, seed, device)
