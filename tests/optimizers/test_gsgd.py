"""GSGD: reference trajectories, torch.optim.SGD reductions, paths, and the deliberate differences (OPTIMIZERS.md)."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import pytest
import torch

from optimizers._base import SparseGradientError
from optimizers.gsgd import (
    CALLABLE_DPHI_MARKER,
    FLAT_HYPERPARAMETERS,
    GSGD,
    HYPERPARAMETERS,
    effective_momentum,
    from_flat,
)

REFVECTORS = Path(__file__).resolve().parents[1] / "data" / "refvectors.json"
DATA = json.loads(REFVECTORS.read_text())
W0 = torch.tensor(DATA["meta"]["W0"], dtype=torch.float64)
G = torch.tensor(DATA["meta"]["G"], dtype=torch.float64)
FOREACH = [None, True, False]
DTYPES = [torch.float64, torch.float32, torch.bfloat16]


# ---- helpers -------------------------------------------------------------------------------------------------
def parse_entry(name: str) -> dict:
    """Constructor kwargs from an entry name such as ``gsgd_hb(lr=0.1,momentum=0.9,scaling=None,Dphi=id,...)``."""
    body = re.fullmatch(r"\w+\((.*)\)", name).group(1)
    keys = {"Dphi": "Dphi_map", "wd": "weight_decay"}
    values = {"id": "identity", "sign": "sign", "None": None, "True": True, "False": False}
    out = {}
    for item in body.split(","):
        key, value = item.split("=")
        out[keys.get(key, key)] = values[value] if value in values else float(value)
    return out


def run_protocol(opt_factory, lr_schedule=None):
    """The refvectors protocol: p = W0, for t = 1..5 p.grad = fresh copy of G[t-1], step(); records p and state."""
    p = W0.clone().requires_grad_(True)
    opt = opt_factory([p])
    params, bufs = [], []
    for t in range(1, 6):
        if lr_schedule is not None:
            for group in opt.param_groups:
                group["lr"] = lr_schedule(t)
        p.grad = G[t - 1].clone()
        opt.step()
        params.append(p.detach().clone())
        bufs.append(opt.state[p]["momentum_buffer"].clone())
    return params, bufs


def assert_rel(actual, expected, rtol=1e-9):
    expected = torch.as_tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=1e-15)


def random_problem(seed, dtype=torch.float64, shapes=((7, 5), (13,), (3, 4, 2), (1,))):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True) for s in shapes]


def grads_for(params, step, seed=123):
    """A fixed, parameter-independent gradient sequence (fresh tensors each step)."""
    gen = torch.Generator().manual_seed(seed * 1000 + step)
    return [torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) for p in params]


def quadratic_grads(params, targets):
    """Gradients of sum 0.5*|p - target|^2 * scale: depend on p, so trajectories feed back."""
    return [(p.detach() - t) * (1.0 + 0.1 * k) for k, (p, t) in enumerate(zip(params, targets))]


# ---- reference vectors ---------------------------------------------------------------------------------------
GSGD_ENTRIES = sorted(DATA["results"]["GSGD"])


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("entry", GSGD_ENTRIES)
def test_reference_vectors(entry, foreach):
    expected = DATA["results"]["GSGD"][entry]
    kwargs = parse_entry(entry)
    params, bufs = run_protocol(lambda ps: GSGD(ps, foreach=foreach, **kwargs))
    for t in range(5):
        assert_rel(params[t], expected["params_after_step"][t])
        assert_rel(bufs[t], expected["extras_after_step"][t]["momentum_buffer"])


def test_reference_entries_are_all_understood():
    assert len(GSGD_ENTRIES) >= 4
    parsed = [parse_entry(e) for e in GSGD_ENTRIES]
    assert {"identity", "sign"} == {p["Dphi_map"] for p in parsed}
    assert any(p.get("maximize") for p in parsed) and any(p["nesterov"] > 0 for p in parsed)
    assert list(DATA["results"]["GSGD_lr_schedule"]) == [
        "gsgd_hb(lr=0.1 then 0.05 from step 3,momentum=0.9,scaling=None->1/(0.1+1e-12))"
    ]


@pytest.mark.parametrize("foreach", FOREACH)
def test_reference_lr_schedule(foreach):
    (expected,) = DATA["results"]["GSGD_lr_schedule"].values()
    params, bufs = run_protocol(
        lambda ps: GSGD(ps, lr=0.1, momentum=0.9, scaling=None, foreach=foreach),
        lr_schedule=lambda t: 0.1 if t < 3 else 0.05,
    )
    for t in range(5):
        assert_rel(params[t], expected["params_after_step"][t])
        assert_rel(bufs[t], expected["extras_after_step"][t]["momentum_buffer"])


def test_lr_schedule_raises_effective_momentum():
    s = 1.0 / (0.1 + 1e-12)
    assert effective_momentum(0.1, 0.9, s) == pytest.approx(0.9, abs=1e-11)
    assert effective_momentum(0.05, 0.9, s) == pytest.approx(0.95, abs=1e-11)
    # momentum is a lower bound: lr*s > 1 would give a smaller coefficient, which is clamped to momentum
    assert effective_momentum(0.3, 0.9, s) == 0.9
    assert effective_momentum(0.1, 0.9, 100.0) == 0.9


# ---- fused path selection ------------------------------------------------------------------------------------
@pytest.fixture
def fused_calls(monkeypatch):
    if not hasattr(torch, "_fused_sgd_"):
        pytest.skip("this torch has no _fused_sgd_")
    calls = []
    real = torch._fused_sgd_

    def spy(*args, **kwargs):
        calls.append(kwargs["is_first_step"])
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "_fused_sgd_", spy)
    return calls


def test_fused_path_used_by_default_for_heavy_ball(fused_calls):
    entry = next(e for e in GSGD_ENTRIES if e.startswith("gsgd_hb"))
    params, _ = run_protocol(lambda ps: GSGD(ps, **parse_entry(entry)))
    assert fused_calls == [True, False, False, False, False]
    assert_rel(params[-1], DATA["results"]["GSGD"][entry]["params_after_step"][-1])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(foreach=True),
        dict(foreach=False),
        dict(Dphi_map="sign"),
        dict(Dphi_map=lambda t: t),
        dict(nesterov=0.5),
        dict(maximize=True),
        dict(momentum=0.0),
    ],
)
def test_fused_path_not_used_where_it_does_not_apply(fused_calls, kwargs):
    params = random_problem(0)
    opt = GSGD(params, lr=0.1, **kwargs)
    for t in range(3):
        for p, g in zip(params, grads_for(params, t)):
            p.grad = g
        opt.step()
    assert fused_calls == []


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fused_path_not_used_for_reduced_precision_on_cpu(fused_calls, dtype):
    """torch's CPU fused SGD skips the SIMD blocks of fp16/bf16 updates (pytorch/pytorch#191763, torch <= 2.13)."""
    p = torch.ones(1000, dtype=dtype, requires_grad=True)
    opt = GSGD([p], lr=0.5, momentum=0.9)
    p.grad = torch.ones_like(p)
    opt.step()
    assert fused_calls == []
    assert torch.equal(p.detach(), torch.full((1000,), 0.5, dtype=dtype))


