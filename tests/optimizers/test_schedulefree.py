"""Schedule-Free SGD and AdamW: the recorded vectors, the ``schedulefree`` package as a live oracle, the train/eval
modes, the Pun-Buchholz-Gower weighting and the y-step filter. The torch.optim conventions are in
test_all_optimizers.py."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import pytest
import schedulefree
import torch

from optimizers import AdamWScheduleFree, SGDScheduleFree
from optimizers.filters import schedulefree_averaging_coefficient, schedulefree_filter
from optimizers.registry import get_optimizer
from optimizers.schedulefree import ScheduleFreeModeError

from . import refdata

Factory = Callable[..., torch.optim.Optimizer]

# ---- the reference vectors ---------------------------------------------------------------------------------

_REF_CASES = [
    ("SGDScheduleFree", lambda p, **switches: SGDScheduleFree(
        [p], lr=0.1, momentum=0.9, weight_decay=0.01, warmup_steps=2, r=0, weight_lr_power=2, **switches
    )),
    ("AdamWScheduleFree", lambda p, **switches: AdamWScheduleFree(
        [p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, warmup_steps=2, **switches
    )),
]  # fmt: skip
#: the update paths: single-tensor, multi-tensor, compiled
SWITCHES = [{"foreach": False}, {"foreach": True}, {"fused": True}]
SWITCH_IDS = ["single", "foreach", "fused"]


def _close(actual: torch.Tensor, expected: object) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("switches", SWITCHES, ids=SWITCH_IDS)
@pytest.mark.parametrize("section,make", _REF_CASES, ids=[c[0] for c in _REF_CASES])
def test_reference_vectors(section: str, make: Factory, switches: dict) -> None:
    """y after each step, z, the averaging weight sum and k, and x read through eval(), for every recorded entry."""
    entries = refdata.entries(section)
    assert entries
    for name, entry in entries.items():
        run = refdata.run_protocol(
            lambda p: make(p, **switches), state_keys=("z",), before_step=lambda opt, t: opt.train() if t == 0 else None
        )
        for t, (y, state, extra) in enumerate(zip(run.params, run.state, entry["extras_after_step"])):
            _close(y, entry["params_after_step"][t])
            _close(state["z"], extra["z"])
        # the same run again, switching to x after each step and back: x as the package's eval() gives it
        p = refdata.W0.clone().requires_grad_(True)
        opt = make(p, **switches)
        opt.train()
        for t, extra in enumerate(entry["extras_after_step"]):
            p.grad = refdata.G[t].clone()
            opt.step()
            group = opt.param_groups[0]
            assert group["k"] == extra["k"], name
            assert group["weight_sum"] == pytest.approx(extra["ckp1_weight_sum"], rel=1e-12)
            opt.eval()
            _close(p.detach(), extra["x_via_eval"])
            opt.train()


# ---- the package as a live oracle ---------------------------------------------------------------------------

_ORACLE = [
    ("sgd", dict(lr=0.05, momentum=0.8, weight_decay=0.0, warmup_steps=10, r=0.5, weight_lr_power=2.0)),
    ("sgd", dict(lr=0.2, momentum=0.95, weight_decay=0.05, warmup_steps=0, r=0.0, weight_lr_power=1.0)),
    ("adamw", dict(lr=0.01, betas=(0.85, 0.99), eps=1e-8, weight_decay=0.0, warmup_steps=10, r=1.0)),
    ("adamw", dict(lr=0.003, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.1, warmup_steps=25, weight_lr_power=0.0)),
]


@pytest.mark.parametrize("switches", SWITCHES, ids=SWITCH_IDS)
@pytest.mark.parametrize("kind,cfg", _ORACLE, ids=[f"{k}-{i}" for i, (k, _) in enumerate(_ORACLE)])
def test_matches_the_schedulefree_package(kind: str, cfg: dict, switches: dict) -> None:
    """300 steps on three tensors under a cosine LR scheduler, with eval()/train() switches along the way."""
    ours_cls, theirs_cls = {
        "sgd": (SGDScheduleFree, schedulefree.SGDScheduleFree),
        "adamw": (AdamWScheduleFree, schedulefree.AdamWScheduleFree),
    }[kind]
    gen = torch.Generator().manual_seed(7)
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in [(6, 5), (9,), (2, 3, 4)]]
    ours = [t.clone().requires_grad_() for t in start]
    theirs = [t.clone().requires_grad_() for t in start]
    opt_a = ours_cls(ours, **switches, **cfg)
    opt_b = theirs_cls(theirs, foreach=True, **cfg)
    sched_a = torch.optim.lr_scheduler.CosineAnnealingLR(opt_a, T_max=120)  # down to 0 and back up
    sched_b = torch.optim.lr_scheduler.CosineAnnealingLR(opt_b, T_max=120)
    opt_a.train(), opt_b.train()
    for t in range(300):
        for p, q in zip(ours, theirs):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.grad, q.grad = g, g.clone()  # the package writes into its gradient
        opt_a.step(), opt_b.step(), sched_a.step(), sched_b.step()
        if t % 50 == 49:
            opt_a.eval(), opt_b.eval()
            for p, q in zip(ours, theirs):
                torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)
            opt_a.train(), opt_b.train()
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(opt_a.state[p]["z"], opt_b.state[q]["z"], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [SGDScheduleFree, AdamWScheduleFree])
def test_chunked_single_tensor_path_equals_the_multi_tensor_path(cls: type) -> None:
    """Tensors larger than one CPU chunk (1 MiB) and a non-contiguous one go through the chunked kernels."""
    gen = torch.Generator().manual_seed(2)
    start = [
        torch.randn(600, 500, generator=gen),
        torch.randn(40, 30, generator=gen).t(),
        torch.randn(7, generator=gen),
    ]
    results = []
    for foreach in (False, True):
        ps = [t.clone().requires_grad_() for t in start]
        opt = cls(ps, lr=0.01, weight_decay=0.1, warmup_steps=2, foreach=foreach)
        opt.train()
        g = torch.Generator().manual_seed(3)
        for _ in range(4):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()
        results.append(ps)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_a_checkpoint_of_the_package_resumes_here() -> None:
    """The package's state_dict (same group counters, z and exp_avg_sq) continues exactly in ours."""
    gen = torch.Generator().manual_seed(4)
    grads = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in range(10)]
    theirs = torch.randn(3, 4, generator=gen, dtype=torch.float64).requires_grad_()
    ours = theirs.detach().clone().requires_grad_()
    opt_b = schedulefree.AdamWScheduleFree([theirs], lr=0.01, warmup_steps=3)
    opt_b.train()
    for g in grads[:5]:
        theirs.grad = g.clone()
        opt_b.step()
    opt_b.eval()
    ours.data.copy_(theirs.detach())
    opt_a = AdamWScheduleFree([ours], lr=0.01, warmup_steps=3)
    buf = io.BytesIO()
    torch.save(opt_b.state_dict(), buf)  # (loading it directly would share the buffers between the two)
    buf.seek(0)
    opt_a.load_state_dict(torch.load(buf, weights_only=True))
    opt_a.train(), opt_b.train()
    for g in grads[5:]:
        theirs.grad, ours.grad = g.clone(), g.clone()
        opt_a.step(), opt_b.step()
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-12, atol=1e-14)


