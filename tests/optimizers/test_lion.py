"""Lion (single-timescale): reference trajectories, lion-pytorch as an oracle, paths, and the deliberate differences."""

from __future__ import annotations

import io
import json
from pathlib import Path

import lion_pytorch
import pytest
import torch

from optimizers._base import SparseGradientError
from optimizers.lion import BETAS, FLAT_HYPERPARAMETERS, HYPERPARAMETERS, Lion, effective_betas, from_flat

REFVECTORS = Path(__file__).resolve().parents[1] / "data" / "refvectors.json"
DATA = json.loads(REFVECTORS.read_text())
W0 = torch.tensor(DATA["meta"]["W0"], dtype=torch.float64)
G = torch.tensor(DATA["meta"]["G"], dtype=torch.float64)
FOREACH = [None, True, False]
DTYPES = [torch.float64, torch.float32, torch.bfloat16]

# Constructor arguments of each entry, as its name spells them.
ENTRY_KWARGS = {
    "lion_ss_default_scaling(lr=0.01,betas=(0.9,0.99),scaling=None,wd=0,nesterov_momentum=0)": dict(
        lr=0.01, betas=(0.9, 0.99), scaling=None, weight_decay=0.0, nesterov_momentum=0.0
    ),
    "lion_ss_scaled(lr=0.01,betas=(0.9,0.99),scaling=20,wd=0.1,nesterov_momentum=0.5)": dict(
        lr=0.01, betas=(0.9, 0.99), scaling=20.0, weight_decay=0.1, nesterov_momentum=0.5
    ),
}
SCHEDULE_ENTRY = "lion_ss(lr=0.01 then 0.005 from step 3,scaling=None->1/0.01)"


def run_protocol(opt_factory, lr_schedule=None):
    p = W0.clone().requires_grad_(True)
    opt = opt_factory([p])
    params, exp_avgs = [], []
    for t in range(1, 6):
        if lr_schedule is not None:
            for group in opt.param_groups:
                group["lr"] = lr_schedule(t)
        p.grad = G[t - 1].clone()
        opt.step()
        params.append(p.detach().clone())
        exp_avgs.append(opt.state[p]["exp_avg"].clone())
    return params, exp_avgs


def assert_rel(actual, expected, rtol=1e-9):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=torch.float64), rtol=rtol, atol=1e-15)


def random_problem(seed, dtype=torch.float64, shapes=((7, 5), (13,), (3, 4, 2), (1,), (64, 33))):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True) for s in shapes]


def grads_for(params, step, seed=321):
    gen = torch.Generator().manual_seed(seed * 1000 + step)
    return [torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) for p in params]


# ---- reference vectors ---------------------------------------------------------------------------------------
def test_entries_are_all_covered():
    assert set(DATA["results"]["Lion"]) == set(ENTRY_KWARGS)
    assert list(DATA["results"]["Lion_lr_schedule"]) == [SCHEDULE_ENTRY]


@pytest.mark.parametrize(
    "switches", [*({"foreach": f} for f in FOREACH), {"fused": True}], ids=[*(f"foreach={f}" for f in FOREACH), "fused"]
)
@pytest.mark.parametrize("entry", sorted(ENTRY_KWARGS))
def test_reference_vectors(entry, switches):
    expected = DATA["results"]["Lion"][entry]
    params, exp_avgs = run_protocol(lambda ps: Lion(ps, **switches, **ENTRY_KWARGS[entry]))
    for t in range(5):
        assert_rel(params[t], expected["params_after_step"][t])
        assert_rel(exp_avgs[t], expected["extras_after_step"][t]["exp_avg"])


@pytest.mark.parametrize("foreach", FOREACH)
def test_reference_lr_schedule(foreach):
    expected = DATA["results"]["Lion_lr_schedule"][SCHEDULE_ENTRY]
    params, _ = run_protocol(
        lambda ps: Lion(ps, lr=0.01, scaling=None, foreach=foreach), lr_schedule=lambda t: 0.01 if t < 3 else 0.005
    )
    for t in range(5):
        assert_rel(params[t], expected["params_after_step"][t])