def test_fused_first_and_later_tensors_in_one_step(fused_calls):
    a, b = random_problem(1, shapes=((4, 3), (5,)))
    opt = GSGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.01)
    ref_a, ref_b = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    ref = GSGD([ref_a, ref_b], lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False)
    for t in range(4):
        ga, gb = grads_for([a, b], t)
        a.grad, ref_a.grad = ga.clone(), ga.clone()
        # b gets its first gradient at t = 2: one step with first-step and later tensors together
        b.grad = gb.clone() if t >= 2 else None
        ref_b.grad = gb.clone() if t >= 2 else None
        opt.step()
        ref.step()
    assert fused_calls == [True, False, True, False, False]
    torch.testing.assert_close(a, ref_a, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(b, ref_b, rtol=1e-13, atol=1e-15)


# ---- paths agree ---------------------------------------------------------------------------------------------
CONFIGS = [
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, weight_decay=0.05),
    dict(lr=0.05, momentum=0.8, nesterov=1.0),
    dict(lr=0.05, momentum=0.8, nesterov=0.3, weight_decay=0.01),
    dict(lr=0.1, momentum=0.3, scaling=2.0, Dphi_map="sign", weight_decay=0.01, nesterov=0.5),
    dict(lr=0.1, momentum=0.9, scaling=0.5, Dphi_map=torch.tanh, maximize=True),
    dict(lr=0.1, momentum=0.0, weight_decay=0.1),
    dict(lr=0.1, momentum=0.0, Dphi_map="sign"),
]


