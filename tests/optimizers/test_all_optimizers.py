"""One table, every optimizer, the same checks: the torch.optim conventions a user relies on."""

from __future__ import annotations

import io
import math

import pytest
import torch
from sklearn.datasets import load_digits

from optimizers.hyperparams import Hyperparameter
from optimizers.registry import REGISTRY, get_optimizer, optimizer_names

OURS = [
    "fsgdm",
    "autosgm",
    "gsgd",
    "lion",
    "lowrank-hb",
    "lowrank-adam",
    "signum",
    "sgd-schedulefree",
    "adamw-schedulefree",
]

# A configuration per registry entry that trains the digits logistic regression below in 60 full-batch steps.
TRAIN_CONFIG = {
    "fsgdm": dict(lr=0.05, n_stages=6, sigma=60),
    "autosgm": dict(lr_init=0.05, num_lrc=0, tau=1, spe=60),
    "gsgd": dict(lr=0.2, momentum=0.9),
    "lion": dict(lr=0.01),
    "lowrank-hb": dict(lr=0.1, momentum=0.9),  # a dense model: heavy-ball (tests/optimizers/test_lowrank.py: layers)
    "lowrank-adam": dict(lr=0.01),  # a dense model: AdamW
    "sgd-schedulefree": dict(lr=0.5, momentum=0.9, warmup_steps=5, weighting="scheduled"),
    "adamw-schedulefree": dict(lr=0.02, weight_decay=0.01, r=1.0, weight_lr_power=1.0),
    "sgd": dict(lr=0.1, momentum=0.9),
    "adam": dict(lr=0.01),
    "adamw": dict(lr=0.01),
    "signum": dict(lr=0.01, momentum=0.9),
    "adam-tied": dict(lr=0.01, beta=0.95),
}


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)


def _make_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(64, 10).to(dtype)


def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(model(x.to(model.weight.dtype)), y)


#: more configurations of an optimizer for the conventions checks below (ids: name-1, name-2, ...)
MORE_CONFIGS = {
    "sgd-schedulefree": [dict(lr=0.5, weight_decay=1e-3, r=0.5)],
    "adamw-schedulefree": [dict(lr=0.02, beta1=0.8, beta2=0.99, warmup_steps=4, weighting="scheduled")],
}
#: (name, config) for every optimizer of ours: its TRAIN_CONFIG first, then its MORE_CONFIGS
OUR_CASES = [(n, c) for n in OURS for c in [TRAIN_CONFIG[n], *MORE_CONFIGS.get(n, [])]]
OUR_IDS = [n if i == 0 else f"{n}-{i}" for n in OURS for i in range(1 + len(MORE_CONFIGS.get(n, [])))]
#: the training-heavy checks (resume, low precision) run the TRAIN_CONFIG only, to keep the suite cheap
OUR_TRAIN_CASES = [(n, TRAIN_CONFIG[n]) for n in OURS]


def _create(name: str, params, cfg: dict, **switches) -> torch.optim.Optimizer:
    """The registry's optimizer, in train mode where it has one (schedule-free: step() needs train())."""
    opt = get_optimizer(name).create(params, cfg, **switches)
    if hasattr(opt, "train"):
        opt.train()
    return opt


def test_registry_lists_every_optimizer() -> None:
    assert optimizer_names() == [
        "fsgdm",
        "autosgm",
        "gsgd",
        "lion",
        "lowrank-hb",
        "lowrank-adam",
        "sgd-schedulefree",
        "adamw-schedulefree",
        "sgd",
        "adam",
        "adamw",
        "signum",
        "adam-tied",
    ]
    assert set(TRAIN_CONFIG) == set(REGISTRY)


@pytest.mark.parametrize("name", optimizer_names())
def test_loss_falls_on_digits(name: str, digits) -> None:
    x, y = digits
    model = _make_model()
    opt = _create(name, model.parameters(), TRAIN_CONFIG[name])
    start = _loss(model, x, y).item()
    for _ in range(60):
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()
    end = _loss(model, x, y).item()
    assert end < 0.5 * start, f"{name}: loss {start:.3f} -> {end:.3f}"


