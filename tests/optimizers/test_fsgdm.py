"""FSGDM: the reference vectors, the official `fsgdm` package as a live oracle, and FSGDM-specific rules."""

from __future__ import annotations

import math

import pytest
import torch

from optimizers import FSGDM
from optimizers.fsgdm import momentum_coefficient
from tests.optimizers.refdata import entries, parse_args, run_protocol

PATHS = [dict(foreach=False, fused=False), dict(foreach=True, fused=False), dict(fused=True)]
PATH_IDS = ["single", "foreach", "fused"]


def _kwargs(name: str) -> dict:
    a = parse_args(name)
    return dict(
        lr=a["lr"],
        weight_decay=a["wd"],
        c_scaling=a["c"],
        v_coefficient=a["v"],
        n_stages=int(a["N"]),
        sigma=int(a["sigma"]),
    )


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("name", list(entries("FSGDM")))
def test_reference_vectors(name: str, path: dict) -> None:
    expected = entries("FSGDM")[name]
    run = run_protocol(lambda p: FSGDM([p], **_kwargs(name), **path), state_keys=("momentum_buffer",))
    for t in range(5):
        torch.testing.assert_close(
            run.params[t], torch.tensor(expected["params_after_step"][t], dtype=torch.float64), rtol=1e-9, atol=1e-15
        )
        extras = expected["extras_after_step"][t]
        torch.testing.assert_close(
            run.state[t]["momentum_buffer"],
            torch.tensor(extras["momentum_buffer"], dtype=torch.float64),
            rtol=1e-9,
            atol=1e-15,
        )
        assert run.group_steps[t] == extras["group_step"]


def test_momentum_staircase_matches_spec() -> None:
    # defaults: delta = 390, mu = 3861; u is 0 for calls 1..389, then delta/(delta+mu); ~0.968 at the end.
    assert momentum_coefficient(389, 0.033, 300, 117000) == 0.0
    assert momentum_coefficient(390, 0.033, 300, 117000) == pytest.approx(390 / (390 + 0.033 * 117000))
    assert momentum_coefficient(3900, 0.033, 300, 117000) == pytest.approx(0.50, abs=0.01)
    assert momentum_coefficient(117000, 0.033, 300, 117000) == pytest.approx(1 / 1.033)


def _random_problem(dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (5,), (3, 4, 2), (1,), (16, 8)]
    return [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes]


def _run_with_scheduler(make_opt, params: list[torch.Tensor], steps: int, seed: int = 1) -> list[torch.Tensor]:
    opt = make_opt(params)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
        opt.step()
        sched.step()
    return [opt.state[p]["momentum_buffer"] for p in params]


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize(
    "cfg",
    [
        dict(lr=0.1, weight_decay=5e-4, c_scaling=0.033, v_coefficient=1.0, n_stages=10, sigma=250),
        dict(lr=0.05, weight_decay=1e-2, c_scaling=0.2, v_coefficient=0.4, n_stages=8, sigma=240),
        dict(lr=0.02, weight_decay=0.0, c_scaling=0.05, v_coefficient=3.0, n_stages=250, sigma=250),
    ],
    ids=["defaults-like", "v<1", "delta=1"],
)
def test_official_fsgdm_oracle(cfg: dict, path: dict) -> None:
    """250 steps over many stages with a cosine LR schedule: equal to the official package in float64."""
    import fsgdm as official

    ours_p, theirs_p = _random_problem(torch.float64), _random_problem(torch.float64)
    ours_m = _run_with_scheduler(lambda ps: FSGDM(ps, **cfg, **path), ours_p, 250)
    theirs_m = _run_with_scheduler(lambda ps: official.FSGDM(ps, **cfg), theirs_p, 250)
    for a, b in zip(ours_p + ours_m, theirs_p + theirs_m):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize(
    "dtype,tol,path",
    [
        (torch.float32, 1e-5, PATHS[0]),
        (torch.float32, 1e-5, PATHS[1]),
        (torch.float32, 1e-5, PATHS[2]),
        (torch.bfloat16, 2e-2, PATHS[0]),
        (torch.bfloat16, 2e-2, PATHS[1]),
        (torch.bfloat16, 2e-2, dict(fused=None)),
    ],
    ids=["f32-single", "f32-foreach", "f32-fused", "bf16-single", "bf16-foreach", "bf16-auto"],
)
def test_low_precision_tracks_float64(dtype: torch.dtype, tol: float, path: dict) -> None:
    cfg = dict(lr=0.01, weight_decay=5e-4, c_scaling=0.1, v_coefficient=1.0, n_stages=5, sigma=50)
    ref = _random_problem(torch.float64)
    low = [p.to(dtype) for p in ref]
    ref = [p.to(dtype).double() for p in ref]  # the same starting point, seen in float64
    _run_with_scheduler(lambda ps: FSGDM(ps, **cfg, **path), ref, 50)
    _run_with_scheduler(lambda ps: FSGDM(ps, **cfg, **path), low, 50)
    for a, b in zip(low, ref):
        assert a.dtype == dtype
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol)