def run_random(config, foreach, dtype=torch.float64, steps=12, seed=0):
    params = random_problem(seed, dtype)
    opt = GSGD(params, foreach=foreach, **config)
    for t in range(steps):
        grads = grads_for(params, t)
        for k, (p, g) in enumerate(zip(params, grads)):
            # the last parameter gets gradients only from step 3 on, others skip step 5
            p.grad = None if (k == len(params) - 1 and t < 3) or (k == 0 and t == 5) else g
        if t == 7:
            opt.param_groups[0]["lr"] *= 0.5
        opt.step()
    return params, opt


def config_id(config: dict) -> str:
    """A test id that is the same in every process (callables by name, not by address: pytest-xdist compares ids)."""
    return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in config.items())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_single_and_multi_tensor_paths_identical(config, dtype):
    single, opt_s = run_random(config, False, dtype)
    multi, opt_m = run_random(config, True, dtype)
    for a, b in zip(single, multi):
        assert a.dtype == dtype
        assert torch.equal(a, b)
    for pa, pb in zip(single, multi):
        sa, sb = opt_s.state[pa], opt_m.state[pb]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert sa[key].dtype == dtype
            assert torch.equal(sa[key], sb[key])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_default_path_matches_generic_and_float64(config, dtype):
    default, _ = run_random(config, None, dtype)
    generic, _ = run_random(config, False, dtype)
    exact, _ = run_random(config, False, torch.float64)
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 5e-2}[dtype]
    for a, b, c in zip(default, generic, exact):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a.double(), b.double(), rtol=tol, atol=tol)
        if not (config.get("Dphi_map") == "sign" and dtype != torch.float64):  # sign() flips on rounding
            torch.testing.assert_close(a.double(), c, rtol=tol, atol=tol)


# ---- reductions to torch.optim.SGD --------------------------------------------------------------------------
def sgd_pair(gsgd_kwargs, sgd_kwargs, steps, seed=5, fixed_grads=False):
    params = random_problem(seed)
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    targets = grads_for(params, -1, seed=7)  # seeded: independent of test order
    opt = GSGD(params, **gsgd_kwargs)
    sgd = torch.optim.SGD(twins, **sgd_kwargs)
    for t in range(steps):
        grads = grads_for(params, t) if fixed_grads else quadratic_grads(params, targets)
        twin_grads = grads_for(twins, t) if fixed_grads else quadratic_grads(twins, targets)
        for p, q, g, h in zip(params, twins, grads, twin_grads):
            p.grad, q.grad = g, h
        opt.step()
        sgd.step()
    return params, twins, opt, sgd


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("foreach", FOREACH)
def test_heavy_ball_is_torch_sgd_in_ema_form(foreach, weight_decay):
    """GSGD(lr, beta, default scaling, identity) = torch SGD(momentum = dampening = beta_eff).

    The default scaling 1/(lr + 1e-12) makes beta_eff = beta + (1-beta)*1e-12/lr, not beta itself.
    """
    lr, beta = 0.05, 0.9
    fused = foreach is None and hasattr(torch, "_fused_sgd_")  # our default path is then torch's fused kernel
    torch_switch = dict(fused=True) if fused else dict(foreach=bool(foreach))
    beta_eff = effective_momentum(lr, beta, 1.0 / (lr + 1e-12))
    assert beta_eff - beta == pytest.approx((1 - beta) * 1e-12 / lr, rel=1e-3)
    params, twins, opt, sgd = sgd_pair(
        dict(lr=lr, momentum=beta, weight_decay=weight_decay, foreach=foreach),
        dict(lr=lr, momentum=beta_eff, dampening=beta_eff, weight_decay=weight_decay, **torch_switch),
        steps=150,
    )
    for p, q in zip(params, twins):
        if fused:  # both use the fused kernel with the same coefficients
            assert torch.equal(p, q)
        torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-14)
        m, b = opt.state[p]["momentum_buffer"], sgd.state[q]["momentum_buffer"]
        torch.testing.assert_close(m, b, rtol=1e-12, atol=1e-14)
    # against momentum = dampening = beta itself the default scaling leaves a difference of order 1e-11
    params2, twins2, _, _ = sgd_pair(
        dict(lr=lr, momentum=beta, weight_decay=weight_decay, foreach=foreach),
        dict(lr=lr, momentum=beta, dampening=beta, weight_decay=weight_decay),
        steps=150,
    )
    for p, q in zip(params2, twins2):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-9)