# ---- modes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SGDScheduleFree, AdamWScheduleFree])
def test_step_needs_train_mode(cls: type) -> None:
    p = torch.ones(3, requires_grad=True)
    opt = cls([p])
    p.grad = torch.ones(3)
    with pytest.raises(ScheduleFreeModeError, match=r"call optimizer\.train\(\)"):
        opt.step()
    assert not opt.state[p] and opt.param_groups[0]["k"] == 0  # nothing happened
    opt.train()
    opt.step()
    opt.eval()
    with pytest.raises(RuntimeError, match="train mode"):
        opt.step()


def test_modes_move_between_y_and_x_and_are_idempotent() -> None:
    p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    opt = SGDScheduleFree([p], lr=0.3, momentum=0.75)
    opt.train()
    for g in ([1.0, 0.0, -1.0], [0.5, 2.0, 0.0], [-1.0, 1.0, 1.0]):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    y, z = p.detach().clone(), opt.state[p]["z"].clone()
    opt.train()  # already in train mode: nothing moves
    assert torch.equal(p.detach(), y)
    opt.eval()
    opt.eval()
    x = p.detach().clone()
    torch.testing.assert_close(0.25 * z + 0.75 * x, y, rtol=1e-14, atol=1e-15)  # y = (1-beta) z + beta x
    assert not opt.train_mode
    opt.train()
    torch.testing.assert_close(p.detach(), y, rtol=1e-14, atol=1e-15)


