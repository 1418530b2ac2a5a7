"""``tabular-mlp``: an MLP on scikit-learn's Wisconsin breast-cancer table (569 rows, 30 features, bundled)."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zone_explorer.tasks._common import INIT_STREAM, MinibatchRun, n_batches, stratified_split
from zone_explorer.tasks.base import Task, TaskRun, build_module, generator

__all__ = ["TabularMLPTask"]

SPLIT_SEED = 20240602  # fixed: every trial validates on the same 114 rows
VAL_FRACTION = 0.2


@functools.cache
def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val); features standardised with the training rows' mean and std, labels float {0, 1}."""
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    train, val = stratified_split(table.target, VAL_FRACTION, SPLIT_SEED)
    x = table.data.astype(np.float64)
    mean, std = x[train].mean(0), x[train].std(0)
    x = ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    xt, yt = torch.from_numpy(x), torch.from_numpy(table.target.astype(np.float32))
    return xt[train], yt[train], xt[val], yt[val]


def _mlp(n_in: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class _TabularRun(MinibatchRun):
    def __init__(self, model: nn.Module, batch_size: int, seed: int) -> None:
        x_train, y_train, x_val, y_val = _data()
        super().__init__(model, x_train, y_train, batch_size, seed)
        self.x_val, self.y_val = x_val.to(self.device), y_val.to(self.device)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.binary_cross_entropy_with_logits(self.model(x).squeeze(1), y)

    def _metric(self) -> float:
        return F.binary_cross_entropy_with_logits(self.model(self.x_val).squeeze(1), self.y_val).item()


class TabularMLPTask(Task):
    name = "tabular-mlp"
    description = "MLP classifying breast-cancer biopsies (malignant/benign); validation log-loss on a fixed 20% stratified split."
    metric = "val_logloss"
    direction = "minimize"
    metric_range = (0.0, math.inf)
    default_epochs = 20
    dataset = "sklearn load_breast_cancer: 569 rows x 30 features, binary; fixed stratified split 455 train / 114 val, standardised"
    model = "MLP 30-64-64-1, ReLU, 6k parameters, binary cross-entropy on the logit"

    def __init__(self, batch_size: int = 32, hidden: int = 64) -> None:
        self.batch_size = int(batch_size)
        self.hidden = int(hidden)

    def steps_per_epoch(self) -> int:
        return n_batches(len(_data()[1]), self.batch_size)

    def setup(self, seed: int, device: str | torch.device = "cpu") -> TaskRun:
        n_in = _data()[0].shape[1]
        model = build_module(lambda: _mlp(n_in, self.hidden), generator(seed, INIT_STREAM), device)
        return _TabularRun(model, self.batch_size, seed)