@pytest.mark.parametrize("name", optimizer_names())
def test_spec_describes_every_hyperparameter(name: str) -> None:
    spec = get_optimizer(name)
    data = spec.to_dict()
    assert data["description"] and data["name"] == name
    for hp in data["hyperparameters"]:
        assert {"name", "type", "default", "domain"} <= set(hp)
    # defaults alone build a working optimizer
    assert isinstance(spec.create([torch.zeros(3, requires_grad=True)]), torch.optim.Optimizer)


def _outside(hp: Hyperparameter):
    """A value just outside the domain, or None where every value of the type is valid."""
    if hp.kind == "choice":
        return "no-such-choice"
    if hp.kind in ("float", "int"):
        if not math.isinf(hp.low):
            return hp.low if hp.low_open else hp.low - 1
        if not math.isinf(hp.high):
            return hp.high if hp.high_open else hp.high + 1
    return None


CASES = [(n, hp) for n in optimizer_names() for hp in get_optimizer(n).hyperparameters if _outside(hp) is not None]


@pytest.mark.parametrize("name,hp", CASES, ids=[f"{n}-{hp.name}" for n, hp in CASES])
def test_out_of_domain_value_names_field_and_domain(name: str, hp: Hyperparameter) -> None:
    spec = get_optimizer(name)
    bad = _outside(hp)
    with pytest.raises(ValueError) as err:
        spec.create([torch.zeros(2, requires_grad=True)], {hp.name: bad})
    assert hp.name in str(err.value) and hp.domain().split(" or ")[0] in str(err.value)


@pytest.mark.parametrize("name", optimizer_names())
def test_unknown_config_name_suggests_closest(name: str) -> None:
    spec = get_optimizer(name)
    target = spec.hyperparameters[0].name
    with pytest.raises(TypeError, match=f"did you mean '{target}'"):
        spec.validate({target + "x": 1})


def test_unknown_optimizer_suggests_closest() -> None:
    with pytest.raises(ValueError, match="did you mean 'fsgdm'"):
        get_optimizer("fsgd")


# ---- torch.optim conventions, for our optimizers -----------------------------------------------------------