def test_a_group_added_in_train_mode_joins_it() -> None:
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = AdamWScheduleFree([a], lr=0.1)
    opt.train()
    opt.add_param_group({"params": [b], "lr": 0.05})
    assert opt.train_mode
    for _ in range(3):
        a.grad, b.grad = torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5])
        opt.step()
    y_b = b.detach().clone()
    opt.eval()
    assert not torch.equal(b.detach(), y_b), "eval() must move the added group to x too"


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resume_from_a_checkpoint_saved_in_either_mode(mode: str) -> None:
    """torch.load(weights_only=True) of a checkpoint taken in eval mode (as the package asks) or train mode."""
    gen = torch.Generator().manual_seed(1)
    grads = [torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in range(12)]
    start = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    cfg = dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.01, warmup_steps=3, weighting="scheduled")

    def run(p: torch.Tensor, opt: torch.optim.Optimizer, gs: list[torch.Tensor]) -> None:
        for g in gs:
            p.grad = g.clone()
            opt.step()

    p = start.clone().requires_grad_()
    opt = AdamWScheduleFree([p], **cfg)
    opt.train()
    run(p, opt, grads)
    opt.eval()

    p1 = start.clone().requires_grad_()
    opt1 = AdamWScheduleFree([p1], **cfg)
    opt1.train()
    run(p1, opt1, grads[:6])
    getattr(opt1, mode)()
    buf = io.BytesIO()
    torch.save({"p": p1.detach(), "opt": opt1.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    p2 = ckpt["p"].clone().requires_grad_()
    opt2 = AdamWScheduleFree([p2], **cfg)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.train_mode == (mode == "train")
    opt2.train()
    run(p2, opt2, grads[6:])
    opt2.eval()
    torch.testing.assert_close(p2.detach(), p.detach(), rtol=0, atol=0)


# ---- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,kwargs,field,domain",
    [
        (SGDScheduleFree, {"momentum": 1.0}, "momentum", "(0, 1)"),
        (SGDScheduleFree, {"momentum": 0.0}, "momentum", "(0, 1)"),
        (SGDScheduleFree, {"warmup_steps": -1}, "warmup_steps", "[0, inf)"),
        (SGDScheduleFree, {"weighting": "max"}, "weighting", "'lr_max', 'scheduled'"),
        (AdamWScheduleFree, {"betas": (0.9, 1.0)}, "betas[1]", "[0, 1)"),
        (AdamWScheduleFree, {"eps": 0.0}, "eps", "(0, inf)"),
        (AdamWScheduleFree, {"lr": -0.1}, "lr", "[0, inf)"),
    ],
)
def test_invalid_values_name_field_and_domain(cls: type, kwargs: dict, field: str, domain: str) -> None:
    with pytest.raises(ValueError) as err:
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
    assert field in str(err.value) and domain in str(err.value)


@pytest.mark.parametrize("cls", [SGDScheduleFree, AdamWScheduleFree])
def test_unknown_keyword_suggests_the_closest(cls: type) -> None:
    with pytest.raises(TypeError, match="did you mean 'weight_lr_power'"):
        cls([torch.zeros(2, requires_grad=True)], weight_lr_pow=1.0)
    with pytest.raises(TypeError, match="did you mean 'warmup_steps'"):
        cls([torch.zeros(2, requires_grad=True)], warmup=10)


# ---- the Pun-Buchholz-Gower weighting ---------------------------------------------------------------------


def _trajectory(weighting: str, lrs: list[float], warmup: int = 0, power: float = 2.0):
    """y, z and x after each step of a fixed gradient stream, with lr set per step as a scheduler would."""
    gen = torch.Generator().manual_seed(5)
    p = torch.randn(5, generator=gen, dtype=torch.float64).requires_grad_()
    opt = SGDScheduleFree([p], lr=lrs[0], momentum=0.9, warmup_steps=warmup, weight_lr_power=power, weighting=weighting)
    opt.train()
    zs, xs, used = [], [], []
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.randn(5, generator=gen, dtype=torch.float64)
        opt.step()
        used.append(opt.param_groups[0]["scheduled_lr"])
        zs.append(opt.state[p]["z"].clone())
        opt.eval()
        xs.append(p.detach().clone())
        opt.train()
    return zs, xs, used


def test_scheduled_weighting_equals_the_default_under_a_non_decreasing_schedule() -> None:
    """Constant lr, warm-up, then a rising schedule: lr_k is the largest so far, so both rules are one rule."""
    lrs = [0.1] * 10 + [0.1 + 0.01 * i for i in range(10)]
    for warmup in (0, 4):
        for a, b in zip(_trajectory("lr_max", lrs, warmup)[1], _trajectory("scheduled", lrs, warmup)[1]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # and they part as soon as the learning rate falls
    decay = lrs + [0.05] * 5
    assert not torch.equal(_trajectory("lr_max", decay)[1][-1], _trajectory("scheduled", decay)[1][-1])


def test_scheduled_weighting_makes_x_the_lr_weighted_average_of_z() -> None:
    """Pun, Buchholz, Gower: with c_{k+1} = gamma_k / sum_{j<=k} gamma_j, x_{k+1} = sum_j gamma_j z_{j+1} / sum_j
    gamma_j for any schedule (here warm-up, cosine decay to 0 and a restart); a step with gamma = 0 adds nothing."""
    n = 30
    lrs = [0.2 * 0.5 * (1 + math.cos(math.pi * k / 20)) if k <= 20 else 0.05 for k in range(n)]
    zs, xs, used = _trajectory("scheduled", lrs, warmup=3, power=1.0)
    assert used[20] == 0.0
    for k in range(n):
        weights = torch.tensor(used[: k + 1], dtype=torch.float64)
        expected = (weights[:, None] * torch.stack(zs[: k + 1])).sum(0) / weights.sum()
        torch.testing.assert_close(xs[k], expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(xs[20], xs[19], rtol=1e-14, atol=1e-15)  # lr = 0: no weight, x stays (but rounding)


# ---- the y-step filter -------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta,c", [(0.9, 0.1), (0.5, 0.01), (0.98, 0.5)])
def test_filter_is_the_transfer_function_of_the_recursion(beta: float, c: float) -> None:
    """Run the three sequences with c held fixed on an impulse gradient; the DFT of the y-steps is -lr * H."""
    n, lr = 4096, 0.1
    z = x = 0.0
    steps = []
    for k in range(n):
        g = 1.0 if k == 0 else 0.0
        y_old = (1 - beta) * z + beta * x
        z = z - lr * g
        x = (1 - c) * x + c * z
        steps.append((1 - beta) * z + beta * x - y_old)
    spectrum = torch.fft.rfft(torch.tensor(steps, dtype=torch.float64)).abs() / lr
    omega = torch.linspace(0, math.pi, spectrum.numel(), dtype=torch.float64)
    f = schedulefree_filter(beta, c)
    torch.testing.assert_close(spectrum, f.magnitude(omega), rtol=1e-6, atol=1e-9)
    assert f.dc_gain == pytest.approx(1.0)


def test_filter_view_follows_the_averaging_coefficient() -> None:
    spec = get_optimizer("sgd-schedulefree")
    cfg = spec.validate({})
    assert schedulefree_averaging_coefficient(cfg, 1) == 1.0
    assert schedulefree_averaging_coefficient(cfg, 10) == pytest.approx(0.1)  # r = 0, constant lr: 1/k
    warm = spec.validate({"warmup_steps": 4, "lr": 0.5})
    # warm-up weights 1, 4, 9, 16 (x 0.125^2 ... ) then 16 per step: c at the 5th call is 16/46
    assert schedulefree_averaging_coefficient(warm, 5) == pytest.approx(16 / 46)
    with pytest.raises(ValueError, match="step"):
        schedulefree_averaging_coefficient(cfg, 10**7)
