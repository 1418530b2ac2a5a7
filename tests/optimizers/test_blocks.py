"""Cache blocking: the blocks cover every element once, as views, cut where the CPU paths need them."""

from __future__ import annotations

import pytest
import torch

from optimizers._blocks import cache_blocks


def test_blocks_are_views_covering_every_element_once() -> None:
    shapes = [(3,), (1000,), (50, 7), (0,), (5,), (300,)]
    a = [torch.arange(torch.Size(s).numel(), dtype=torch.float64).reshape(s) for s in shapes]
    a.append(torch.arange(200, dtype=torch.float64).reshape(10, 20).t())  # not contiguous: goes whole
    b = [t.clone() for t in a]
    blocks = list(cache_blocks([a, b], block=256))
    for block_a, block_b in blocks:
        assert [t.shape for t in block_a] == [t.shape for t in block_b]
        assert sum(t.numel() for t in block_a) <= 256 or len(block_a) == 1
        torch._foreach_mul_(block_a, 2.0)
        torch._foreach_add_(block_b, 1.0)
    for x, y, shape in zip(a, b, [*shapes, (20, 10)]):
        expected = torch.arange(x.numel(), dtype=torch.float64)
        expected = expected.reshape(10, 20).t() if shape == (20, 10) else expected.reshape(shape)
        assert torch.equal(x, 2 * expected) and torch.equal(y, expected + 1)  # once each, in place
    big = a[1].untyped_storage().data_ptr()
    offsets = [t.storage_offset() for block_a, _ in blocks for t in block_a if t.untyped_storage().data_ptr() == big]
    assert len(offsets) > 1 and all(o % 64 == 0 for o in offsets)  # the 1000-element tensor, cut at 64-multiples


def test_block_below_alignment_is_rejected() -> None:
    with pytest.raises(ValueError, match="block must be >= 64"):
        list(cache_blocks([[torch.zeros(3)]], block=8))