def _train(name: str, model: torch.nn.Module, opt: torch.optim.Optimizer, x, y, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name,cfg", OUR_TRAIN_CASES, ids=OURS)
def test_state_dict_resume_equals_uninterrupted(name: str, cfg: dict, foreach: bool, digits, tmp_path) -> None:
    x, y = digits
    straight = _make_model(dtype=torch.float64)
    opt = _create(name, straight.parameters(), cfg, foreach=foreach)
    _train(name, straight, opt, x, y, 20)

    first = _make_model(dtype=torch.float64)
    opt1 = _create(name, first.parameters(), cfg, foreach=foreach)
    _train(name, first, opt1, x, y, 10)
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    resumed = _make_model(seed=1, dtype=torch.float64)
    resumed.load_state_dict(ckpt["model"])
    opt2 = _create(name, resumed.parameters(), cfg, foreach=foreach)
    opt2.load_state_dict(ckpt["opt"])
    _train(name, resumed, opt2, x, y, 10)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_closure_runs_with_grad_and_returns_loss(name: str, cfg: dict, digits) -> None:
    x, y = digits
    model = _make_model()
    opt = _create(name, model.parameters(), cfg)

    def closure():
        opt.zero_grad()
        loss = _loss(model, x, y)
        loss.backward()
        return loss

    with torch.no_grad():  # step() must enable grad for the closure itself
        loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor) and loss.requires_grad


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_grad_is_never_modified(name: str, cfg: dict) -> None:
    p = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    opt = _create(name, [p], cfg)
    for _ in range(4):
        g = torch.randn(4, 3, dtype=torch.float64)
        p.grad = g.clone()
        opt.step()
        torch.testing.assert_close(p.grad, g, rtol=0, atol=0)


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_params_without_grad_are_skipped(name: str, cfg: dict) -> None:
    used, unused = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    before = unused.detach().clone()
    opt = _create(name, [used, unused], cfg)
    used.grad = torch.ones(3)
    opt.step()
    assert torch.equal(unused.detach(), before) and not opt.state[unused]


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_sparse_gradient_is_rejected_clearly(name: str, cfg: dict) -> None:
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = _create(name, emb.parameters(), cfg)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match="sparse gradients"):
        opt.step()
    with pytest.raises(RuntimeError):  # torch.optim raises RuntimeError here; both kinds are caught
        opt.step()


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_param_groups_equal_separate_optimizers(name: str, cfg: dict) -> None:
    """A group added with its own lr behaves exactly like an optimizer created with that lr."""
    spec = get_optimizer(name)
    cfg = spec.validate(cfg)
    lr_key = "lr_init" if name == "autosgm" else "lr"
    a, b = (
        torch.randn(5, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
    )
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    opt = _create(name, [a], cfg)
    assert "lr" in opt.param_groups[0], f"{name} must keep 'lr' in its param groups so LR schedulers work"
    opt.add_param_group({"params": [b], "lr": cfg[lr_key] / 2})
    opt_a = _create(name, [a2], cfg)
    opt_b = _create(name, [b2], {**cfg, lr_key: cfg[lr_key] / 2})
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        for p, q in ((a, a2), (b, b2)):
            p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            q.grad = p.grad.clone()
        opt.step(), opt_a.step(), opt_b.step()
    torch.testing.assert_close(a, a2, rtol=0, atol=0)
    torch.testing.assert_close(b, b2, rtol=0, atol=0)


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_add_param_group_is_validated(name: str, cfg: dict) -> None:
    opt = _create(name, [torch.zeros(2, requires_grad=True)], cfg)
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": -1.0})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_lr_scheduler_drives_the_step(name: str, cfg: dict, digits) -> None:
    """The lr is read from the group on every step: a scheduler that zeroes it freezes the parameters.

    Schedule-free with the package's averaging (``weighting="lr_max"``) keeps averaging x toward a frozen z, so
    there the SGD iterate z is what freezes; with ``weighting="scheduled"`` a step at lr 0 has no weight at all.
    """
    x, y = digits
    model = _make_model()
    opt = _create(name, model.parameters(), cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0 if epoch < 3 else 0.0)
    for _ in range(3):
        _train(name, model, opt, x, y, 1)
        sched.step()
    averaging = opt.param_groups[0].get("weighting") == "lr_max"

    def watched() -> list[torch.Tensor]:
        params = list(model.parameters())
        return [opt.state[p]["z"].clone() for p in params] if averaging else [p.detach().clone() for p in params]

    frozen = watched()
    _train(name, model, opt, x, y, 3)
    for p, q in zip(watched(), frozen):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name,cfg", OUR_TRAIN_CASES, ids=OURS)
def test_low_precision_params_train(name: str, cfg: dict, dtype: torch.dtype, digits) -> None:
    x, y = digits
    model = _make_model(dtype=dtype)
    opt = _create(name, model.parameters(), cfg)
    start = _loss(model, x, y).item()
    _train(name, model, opt, x, y, 30)
    assert all(p.dtype == dtype for p in model.parameters())
    assert all(
        s.dtype in (dtype, torch.float32, torch.float64)
        for st in opt.state.values()
        for s in st.values()
        if torch.is_tensor(s)
    )
    assert _loss(model, x, y).item() < start


@pytest.mark.parametrize("name,cfg", OUR_CASES, ids=OUR_IDS)
def test_foreach_and_single_tensor_paths_agree(name: str, cfg: dict) -> None:
    gen = torch.Generator().manual_seed(3)
    shapes = [(6, 4), (4,), (2, 3, 2)]
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    results = []
    for foreach in (False, True):
        ps = [t.clone().requires_grad_() for t in start]
        opt = _create(name, ps, cfg, foreach=foreach)
        g = torch.Generator().manual_seed(4)
        for _ in range(15):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
            opt.step()
        results.append(ps)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_state_dict_is_plain_data() -> None:
    """weights_only loading accepts only tensors and plain values; check every optimizer's state survives it."""
    for name, cfg in OUR_CASES:
        p = torch.randn(3, requires_grad=True)
        opt = _create(name, [p], cfg)
        p.grad = torch.ones(3)
        opt.step()
        buf = io.BytesIO()
        torch.save(opt.state_dict(), buf)
        buf.seek(0)
        torch.load(buf, weights_only=True)