def test_single_timescale_betas():
    assert effective_betas(0.01, (0.9, 0.99), 1 / 0.01) == (0.9, 0.99)
    b1, b2 = effective_betas(0.005, (0.9, 0.99), 1 / 0.01)
    assert (b1, b2) == (pytest.approx(0.95), pytest.approx(0.995))
    assert effective_betas(0.02, (0.9, 0.99), 1 / 0.01) == (0.9, 0.99)  # betas are lower bounds
    assert effective_betas(0.01, (0.9, 0.99), 20.0) == (pytest.approx(0.98), pytest.approx(0.998))


# ---- lion-pytorch oracle -------------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("betas", [(0.9, 0.99), (0.95, 0.98)])
def test_equals_lion_pytorch(betas, weight_decay, foreach):
    params = random_problem(11)
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    targets = grads_for(params, -1, seed=7)  # seeded: independent of test order
    lr = 3e-3
    ours = Lion(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=foreach)
    ref = lion_pytorch.Lion(twins, lr=lr, betas=betas, weight_decay=weight_decay)
    for t in range(250):
        noise = grads_for(params, t)
        for p, q, target, n in zip(params, twins, targets, noise):
            # gradient of 0.5*|p - target|^2 plus noise: depends on p, so any difference would feed back
            p.grad = (p.detach() - target) + 0.1 * n
            q.grad = (q.detach() - target) + 0.1 * n
        ours.step()
        ref.step()
    moved = 0.0
    for p, q, p0 in zip(params, twins, random_problem(11)):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
        torch.testing.assert_close(ours.state[p]["exp_avg"], ref.state[q]["exp_avg"], rtol=1e-12, atol=1e-15)
        moved = max(moved, (p - p0).abs().max().item())
    assert moved > 0.5  # the trajectories went somewhere


# ---- paths agree ---------------------------------------------------------------------------------------------
CONFIGS = [
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, betas=(0.8, 0.95), scaling=20.0, weight_decay=0.1, nesterov_momentum=0.5),
    dict(lr=0.01, betas=[0.0, 0.0], nesterov_momentum=1e-6),
]


