"""``fused=True`` (the compiled update, optimizers/_compiled.py), every optimizer that has it, several configurations.

The reference vectors run through the compiled path too (test_lion, test_autosgm, test_schedulefree); here: it agrees
with the default path under an LR scheduler without recompiling, on float32 and non-contiguous tensors, resumes
exactly from a state_dict, and is refused with a ValueError naming ``fused`` where it cannot run.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch._dynamo

from optimizers import Lion
from optimizers.registry import get_optimizer

#: (registry name, configuration): the flags each compiled kernel branches on, each way at least once
FUSED_CASES = [
    ("lion", dict(lr=0.01)),
    ("lion", dict(lr=0.01, weight_decay=0.1, nesterov_momentum=0.3, beta1=0.8)),
    ("autosgm", dict(lr_init=0.05, num_lrc=0, tau=1, spe=60)),  # Adam-like
    ("autosgm", dict(lr_init=0.05, num_lrc=0, gamma_i=0.3, weight_decay=0.01, wd_level=1, repeat_eps=True)),
    ("autosgm", dict(lr_init=0.05, aoptlr=False, weight_decay=0.01, wd_level=0, rcm=1, tau=1, spe=8)),  # heavy ball
    ("autosgm", dict(lr_init=0.05, num_lrc=1)),  # an estimator: fused=True keeps the estimator's path
    ("sgd-schedulefree", dict(lr=0.5, momentum=0.9, warmup_steps=3)),
    ("sgd-schedulefree", dict(lr=0.5, weight_decay=1e-3, r=0.5)),
    ("adamw-schedulefree", dict(lr=0.02, weight_decay=0.01, warmup_steps=3)),
    ("adamw-schedulefree", dict(lr=0.02, beta1=0.8, beta2=0.99, weighting="scheduled")),
]
FUSED_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(FUSED_CASES)]


def _start(dtype: torch.dtype) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    return [
        torch.randn(6, 5, generator=gen, dtype=dtype),
        torch.randn(9, generator=gen, dtype=dtype),
        torch.randn(4, 3, generator=gen, dtype=dtype).t(),  # non-contiguous
    ]


def _run(name: str, cfg: dict, start: list[torch.Tensor], steps: int, **switches) -> tuple[list, torch.optim.Optimizer]:
    params = [t.clone().requires_grad_() for t in start]
    opt = get_optimizer(name).create(params, cfg, **switches)
    if hasattr(opt, "train"):
        opt.train()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)  # a new lr every step
    gen = torch.Generator().manual_seed(5)
    for t in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        if t == 2 and switches.get("fused"):
            # compiled by now: a new lr (and AutoSGM's new window and bias corrections) must not recompile
            with torch._dynamo.config.patch(error_on_recompile=True):
                opt.step()
        else:
            opt.step()
        sched.step()
    return params, opt


@pytest.mark.parametrize("name,cfg", FUSED_CASES, ids=FUSED_IDS)
def test_fused_equals_the_default_path(name: str, cfg: dict) -> None:
    start = _start(torch.float64)
    ours, _ = _run(name, cfg, start, 12, fused=True)
    ref, _ = _run(name, cfg, start, 12)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["lion", "autosgm", "sgd-schedulefree", "adamw-schedulefree"])
def test_fused_float32_agrees(name: str) -> None:
    cfg = next(c for n, c in FUSED_CASES if n == name)
    start = _start(torch.float32)
    ours, _ = _run(name, cfg, start, 8, fused=True)
    ref, _ = _run(name, cfg, start, 8)
    for a, b in zip(ours, ref):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lion", "autosgm", "sgd-schedulefree", "adamw-schedulefree"])
def test_fused_state_dict_resumes_exactly(name: str) -> None:
    cfg = next(c for n, c in FUSED_CASES if n == name)
    start = _start(torch.float64)
    straight, _ = _run(name, cfg, start, 10, fused=True)
    # the first 5 steps, a checkpoint through torch.save / torch.load(weights_only=True), then 5 more steps
    first, opt = _run(name, cfg, start, 5, fused=True)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    resumed = [p.detach().clone().requires_grad_() for p in first]
    opt2 = get_optimizer(name).create(resumed, cfg, fused=True)
    opt2.load_state_dict(torch.load(buf, weights_only=True))
    assert all(group["fused"] for group in opt2.param_groups)
    if hasattr(opt2, "train"):
        opt2.train()
    gen = torch.Generator().manual_seed(5)
    for t in range(10):
        grads = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in resumed]
        if t < 5:
            continue  # the gradients of the steps already taken
        for p, g in zip(resumed, grads):
            p.grad = g
        opt2.step()
        for group in opt2.param_groups:
            group["lr"] *= 0.9
    for a, b in zip(resumed, straight):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_many_param_group_variants_stay_compiled_and_exact() -> None:
    """More variants than torch's default recompile limit (8): param groups of 1 to 10 tensors, each length a new
    graph. Every group compiles (no fallback, no error) and equals the default path."""
    import torch._dynamo.utils

    gen = torch.Generator().manual_seed(1)
    groups = [[torch.randn(3 + k, generator=gen, dtype=torch.float64) for k in range(n)] for n in range(1, 11)]
    ours = [[t.clone().requires_grad_() for t in g] for g in groups]
    ref = [[t.clone().requires_grad_() for t in g] for g in groups]
    fused = Lion([{"params": g} for g in ours], lr=0.01, fused=True)
    plain = Lion([{"params": g} for g in ref], lr=0.01)
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for _ in range(3):
        for a, b in zip(ours, ref):
            for p, q in zip(a, b):
                p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                q.grad = p.grad.clone()
        fused.step()
        plain.step()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - before >= 9  # compiled, not run eagerly
    for a, b in zip(ours, ref):
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_fused_with_foreach_is_refused() -> None:
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"fused=True and foreach=True cannot be set together"):
        Lion([p], fused=True, foreach=True)


def test_fused_without_a_compiler_is_refused_and_the_group_not_added(monkeypatch) -> None:
    p, q = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = Lion([p])
    monkeypatch.setenv("CXX", "/nonexistent/c++")  # the machine's compiler, as torch.compile would look it up
    with pytest.raises(ValueError, match=r"fused=True cannot run here: no C\+\+ compiler found.*fused=False"):
        Lion([q], fused=True)
    with pytest.raises(ValueError, match=r"Lion param group: fused=True cannot run here"):
        opt.add_param_group({"params": [q], "fused": True})
    assert len(opt.param_groups) == 1  # a rejected group leaves the optimizer as it was