def test_fused_refuses_bfloat16_rather_than_diverging() -> None:
    p = torch.zeros(2, dtype=torch.bfloat16, requires_grad=True)
    p.grad = torch.ones_like(p)
    opt = FSGDM([p], fused=True, n_stages=1, sigma=1)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        opt.step()


def test_readme_typo_is_rejected_with_a_suggestion() -> None:
    # The official package swallows the README's misspelling and silently keeps v = 1.
    with pytest.raises(TypeError, match="v_coeffcicent.*did you mean 'v_coefficient'"):
        FSGDM([torch.zeros(2, requires_grad=True)], v_coeffcicent=2.0)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(sigma=10, n_stages=20), "sigma must be >= n_stages"),
        (dict(c_scaling=0.0), r"c_scaling must be a float in \(0, inf\)"),
        (dict(n_stages=0), r"n_stages must be an integer in \[1, inf\)"),
        (dict(lr=-0.1), r"lr must be a float in \[0, inf\)"),
        (dict(v_coefficient=-1.0), r"v_coefficient must be a float in \[0, inf\)"),
        (dict(weight_decay=float("nan")), "weight_decay must be"),
    ],
)
def test_invalid_values_name_the_field_and_domain(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FSGDM([torch.zeros(2, requires_grad=True)], **kwargs)


def test_param_group_constraint_checked_on_add() -> None:
    opt = FSGDM([torch.zeros(2, requires_grad=True)], n_stages=10, sigma=100)
    with pytest.raises(ValueError, match="sigma must be >= n_stages"):
        opt.add_param_group({"params": [torch.zeros(3, requires_grad=True)], "n_stages": 200})
    assert len(opt.param_groups) == 1


def test_counter_advances_without_gradients() -> None:
    p = torch.zeros(2, requires_grad=True)
    opt = FSGDM([p], n_stages=2, sigma=4)
    opt.step()
    opt.step()
    assert opt.param_groups[0]["step"] == 3.0
    assert math.isclose(momentum_coefficient(3.0, 0.033, 2, 4), 2 / (2 + 0.033 * 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("v", [1.0, 0.4])
def test_first_stage_runs_the_fused_kernel(v: float, dtype: torch.dtype, monkeypatch) -> None:
    """u = 0 (calls 1..delta-1) goes through the fused kernel, then u > 0 as later steps; the result equals the
    single-tensor path. float32 on CPU: after the first step, later steps with a vanishing momentum (m = v*d), one
    call per step and no other pass over the buffers. float64: first steps, and for v != 1 a pass that scales the
    buffers (the vanishing momentum would be a subnormal there, and slow)."""
    calls: list[tuple[bool, float]] = []
    scaled: list[float] = []
    real_sgd, real_mul = torch._fused_sgd_, torch._foreach_mul_

    def spy_sgd(*args, **kwargs):
        calls.append((kwargs["is_first_step"], kwargs["momentum"]))
        return real_sgd(*args, **kwargs)

    def spy_mul(tensors, scalar):
        scaled.append(scalar)
        return real_mul(tensors, scalar)

    monkeypatch.setattr(torch, "_fused_sgd_", spy_sgd)
    monkeypatch.setattr(torch, "_foreach_mul_", spy_mul)
    cfg = dict(lr=0.05, weight_decay=1e-2, c_scaling=0.2, v_coefficient=v, n_stages=4, sigma=40)  # delta = 10
    fused = _run_with_scheduler(lambda ps: FSGDM(ps, **cfg), fused_p := _random_problem(dtype), 14)
    u = momentum_coefficient(10.0, 0.2, 4, 40)
    if dtype == torch.float32:
        first_stage, rescales = [(True, 1.0)] + [(False, math.ulp(0.0))] * 8, []
    else:
        first_stage, rescales = [(True, 1.0)] * 9, [] if v == 1.0 else [v] * 8
    assert calls == first_stage + [(False, pytest.approx(u))] * 5
    assert scaled == rescales
    monkeypatch.undo()
    single = _run_with_scheduler(lambda ps: FSGDM(ps, **cfg, fused=False), single_p := _random_problem(dtype), 14)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_p + fused, single_p + single):
        torch.testing.assert_close(a, b, **tol)
