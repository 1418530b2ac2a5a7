"""``digits-cnn``: a small CNN on scikit-learn's 8x8 handwritten digits (1797 images, bundled, no download)."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zone_explorer.tasks._common import INIT_STREAM, MinibatchRun, n_batches, stratified_split
from zone_explorer.tasks.base import Task, TaskRun, build_module, generator

__all__ = ["DigitsCNN", "DigitsCNNTask"]

SPLIT_SEED = 20240601  # fixed: every trial validates on the same 360 images
VAL_FRACTION = 0.2


@functools.cache
def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val): images scaled to [0, 1] as (N, 1, 8, 8) float32, labels int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    train, val = stratified_split(digits.target, VAL_FRACTION, SPLIT_SEED)
    return x[train], y[train], x[val], y[val]


class DigitsCNN(nn.Module):
    """conv3x3(1->16) ReLU, conv3x3(16->32) ReLU, maxpool 2, linear(512->64) ReLU, linear(64->10)."""

    def __init__(self, width: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc1 = nn.Linear(2 * width * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        logits: torch.Tensor = self.fc2(F.relu(self.fc1(x.flatten(1))))
        return logits


class _DigitsRun(MinibatchRun):
    def __init__(self, model: nn.Module, batch_size: int, seed: int) -> None:
        x_train, y_train, x_val, y_val = _data()
        super().__init__(model, x_train, y_train, batch_size, seed)
        self.x_val, self.y_val = x_val.to(self.device), y_val.to(self.device)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def _metric(self) -> float:
        return float((self.model(self.x_val).argmax(1) == self.y_val).float().mean())


class DigitsCNNTask(Task):
    name = "digits-cnn"
    description = "Small CNN classifying 8x8 handwritten digits; validation accuracy on a fixed 20% stratified split."
    metric = "val_accuracy"
    direction = "maximize"
    metric_range = (0.0, 1.0)
    default_epochs = 10
    dataset = "sklearn load_digits: 1797 8x8 grey images, 10 classes; fixed stratified split 1437 train / 360 val"
    model = "CNN conv3x3(16)-conv3x3(32)-maxpool-fc(64)-fc(10), ReLU, 38k parameters"

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = int(batch_size)

    def steps_per_epoch(self) -> int:
        return n_batches(len(_data()[1]), self.batch_size)

    def setup(self, seed: int, device: str | torch.device = "cpu") -> TaskRun:
        model = build_module(DigitsCNN, generator(seed, INIT_STREAM), device)
        return _DigitsRun(model, self.batch_size, seed)
