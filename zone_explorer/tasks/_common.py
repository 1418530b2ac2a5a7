"""Pieces shared by the built-in tasks: seeded minibatching over in-memory tensors and a fixed stratified split."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator

import numpy as np
import torch

from zone_explorer.tasks.base import generator

#: stream tags mixed into seeds so that initialisation and shuffling never share a random stream
INIT_STREAM = 1
SHUFFLE_STREAM = 2


def stratified_split(y: np.ndarray, val_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices, stratified by ``y``, fixed by ``split_seed`` (not by the trial seed)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train, val = train_test_split(idx, test_size=val_fraction, stratify=y, random_state=split_seed)
    return np.sort(train), np.sort(val)


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


class MinibatchRun:
    """A :class:`~zone_explorer.tasks.base.TaskRun` over in-memory ``(x, y)`` training tensors.

    ``batches(epoch)`` is a fresh permutation per (seed, epoch), drawn from its own generator, split into
    ``ceil(n / batch_size)`` batches (the last one may be smaller).  The tensors move to the model's device once;
    the permutation is drawn on the CPU (its generator is a CPU one, so a seed shuffles alike on every device).
    """

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.x_train = x.to(self.device)
        self.y_train = y.to(self.device)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.steps_per_epoch = n_batches(len(x), self.batch_size)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(len(self.x_train), generator=generator(self.seed, SHUFFLE_STREAM, int(epoch)))
        for start in range(0, len(perm), self.batch_size):
            take = perm[start : start + self.batch_size].to(self.device)
            yield self.x_train[take], self.y_train[take]

    @abstractmethod
    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor: ...

    @abstractmethod
    def _metric(self) -> float: ...

    def evaluate(self) -> float:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return float(self._metric())
        finally:
            self.model.train(was_training)