def test_heavy_ball_exact_when_lr_times_scaling_at_least_one():
    """With lr*s >= 1 the lower bound holds: beta_eff = beta exactly, and the fused path is torch's SGD bit for bit."""
    lr, beta = 0.05, 0.9
    assert effective_momentum(lr, beta, 2.0 / lr) == beta
    params, twins, _, _ = sgd_pair(
        dict(lr=lr, momentum=beta, scaling=2.0 / lr),
        dict(lr=lr, momentum=beta, dampening=beta, fused=True)
        if hasattr(torch, "_fused_sgd_")
        else dict(lr=lr, momentum=beta, dampening=beta),
        steps=120,
    )
    for p, q in zip(params, twins):
        if hasattr(torch, "_fused_sgd_"):
            assert torch.equal(p, q)
        torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-14)


def test_relation_to_plain_momentum_sgd_is_not_a_pure_lr_rescaling():
    """torch SGD(momentum=beta, dampening=0, lr*(1-beta)) has buffer b_t with m_t = (1-beta)*b_t + beta^t*d_1.

    So on a fixed gradient sequence p_GSGD(t) - p_SGD(t) = -lr * d_1 * sum_{k=1..t} beta^k exactly: the reduction by
    lr rescaling is exact only up to this first-step term (the first EMA buffer is d_1, not (1-beta)*d_1).
    """
    lr, beta, steps = 0.05, 0.9, 120
    params, twins, opt, sgd = sgd_pair(
        dict(lr=lr, momentum=beta, scaling=2.0 / lr, foreach=False),
        dict(lr=lr * (1 - beta), momentum=beta, dampening=0.0, foreach=False),
        steps=steps,
        fixed_grads=True,
    )
    start = random_problem(5)
    d1 = grads_for(start, 0)
    offset = sum(beta**k for k in range(1, steps + 1))
    for p, q, d in zip(params, twins, d1):
        torch.testing.assert_close(p - q, -lr * offset * d, rtol=1e-9, atol=1e-12)
        assert (p - q).abs().max() > 1e-3  # the transient is real, so the rescaled form is not exact
        m, b = opt.state[p]["momentum_buffer"], sgd.state[q]["momentum_buffer"]
        torch.testing.assert_close(m, (1 - beta) * b + beta**steps * d, rtol=1e-10, atol=1e-13)


# ---- (c) the gradient is never written -----------------------------------------------------------------------
@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_grad_is_never_written(config, foreach):
    params = random_problem(3)
    opt = GSGD(params, foreach=foreach, **config)
    for t in range(4):
        grads = grads_for(params, t)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for p, g in zip(params, grads):
            assert torch.equal(p.grad, g)
            assert p.grad is not opt.state[p].get("momentum_buffer")


def test_grad_accumulation_without_zero_grad_is_unaffected():
    """The reference leaves g - m_prev in p.grad (wd = 0); here a second backward accumulates onto the true grad."""
    w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    opt = GSGD([w], lr=0.1, momentum=0.9, nesterov=0.5)
    for _ in range(2):
        (w * w).sum().backward()
        g = w.grad.clone()
        opt.step()
        assert torch.equal(w.grad, g)
        w.grad = None


# ---- (e) Dphi_map --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sign_with_momentum_zero_is_signsgd(foreach, weight_decay):
    params = random_problem(4)
    expected = [p.detach().clone() for p in params]
    opt = GSGD(params, lr=0.01, momentum=0, Dphi_map="sign", weight_decay=weight_decay, foreach=foreach)
    for t in range(6):
        grads = grads_for(params, t)
        for p, g, e in zip(params, grads, expected):
            p.grad = g
            e.sub_(0.01 * torch.sign(g + weight_decay * e))
        opt.step()
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-14, atol=1e-15)
    assert opt.state == {} or all(not s for s in opt.state.values())


