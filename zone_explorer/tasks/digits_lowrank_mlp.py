"""``digits-lowrank-mlp``: an MLP with low-rank hidden layers (W = U S V^T) on scikit-learn's 8x8 digits.

The task of LOWRANK.md section 4: 64 -> 256 -> 256 -> 10, the first two layers
:class:`~optimizers.lowrank.LowRankLinear` of rank ``rank`` (the parameter budget), initialised from the top-``rank``
SVD of a weight drawn like ``nn.Linear``'s. Train it with ``lowrank-hb`` (geometric momentum) or with ``sgd``
(heavy-ball on the factors as plain tensors: the naive baseline) and compare the two zones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optimizers.hyperparams import Hyperparameter
from optimizers.lowrank import LowRankLinear
from zone_explorer.tasks._common import INIT_STREAM, MinibatchRun, n_batches
from zone_explorer.tasks.base import Task, TaskRun, build_module, generator
from zone_explorer.tasks.digits_cnn import _data

__all__ = ["DigitsLowRankMLPTask", "lowrank_mlp"]

N_IN, N_CLASSES = 64, 10
#: the task's own arguments, validated like hyperparameters (the field and its domain in every error)
_HIDDEN = Hyperparameter("hidden", "int", 256, "width of the two hidden layers", low=2, high=4096)
_BATCH = Hyperparameter("batch_size", "int", 64, "minibatch size", low=1, high=1437)


def lowrank_mlp(rank: int, hidden: int = 256, r_max: int | None = None) -> nn.Module:
    """LowRankLinear(64, hidden) ReLU LowRankLinear(hidden, hidden) ReLU Linear(hidden, 10)."""
    return nn.Sequential(
        LowRankLinear(N_IN, hidden, rank, r_max=r_max),
        nn.ReLU(),
        LowRankLinear(hidden, hidden, rank, r_max=r_max),
        nn.ReLU(),
        nn.Linear(hidden, N_CLASSES),
    )


class _Run(MinibatchRun):
    def __init__(self, model: nn.Module, batch_size: int, seed: int) -> None:
        x_train, y_train, x_val, y_val = _data()
        super().__init__(model, x_train.flatten(1), y_train, batch_size, seed)
        self.x_val, self.y_val = x_val.flatten(1).to(self.device), y_val.to(self.device)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def _metric(self) -> float:
        return float((self.model(self.x_val).argmax(1) == self.y_val).float().mean())


class DigitsLowRankMLPTask(Task):
    name = "digits-lowrank-mlp"
    description = (
        "MLP with low-rank hidden layers W = U S V^T classifying 8x8 digits; validation accuracy on a fixed 20% "
        "stratified split. For geometric (lowrank-hb) versus naive factor momentum (sgd)."
    )
    metric = "val_accuracy"
    direction = "maximize"
    metric_range = (0.0, 1.0)
    default_epochs = 20
    dataset = "sklearn load_digits: 1797 8x8 grey images as 64 features, 10 classes; fixed split 1437 train / 360 val"
    model = ""  # set per instance: it names the rank

    def __init__(self, rank: int = 16, hidden: int = 256, batch_size: int = 64, r_max: int | None = None) -> None:
        owner = type(self).__name__
        self.hidden = _HIDDEN.validate(hidden, owner=owner)
        top = min(N_IN, self.hidden)
        self.rank = Hyperparameter("rank", "int", 1, "rank of the hidden layers", low=1, high=top).validate(
            rank, owner=owner
        )
        self.r_max = Hyperparameter("r_max", "int", top, "most rank", low=self.rank, high=top, nullable=True).validate(
            r_max, owner=owner
        )
        self.batch_size = _BATCH.validate(batch_size, owner=owner)
        cap = self.r_max or self.rank
        with torch.device("meta"):  # count without drawing anything
            n_params = sum(p.numel() for p in lowrank_mlp(cap, self.hidden, cap).parameters())
        self.model = (
            f"MLP 64-{self.hidden}-{self.hidden}-10, ReLU, hidden layers LowRankLinear of rank {self.rank}"
            + (f" (up to {self.r_max})" if self.r_max else "")
            + f", {n_params / 1000:.0f}k parameters"
        )

    def steps_per_epoch(self) -> int:
        return n_batches(len(_data()[1]), self.batch_size)

    def setup(self, seed: int, device: str | torch.device = "cpu") -> TaskRun:
        model = build_module(
            lambda: lowrank_mlp(self.rank, self.hidden, self.r_max), generator(seed, INIT_STREAM), device
        )
        return _Run(model, self.batch_size, seed)