def run_random(config, foreach, dtype=torch.float64, steps=15, seed=0):
    params = random_problem(seed, dtype)
    opt = Lion(params, foreach=foreach, **config)
    for t in range(steps):
        grads = grads_for(params, t)
        for k, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if (k == 1 and t < 4) or (k == 0 and t == 6) else g
        if t == 8:
            opt.param_groups[0]["lr"] *= 0.5
        opt.step()
    return params, opt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_single_and_multi_tensor_paths_identical(config, dtype):
    single, opt_s = run_random(config, False, dtype)
    multi, opt_m = run_random(config, True, dtype)
    for a, b in zip(single, multi):
        assert a.dtype == dtype and torch.isfinite(a).all()
        assert torch.equal(a, b)
        assert opt_s.state[a]["exp_avg"].dtype == dtype
        assert torch.equal(opt_s.state[a]["exp_avg"], opt_m.state[b]["exp_avg"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_reduced_precision_tracks_float64(dtype):
    low, _ = run_random(dict(lr=0.01, weight_decay=0.1), None, dtype, steps=5)
    exact, _ = run_random(dict(lr=0.01, weight_decay=0.1), None, torch.float64, steps=5)
    for a, b, a0, b0 in zip(low, exact, random_problem(0, dtype), random_problem(0)):
        err = (a.double() - b).abs()
        if dtype == torch.float32:
            # sign(u) can flip only where u is within rounding of 0: nearly every coordinate agrees to 1e-6
            assert (err <= 1e-6 * (1 + b.abs())).double().mean() >= 0.99
        else:
            assert (err <= 0.1 + 2**-7 * b.abs()).all()  # bfloat16 keeps 8 significant bits
            # that tolerance is wider than 5 steps of lr = 0.01, so a run that never moved would pass it too: the
            # bfloat16 run must also move as the float64 one does, in the same direction and as far (within
            # its rounding, an ulp of up to 2**-7 |p| per step, and a few sign flips where u is near 0)
            moved, expected = a.detach().double() - a0.detach().double(), (b - b0).detach()
            assert (torch.sign(moved) == torch.sign(expected)).double().mean() >= 0.95
            assert moved.abs().mean().item() == pytest.approx(expected.abs().mean().item(), rel=0.2)


def test_nesterov_term_threshold():
    """The reference applies lr*nu*g only for nu > 1e-5."""
    tiny, _ = run_random(dict(lr=0.01, nesterov_momentum=1e-6), False)
    zero, _ = run_random(dict(lr=0.01, nesterov_momentum=0.0), False)
    some, _ = run_random(dict(lr=0.01, nesterov_momentum=1e-3), False)
    for a, b, c in zip(tiny, zero, some):
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


def test_one_step_by_hand():
    p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    m = torch.tensor([0.3, 0.2, -0.1], dtype=torch.float64)
    g = torch.tensor([-0.5, 0.1, 0.4], dtype=torch.float64)
    lr, wd, nu, s = 0.1, 0.2, 0.5, 20.0
    opt = Lion([p], lr=lr, betas=(0.9, 0.99), scaling=s, weight_decay=wd, nesterov_momentum=nu)
    opt.state[p]["exp_avg"] = m.clone()
    p.grad = g.clone()
    b1, b2 = max(1 - lr * 0.1 * s, 0.9), max(1 - lr * 0.01 * s, 0.99)
    expected = p.detach() * (1 - lr * wd) - lr * (torch.sign(b1 * m + (1 - b1) * g) + nu * g)
    opt.step()
    torch.testing.assert_close(p.detach(), expected, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(opt.state[p]["exp_avg"], b2 * m + (1 - b2) * g, rtol=1e-14, atol=1e-16)


# ---- (c) gradients untouched ---------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_grad_is_never_written(config, foreach):
    params = random_problem(3)
    opt = Lion(params, foreach=foreach, **config)
    for t in range(3):
        grads = grads_for(params, t)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for p, g in zip(params, grads):
            assert torch.equal(p.grad, g)


# ---- (f) scaling = None ----------------------------------------------------------------------------------------
def test_scaling_none_resolves_per_group_also_for_added_groups():
    a, b, c, d = (torch.zeros(2, requires_grad=True) for _ in range(4))
    opt = Lion([{"params": [a]}, {"params": [b], "lr": 0.02}], lr=0.01)
    assert [g["scaling"] for g in opt.param_groups] == [1 / 0.01, 1 / 0.02]
    opt.add_param_group({"params": [c], "lr": 0.5})
    opt.add_param_group({"params": [d], "lr": 0.5, "scaling": 3.0, "betas": [0.5, 0.6]})
    assert [g["scaling"] for g in opt.param_groups] == [1 / 0.01, 1 / 0.02, 1 / 0.5, 3.0]
    assert opt.param_groups[3]["betas"] == (0.5, 0.6) and opt.param_groups[2]["betas"] == (0.9, 0.99)
    for p in (a, b, c, d):
        p.grad = torch.ones_like(p)
    opt.step()  # the reference raises TypeError here for the added groups
    assert torch.equal(c.detach(), torch.full((2,), -0.5))


def test_explicit_scaling_is_the_default_for_added_groups():
    opt = Lion([torch.zeros(2, requires_grad=True)], lr=0.1, scaling=4.0)
    opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": 0.3})
    assert [g["scaling"] for g in opt.param_groups] == [4.0, 4.0]


def test_lr_zero_needs_explicit_scaling():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"scaling=None resolves to 1/lr.*lr in \(0, inf\)"):
        Lion([p], lr=0.0)
    opt = Lion([p], lr=0.0, scaling=1.0)
    p.grad = torch.ones_like(p)
    opt.step()
    assert torch.equal(p, torch.zeros(2))
    with pytest.raises(ValueError, match="scaling=None"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "scaling": None})
    assert len(opt.param_groups) == 1


# ---- (d) state_dict ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", FOREACH)
def test_state_dict_round_trip_and_resume(foreach):
    config = dict(lr=0.01, betas=(0.85, 0.97), weight_decay=0.1, nesterov_momentum=0.3)

    def fresh():
        ps = random_problem(9)
        return ps, Lion([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.02}], foreach=foreach, **config)

    def feed(ps, t):
        for p, g in zip(ps, grads_for(ps, t)):
            p.grad = g

    ref_params, ref_opt = fresh()
    for t in range(10):
        if t == 6:
            ref_opt.param_groups[1]["lr"] *= 0.5
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
    assert ckpt["optim"]["param_groups"][0]["betas"] == (0.85, 0.97)

    resumed = random_problem(0)
    with torch.no_grad():
        for p, saved in zip(resumed, ckpt["model"]):
            p.copy_(saved)
    opt2 = Lion([{"params": resumed[:2]}, {"params": resumed[2:], "lr": 0.7}], lr=0.3, foreach=foreach)
    opt2.load_state_dict(ckpt["optim"])
    for t in range(4, 10):
        if t == 6:
            opt2.param_groups[1]["lr"] *= 0.5
        feed(resumed, t)
        opt2.step()
    for a, b in zip(resumed, ref_params):
        assert torch.equal(a, b)
        assert torch.equal(opt2.state[a]["exp_avg"], ref_opt.state[b]["exp_avg"])