@pytest.mark.parametrize("foreach", FOREACH)
def test_identity_with_momentum_zero_is_plain_sgd(foreach):
    params = random_problem(4)
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    opt = GSGD(params, lr=0.01, momentum=0, weight_decay=0.1, foreach=foreach)
    sgd = torch.optim.SGD(twins, lr=0.01, weight_decay=0.1, foreach=False)
    for t in range(6):
        for p, q, g in zip(params, twins, grads_for(params, t)):
            p.grad, q.grad = g, g.clone()
        opt.step()
        sgd.step()
    for p, q in zip(params, twins):
        torch.testing.assert_close(p, q, rtol=1e-14, atol=1e-15)


def test_group_stores_the_name_and_callables_match_names():
    p = torch.zeros(3, requires_grad=True)
    assert GSGD([p], lr=0.1).param_groups[0]["Dphi_map"] == "identity"
    assert GSGD([p], lr=0.1, Dphi_map="sign").param_groups[0]["Dphi_map"] == "sign"
    assert GSGD([p], lr=0.1, Dphi_map=torch.sign).param_groups[0]["Dphi_map"] is torch.sign
    by_name, _ = run_random(dict(lr=0.1, momentum=0.9, Dphi_map="sign", nesterov=0.3), False)
    by_callable, _ = run_random(dict(lr=0.1, momentum=0.9, Dphi_map=torch.sign, nesterov=0.3), True)
    for a, b in zip(by_name, by_callable):
        assert torch.equal(a, b)


def test_per_group_dphi_map():
    a, b = random_problem(2, shapes=((3,), (4,)))
    opt = GSGD([{"params": [a]}, {"params": [b], "Dphi_map": "sign"}], lr=0.1, Dphi_map=torch.tanh)
    assert opt.param_groups[0]["Dphi_map"] is torch.tanh and opt.param_groups[1]["Dphi_map"] == "sign"
    c = torch.zeros(2, requires_grad=True)
    opt.add_param_group({"params": [c]})
    assert opt.param_groups[2]["Dphi_map"] is torch.tanh


def test_bad_dphi_map():
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"Dphi_map must be one of 'identity', 'sign'.*'tanh'"):
        GSGD([p], lr=0.1, Dphi_map="tanh")
    with pytest.raises(TypeError, match=r"Dphi_map must be a callable or one of 'identity', 'sign'"):
        GSGD([p], lr=0.1, Dphi_map=3)
    opt = GSGD([p], lr=0.1)
    with pytest.raises(ValueError, match="Dphi_map"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "Dphi_map": "abs"})
    assert len(opt.param_groups) == 1


def test_callable_dphi_map_state_dict():
    a = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = GSGD([a], lr=0.1, Dphi_map=torch.tanh)
    a.grad = torch.ones_like(a)
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["Dphi_map"] == CALLABLE_DPHI_MARKER
    assert opt.param_groups[0]["Dphi_map"] is torch.tanh  # the live group keeps its callable
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    same = GSGD([a], lr=0.1, Dphi_map=torch.tanh)
    same.load_state_dict(loaded)
    assert same.param_groups[0]["Dphi_map"] is torch.tanh
    with pytest.raises(ValueError, match="custom Dphi_map callable"):
        GSGD([a], lr=0.1).load_state_dict(loaded)


# ---- (f) scaling = None --------------------------------------------------------------------------------------
def test_scaling_none_resolves_per_group_also_for_added_groups():
    a, b, c, d = (torch.zeros(2, requires_grad=True) for _ in range(4))
    opt = GSGD([{"params": [a]}, {"params": [b], "lr": 0.02}], lr=0.1)
    assert opt.param_groups[0]["scaling"] == 1.0 / (0.1 + 1e-12)
    assert opt.param_groups[1]["scaling"] == 1.0 / (0.02 + 1e-12)
    opt.add_param_group({"params": [c], "lr": 0.5})
    assert opt.param_groups[2]["scaling"] == 1.0 / (0.5 + 1e-12)
    opt.add_param_group({"params": [d], "lr": 0.5, "scaling": 3.0})
    assert opt.param_groups[3]["scaling"] == 3.0
    for p in (a, b, c, d):
        p.grad = torch.ones_like(p)
    opt.step()  # the reference raises TypeError here for the added groups
    assert all(math.isfinite(g["scaling"]) for g in opt.param_groups)


