"""``charlm-pydoc``: a character-level GRU language model on the English text of Python's own help topics
(``pydoc_data.topics.topics``, shipped with the standard library, so no download).

The topics are joined in sorted key order, mapped to a fixed 97-symbol vocabulary (newline, the 95 printable
ASCII characters and one "unknown"; typographic quotes and dashes become their ASCII forms) and split into
contiguous text: the first 90 % trains, the last 10 % validates.  An epoch is a fixed number of batches of
windows at random offsets (per seed and epoch) to bound the time; the metric is the mean cross-entropy in
nats per character on fixed, evenly spaced windows of the validation text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zone_explorer.tasks._common import INIT_STREAM, SHUFFLE_STREAM
from zone_explorer.tasks.base import Task, TaskRun, build_module, generator

__all__ = ["CharGRU", "CharLMPydocTask", "VOCAB", "decode", "encode"]

#: index 0 is newline, 1..95 printable ASCII, 96 the unknown symbol
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
UNKNOWN = len(VOCAB)
VOCAB_SIZE = len(VOCAB) + 1
_ASCII_FORMS: dict[str, str | int | None] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\t": "    ",
}
VAL_FRACTION = 0.1


def encode(text: str) -> torch.Tensor:
    """Map ``text`` onto the vocabulary: int64 tensor of indices in ``[0, VOCAB_SIZE)``."""
    text = text.translate(str.maketrans(_ASCII_FORMS))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.full(128, UNKNOWN, dtype=np.int64)
    for i, ch in enumerate(VOCAB):
        table[ord(ch)] = i
    ids = np.where(codes < 128, table[np.minimum(codes, 127)], UNKNOWN)
    return torch.from_numpy(ids.astype(np.int64))


def decode(ids: torch.Tensor) -> str:
    return "".join(VOCAB[i] if i < UNKNOWN else "\ufffd" for i in ids.tolist())


@functools.cache
def _data() -> tuple[torch.Tensor, torch.Tensor]:
    """(train_ids, val_ids): the encoded corpus split into two contiguous pieces."""
    from pydoc_data.topics import topics

    ids = encode("\n".join(topics[key] for key in sorted(topics)))
    cut = int(len(ids) * (1 - VAL_FRACTION))
    return ids[:cut], ids[cut:]


class CharGRU(nn.Module):
    """Embedding -> single-layer GRU -> linear read-out over the vocabulary."""

    def __init__(self, embed: int = 48, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB_SIZE)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(ids))
        logits: torch.Tensor = self.head(out)
        return logits


class _CharLMRun:
    """Windows are cut on the CPU (where the text and the generators live) and each batch moves to the device."""

    def __init__(self, task: CharLMPydocTask, seed: int, device: str | torch.device) -> None:
        self.seed = int(seed)
        self.task = task
        self.steps_per_epoch = task.steps_per_epoch()
        self.train_ids, val_ids = _data()
        self.model = build_module(lambda: CharGRU(task.embed, task.hidden), generator(self.seed, INIT_STREAM), device)
        self.device = torch.device(device)
        self.val_windows = _val_windows(val_ids, task.eval_windows, task.eval_length).to(self.device)

    def batches(self, epoch: int) -> Iterator[torch.Tensor]:
        t, b = self.task.seq_len + 1, self.task.batch_size
        starts = torch.randint(
            0,
            len(self.train_ids) - t + 1,
            (self.steps_per_epoch, b),
            generator=generator(self.seed, SHUFFLE_STREAM, int(epoch)),
        )
        offsets = torch.arange(t)
        for row in starts:
            yield self.train_ids[row[:, None] + offsets].to(self.device)  # (batch, seq_len + 1)

    def _nll(self, windows: torch.Tensor) -> torch.Tensor:
        logits = self.model(windows[:, :-1])
        return F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), windows[:, 1:].reshape(-1))

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self._nll(batch)

    def evaluate(self) -> float:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return float(self._nll(self.val_windows).item())
        finally:
            self.model.train(was_training)


def _val_windows(val_ids: torch.Tensor, count: int, length: int) -> torch.Tensor:
    """``count`` evenly spaced windows of ``length + 1`` characters from the validation text."""
    count = max(1, min(count, len(val_ids) // (length + 1)))
    starts = torch.linspace(0, len(val_ids) - length - 1, count).long()
    return val_ids[starts[:, None] + torch.arange(length + 1)]


class CharLMPydocTask(Task):
    name = "charlm-pydoc"
    description = (
        "Character-level GRU language model on Python's built-in help text; validation cross-entropy in nats/char."
    )
    metric = "val_loss"
    direction = "minimize"
    metric_range = (0.0, math.inf)
    dataset = "pydoc_data.topics (Python's help topics, ~465k chars), 97-symbol vocabulary; first 90% train, last 10% validation"
    model = "char GRU: embedding 48, 1 layer of 128 units, linear read-out; 86k parameters"

    def __init__(
        self,
        *,
        batch_size: int = 32,
        seq_len: int = 64,
        steps: int = 50,
        epochs: int = 6,
        embed: int = 48,
        hidden: int = 128,
        eval_windows: int = 128,
        eval_length: int = 128,
    ) -> None:
        self.batch_size, self.seq_len, self._steps = int(batch_size), int(seq_len), int(steps)
        self.default_epochs = int(epochs)
        self.embed, self.hidden = int(embed), int(hidden)
        self.eval_windows, self.eval_length = int(eval_windows), int(eval_length)

    def steps_per_epoch(self) -> int:
        return self._steps

    def setup(self, seed: int, device: str | torch.device = "cpu") -> TaskRun:
        return _CharLMRun(self, seed, device)