# ---- (i) closure, sparse gradients, parameters without gradients -------------------------------------------------
def test_step_closure_runs_with_grad_enabled_and_returns_loss():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = Lion([w], lr=0.1)

    def closure():
        opt.zero_grad()
        assert torch.is_grad_enabled()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    torch.testing.assert_close(w.detach(), torch.tensor([0.9, -1.9]))
    assert opt.step() is None


def test_sparse_gradient_rejected():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = Lion(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(SparseGradientError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("foreach", FOREACH)
def test_parameters_without_grad_are_skipped(foreach):
    a, b = random_problem(2, shapes=((3,), (4,)))
    b0 = b.detach().clone()
    opt = Lion([a, b], lr=0.1, weight_decay=0.5, foreach=foreach)
    a.grad = torch.ones_like(a)
    opt.step()
    assert torch.equal(b, b0) and b not in opt.state  # not even weight decay
    assert "exp_avg" in opt.state[a]


# ---- (a) (b) validation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(betas=(1.0, 0.99)), r"betas\[0\] beta1 must be a float in \[0, 1\), got 1.0"),
        (dict(betas=(0.9, -0.1)), r"betas\[1\] beta2 must be a float in \[0, 1\), got -0.1"),
        (dict(betas=(0.9,)), r"betas must have 2 elements \(beta1, beta2\), got 1"),
        (dict(betas=(0.9, 0.99, 0.999)), r"betas must have 2 elements"),
        (dict(lr=-1e-3), r"lr must be a float in \[0, inf\), got -0.001"),
        (dict(scaling=0.0), r"scaling must be a float in \(0, inf\) or None, got 0.0"),
        (dict(weight_decay=-0.1), r"weight_decay must be a float in \[0, inf\)"),
        (dict(nesterov_momentum=-0.5), r"nesterov_momentum must be a float in \[0, inf\)"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_domain(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Lion([torch.zeros(1, requires_grad=True)], **kwargs)


def test_invalid_types_and_list_betas():
    p = torch.zeros(1, requires_grad=True)
    with pytest.raises(TypeError, match="betas must be a tuple or list of 2 values"):
        Lion([p], betas=0.9)
    with pytest.raises(TypeError, match="lr must be"):
        Lion([p], lr="1e-4")
    assert Lion([p], betas=[0.5, 0.75]).param_groups[0]["betas"] == (0.5, 0.75)


def test_invalid_values_in_added_groups():
    opt = Lion([torch.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match=r"Lion param group betas\[0\]"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "betas": (1.5, 0.9)})
    with pytest.raises(ValueError, match=r"Lion param group weight_decay must be"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "weight_decay": -1.0})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize(
    "bad, hint",
    [("beta1", "betas"), ("weight_decai", "weight_decay"), ("nesterov", "nesterov_momentum"), ("scale", "scaling")],
)
def test_unknown_keyword_suggests_closest(bad, hint):
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{bad}'; did you mean '{hint}'\?"):
        Lion([torch.zeros(1, requires_grad=True)], **{bad: 0.5})


# ---- hyperparameter tables, from_flat --------------------------------------------------------------------------
def test_hyperparameter_tables():
    assert Lion.hyperparameters is HYPERPARAMETERS
    assert [hp.name for hp in HYPERPARAMETERS] == ["lr", "scaling", "weight_decay", "nesterov_momentum"]
    assert [hp.name for hp in FLAT_HYPERPARAMETERS] == [
        "lr",
        "beta1",
        "beta2",
        "scaling",
        "weight_decay",
        "nesterov_momentum",
    ]
    by_name = {hp.name: hp for hp in FLAT_HYPERPARAMETERS}
    assert by_name["lr"].log and by_name["lr"].default == 1e-4
    assert (by_name["beta1"].default, by_name["beta2"].default) == (0.9, 0.99)
    assert by_name["scaling"].nullable and by_name["scaling"].default is None
    assert BETAS == (by_name["beta1"], by_name["beta2"])
    for hp in FLAT_HYPERPARAMETERS:
        hp.to_dict()


def test_from_flat():
    p = torch.zeros(2, requires_grad=True)
    opt = from_flat([p], lr=3e-4, beta1=0.95, beta2=0.98, weight_decay=0.1, foreach=True)
    g = opt.param_groups[0]
    assert isinstance(opt, Lion)
    got = (g["lr"], g["betas"], g["weight_decay"], g["foreach"], g["scaling"])
    assert got == (3e-4, (0.95, 0.98), 0.1, True, 1 / 3e-4)
    assert from_flat([p]).param_groups[0]["betas"] == (0.9, 0.99)
    with pytest.raises(TypeError, match="did you mean 'beta1'"):
        from_flat([p], beta_1=0.9)
    with pytest.raises(ValueError, match=r"beta2 must be a float in \[0, 1\)"):
        from_flat([p], beta2=1.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("config", CONFIGS[:3], ids=["plain", "decay", "scaled-nesterov"])
def test_cache_blocked_path_identical_to_single_tensor_path(config, dtype, monkeypatch):
    """The CPU default cuts the tensors into many blocks here (and keeps a transposed one whole): same bits."""
    monkeypatch.setattr("optimizers._blocks.CACHE_BLOCK", 256)
    shapes = ((37, 29), (13,), (3, 4, 2), (500,))

    def run(foreach):
        params = random_problem(5, dtype, shapes)
        params[0] = params[0].detach().t().requires_grad_(True)
        opt = Lion(params, foreach=foreach, **config)
        for t in range(6):
            for p, g in zip(params, grads_for(params, t)):
                p.grad = g.to(dtype)
            opt.step()
        return params, opt

    (single, opt_s), (blocked, opt_b) = run(False), run(None)
    for a, b in zip(single, blocked):
        assert torch.equal(a, b)
        assert torch.equal(opt_s.state[a]["exp_avg"], opt_b.state[b]["exp_avg"])