def test_explicit_scaling_is_the_default_for_added_groups():
    opt = GSGD([torch.zeros(2, requires_grad=True)], lr=0.1, scaling=4.0)
    opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": 0.3})
    assert [g["scaling"] for g in opt.param_groups] == [4.0, 4.0]


def test_lr_zero_needs_explicit_scaling():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"scaling=None.*lr in \(0, inf\)"):
        GSGD([p], lr=0.0)
    opt = GSGD([p], lr=0.0, scaling=10.0)
    p.grad = torch.ones_like(p)
    opt.step()
    assert torch.equal(p, torch.zeros(2))
    with pytest.raises(ValueError, match="scaling=None"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "scaling": None})
    assert len(opt.param_groups) == 1


# ---- (d) state_dict ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize(
    "config",
    [
        dict(lr=0.1, momentum=0.9, weight_decay=0.01),
        dict(lr=0.05, momentum=0.7, Dphi_map="sign", nesterov=0.5, maximize=True),
    ],
)
def test_state_dict_round_trip_and_resume(config, foreach):
    def fresh():
        ps = random_problem(9)
        return ps, GSGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.02}], foreach=foreach, **config)

    def feed(ps, t):
        for p, g in zip(ps, grads_for(ps, t)):
            p.grad = g

    ref_params, ref_opt = fresh()
    for t in range(10):
        if t == 6:
            ref_opt.param_groups[0]["lr"] *= 0.5
        feed(ref_params, t)
        ref_opt.step()

    params, opt = fresh()
    for t in range(4):
        feed(params, t)
        opt.step()
    buf = io.BytesIO()
    torch.save({"model": [p.detach() for p in params], "optim": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    groups = ckpt["optim"]["param_groups"]
    assert all(isinstance(v, (int, float, str, bool, list, type(None))) for g in groups for v in g.values())

    resumed = random_problem(0)  # different values, overwritten from the checkpoint
    with torch.no_grad():
        for p, saved in zip(resumed, ckpt["model"]):
            p.copy_(saved)
    opt2 = GSGD([{"params": resumed[:2]}, {"params": resumed[2:], "lr": 0.9}], lr=0.3, foreach=foreach)
    opt2.load_state_dict(ckpt["optim"])
    assert [g["scaling"] for g in opt2.param_groups] == [g["scaling"] for g in opt.param_groups]
    for t in range(4, 10):
        if t == 6:
            opt2.param_groups[0]["lr"] *= 0.5
        feed(resumed, t)
        opt2.step()
    for a, b in zip(resumed, ref_params):
        assert torch.equal(a, b)
    for a, b in zip(resumed, ref_params):
        assert torch.equal(opt2.state[a]["momentum_buffer"], ref_opt.state[b]["momentum_buffer"])


# ---- (i) closure, sparse gradients, parameters without gradients ----------------------------------------------
def test_step_closure_runs_with_grad_enabled_and_returns_loss():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = GSGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        assert torch.is_grad_enabled()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    torch.testing.assert_close(w.detach(), torch.tensor([0.8, 1.6]))
    assert opt.step() is None


def test_sparse_gradient_rejected():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = GSGD(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(SparseGradientError, match="sparse"):
        opt.step()
    assert isinstance(SparseGradientError("x"), TypeError)


@pytest.mark.parametrize("foreach", FOREACH)
def test_parameters_without_grad_are_skipped(foreach):
    a, b = random_problem(2, shapes=((3,), (4,)))
    b0 = b.detach().clone()
    opt = GSGD([a, b], lr=0.1, foreach=foreach)
    a.grad = torch.ones_like(a)
    opt.step()
    assert torch.equal(b, b0) and b not in opt.state
    assert "momentum_buffer" in opt.state[a]
    opt2 = GSGD([b], lr=0.1, foreach=foreach)
    assert opt2.step() is None and torch.equal(b, b0)


# ---- (a) (b) validation ------------------------------------------------------------------------------------------
def test_lr_is_required():
    with pytest.raises(TypeError, match="lr"):
        GSGD([torch.zeros(1, requires_grad=True)])


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(lr=-0.1), r"lr must be a float in \[0, inf\), got -0.1"),
        (dict(lr=float("nan")), r"lr must be a float in \[0, inf\)"),
        (dict(lr=0.1, momentum=1.0), r"momentum must be a float in \[0, 1\), got 1.0"),
        (dict(lr=0.1, momentum=-0.5), r"momentum must be a float in \[0, 1\)"),
        (dict(lr=0.1, scaling=0.0), r"scaling must be a float in \(0, inf\) or None, got 0.0"),
        (dict(lr=0.1, scaling=-2.0), r"scaling must be a float in \(0, inf\) or None"),
        (dict(lr=0.1, weight_decay=-1e-4), r"weight_decay must be a float in \[0, inf\)"),
        (dict(lr=0.1, nesterov=-1.0), r"nesterov must be a float in \[0, inf\)"),
        (dict(lr=float("inf")), r"lr must be a float in \[0, inf\), got inf"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_domain(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        GSGD([torch.zeros(1, requires_grad=True)], **kwargs)


def test_invalid_types_raise_type_error():
    p = torch.zeros(1, requires_grad=True)
    with pytest.raises(TypeError, match="lr must be"):
        GSGD([p], lr="0.1")
    with pytest.raises(TypeError, match="maximize must be a bool"):
        GSGD([p], lr=0.1, maximize="yes")


def test_invalid_values_in_added_groups():
    opt = GSGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=r"GSGD param group momentum must be a float in \[0, 1\)"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "momentum": 1.5})
    with pytest.raises(ValueError, match=r"GSGD param group lr must be"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize(
    "bad, hint",
    [
        ("momentun", "momentum"),
        ("dphi_map", "Dphi_map"),
        ("weight_decai", "weight_decay"),
        ("maximise", "maximize"),
        ("nesterov_momentum", "nesterov"),
    ],
)
def test_unknown_keyword_suggests_closest(bad, hint):
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{bad}'; did you mean '{hint}'\?"):
        GSGD([torch.zeros(1, requires_grad=True)], lr=0.1, **{bad: 0.5})


def test_unknown_keyword_far_from_everything_lists_valid_names():
    with pytest.raises(TypeError, match=r"'zzz'; valid keywords: lr, momentum"):
        GSGD([torch.zeros(1, requires_grad=True)], lr=0.1, zzz=1)


# ---- hyperparameter table, from_flat ------------------------------------------------------------------------
def test_hyperparameter_table():
    names = [hp.name for hp in HYPERPARAMETERS]
    assert names == ["lr", "momentum", "scaling", "Dphi_map", "weight_decay", "nesterov", "maximize"]
    assert GSGD.hyperparameters is HYPERPARAMETERS and FLAT_HYPERPARAMETERS is HYPERPARAMETERS
    by_name = {hp.name: hp for hp in HYPERPARAMETERS}
    assert by_name["lr"].log and by_name["lr"].low == 0.0
    assert by_name["scaling"].nullable and by_name["scaling"].default is None
    assert by_name["Dphi_map"].choices == ("identity", "sign")
    assert not by_name["Dphi_map"].contains(torch.sign)  # callables: constructor only, not the registry
    for hp in HYPERPARAMETERS:
        hp.to_dict()


def test_from_flat():
    p = torch.zeros(2, requires_grad=True)
    opt = from_flat([p], lr=0.2, momentum=0.5, Dphi_map="sign", foreach=True)
    assert isinstance(opt, GSGD)
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["Dphi_map"], g["foreach"], g["nesterov"]) == (0.2, 0.5, "sign", True, 0.0)
    with pytest.raises(TypeError, match="'lr'"):
        from_flat([p], momentum=0.5)
    with pytest.raises(TypeError, match="did you mean 'momentum'"):
        from_flat([p], lr=0.1, momentumm=0.5)
    with pytest.raises(ValueError, match=r"momentum must be a float in \[0, 1\)"):
        from_flat([p], lr=0.1, momentum=2.0)
