"""AutoSGM: the reference vectors (96eaf0a), its windows, its reductions to torch.optim, and the project's rules."""

from __future__ import annotations

import io
import math
import re

import pytest
import torch

from optimizers.autosgm import CFG_FIELDS, FLAT_HYPERPARAMETERS, AutoSGM, check_flat, from_flat, to_flat
from optimizers.windows import window_value, winf_ii_sequence
from tests.optimizers.refdata import W0, G, entries

PATHS = [False, True]
PATH_IDS = ["single", "foreach"]
#: the update paths of the reference-vector checks: single-tensor, multi-tensor, compiled (fused=True)
SWITCHES = [{"foreach": False}, {"foreach": True}, {"fused": True}]
SWITCH_IDS = ["single", "foreach", "fused"]
DEFAULT_RC = (0, 0, 0, 2, 1, 1000, 1, 1, 0)


# ---- reading the entry names ----------------------------------------------------------------------------
def _value(text: str):
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    if "/" in text:  # e.g. gamma_i = 0.9/1.9 = mu/(1+mu)
        a, b = text.split("/")
        return float(a) / float(b)
    return float(text) if any(c in text for c in ".e") else int(text)


def _config(name: str) -> dict:
    """``adam_like(lr_cfg=(True,1e-2,0),beta=(...),rc=(...),wd=(...),eps=(...))`` -> AutoSGM keyword arguments."""
    parts = dict(re.findall(r"(\w+)=\(([^)]*)\)", name[name.index("(") + 1 :]))
    assert set(parts) == {"lr_cfg", "beta", "rc", "wd", "eps"}, name
    rc = DEFAULT_RC if parts["rc"] == "0,..." else tuple(_value(v) for v in parts["rc"].split(","))
    return dict(
        lr_cfg=tuple(_value(v) for v in parts["lr_cfg"].split(",")),
        beta_cfg=tuple(_value(v) for v in parts["beta"].split(",")),
        rc_cfg=rc,
        wd_cfg=tuple(_value(v) for v in parts["wd"].split(",")),
        eps_cfg=tuple(_value(v) for v in parts["eps"].split(",")),
    )


def _window_config(name: str, inseq: int) -> dict:
    a = dict(re.findall(r"(\w+)=([\d.]+)", name))
    return dict(
        rcm=int(a["rcm"]),
        inseq=inseq,
        x=float(a["x"]),
        n=float(a["n"]),
        m=int(a["m"]),
        tau=int(a["tau"]),
        spe=int(a["spe"]),
        cfact=int(a["cfact"]),
        e=float(a["e"]),
    )


def test_entry_names_parse() -> None:
    names = list(entries("AutoSGM"))
    assert len(names) == 14
    cfg = _config(names[0])
    assert cfg == dict(
        lr_cfg=(True, 1e-2, 0),
        beta_cfg=(0.9999, 0.999, 0.9, 0, 0, True),
        rc_cfg=(0, 0, 0, 2, 1, 1, 100, 1, 0),
        wd_cfg=(0, 0),
        eps_cfg=(1e-8, False),
    )
    nag = _config(next(n for n in names if n.startswith("nag_as_torch")))
    assert nag["beta_cfg"][3] == pytest.approx(0.9 / 1.9) and nag["rc_cfg"] == DEFAULT_RC


# ---- reference vectors --------------------------------------------------------------------------------
def _protocol(cfg: dict, switches: dict, w0: torch.Tensor) -> tuple[list[torch.Tensor], list[dict]]:
    p = w0.clone().requires_grad_(True)
    opt = AutoSGM([p], **switches, **cfg)
    params, states = [], []
    for t in range(5):
        p.grad = G[t].clone()
        opt.step()
        params.append(p.detach().clone())
        states.append({k: (v.clone() if torch.is_tensor(v) else v) for k, v in opt.state[p].items()})
    return params, states


def _expected(extras: dict, key: str, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(extras[key], dtype=torch.float64).reshape(like.shape)


def _check_state(state: dict, extras: dict) -> None:
    assert state["step"] == extras["step"]
    assert isinstance(state["step"], float)
    for key in ("g_sm", "g_var", "lr_num"):
        # g_var is not kept without aoptlr, lr_num only for num_lrc >= 2: the reference keeps them at 0 there
        ours = state.get(
            key, torch.zeros((), dtype=torch.float64) if key == "lr_num" else torch.zeros_like(state["g_sm"])
        )
        torch.testing.assert_close(ours, _expected(extras, key, ours), rtol=1e-9, atol=1e-9, msg=key)


@pytest.mark.parametrize("switches", SWITCHES, ids=SWITCH_IDS)
@pytest.mark.parametrize("name", list(entries("AutoSGM")))
def test_reference_vectors(name: str, switches: dict) -> None:
    """The protocol from W0: equal to the reference to 1e-9, except by about eps where |W0| < eps (decision g)."""
    cfg = _config(name)
    eps = cfg["eps_cfg"][0]
    expected = entries("AutoSGM")[name]
    params, states = _protocol(cfg, switches, W0)
    nudged = W0.abs() < eps
    assert nudged.any()  # W0[0][2] = 0: the reference starts it at +eps, we do not
    for t in range(5):
        ref = torch.tensor(expected["params_after_step"][t], dtype=torch.float64)
        err = (params[t] - ref).abs()
        assert err[~nudged].max() <= 1e-9, (t, err)
        assert err[nudged].max() <= eps + 1e-9, (t, err)
        _check_state(states[t], expected["extras_after_step"][t])


@pytest.mark.parametrize("switches", SWITCHES, ids=SWITCH_IDS)
@pytest.mark.parametrize("name", list(entries("AutoSGM")))
def test_reference_vectors_from_nudged_start(name: str, switches: dict) -> None:
    """Started where the reference's shadow copy starts (W0 + eps where |W0| < eps), the trajectory is the reference's."""
    cfg = _config(name)
    eps = cfg["eps_cfg"][0]
    expected = entries("AutoSGM")[name]
    params, states = _protocol(cfg, switches, W0 + eps * (W0.abs() < eps))
    for t in range(5):
        extras = expected["extras_after_step"][t]
        ref = torch.tensor(expected["params_after_step"][t], dtype=torch.float64)
        torch.testing.assert_close(params[t], ref, rtol=1e-9, atol=1e-14)
        torch.testing.assert_close(params[t], _expected(extras, "w_state", ref), rtol=1e-9, atol=1e-14)
        _check_state(states[t], extras)


# ---- windows ------------------------------------------------------------------------------------------
WINDOW_CASES = [(name, 0, "AutoSGM_window_values_t=1..22") for name in entries("AutoSGM_window_values_t=1..22")] + [
    (name, 1, "AutoSGM_window_inseq1_values_t=1..20") for name in entries("AutoSGM_window_inseq1_values_t=1..20")
]


@pytest.mark.parametrize("name,inseq,section", WINDOW_CASES, ids=[f"inseq{c[1]}:{c[0]}" for c in WINDOW_CASES])
def test_window_values(name: str, inseq: int, section: str) -> None:
    expected = entries(section)[name]
    cfg = _window_config(name, inseq)
    ours = [window_value(t, **cfg) for t in range(1, len(expected) + 1)]
    assert ours == pytest.approx(expected, rel=0, abs=1e-12)


def _rho_sequence(rc_cfg: tuple, steps: int) -> list[float]:
    """The window as the optimizer applies it: plain SGD with beta_i = 0 and g = 1 moves p by -rho_t lr0."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = AutoSGM([p], lr_cfg=(False, 1.0, 0), beta_cfg=(0.9, 0.9, 0.0, 0, 0, False), rc_cfg=rc_cfg)
    out = []
    for _ in range(steps):
        before = p.item()
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
        out.append(before - p.item())
    return out


def test_window_scales_the_step_and_restarts() -> None:
    # rcm=2, n=1, anneal only, L = tau*spe = 4: 1, 3/4, 1/2, 1/4, then the next frame
    assert _rho_sequence((2, 0, 0, 1, 1, 2, 2, 1, 0), 9) == pytest.approx([1, 0.75, 0.5, 0.25] * 2 + [1], abs=1e-15)


@pytest.mark.parametrize("spe", [1, 3])
def test_epoch_counter_advances_every_spe_iterations(spe: int) -> None:
    """Decision h: with cfact = 0 the window runs over epochs k = ceil(t/spe) (the reference counts tau instead)."""
    per_epoch = [1, 0.75, 0.5, 0.25, 1, 0.75]  # rcm=2, n=1, anneal only over tau = 4 epochs
    expected = [v for v in per_epoch for _ in range(spe)]
    assert _rho_sequence((2, 0, 0, 1, 1, 4, spe, 0, 0), len(expected)) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("L", [7, 10, 11])
@pytest.mark.parametrize("m", [0, 1])
def test_winf_ii_frame_has_L_values_from_the_shape(L: int, m: int) -> None:
    seq = winf_ii_sequence(rcm=1, x=0.0, n=2.0, m=m, e=0.3, L=L, M=1)
    assert len(seq) == L and all(0.0 <= v <= 1.0 for v in seq)
    assert max(seq) == 1.0
    if m == 1:  # flat top, then a monotone anneal
        assert list(seq) == sorted(seq, reverse=True)
    else:  # warm-up to the top, then anneal; the frame starts and ends at its lowest value (odd L too)
        top = seq.index(1.0)
        assert list(seq[: top + 1]) == sorted(seq[: top + 1]) and list(seq[top:]) == sorted(seq[top:], reverse=True)
        assert seq[0] == seq[-1] == min(seq)


# ---- reductions to torch.optim ------------------------------------------------------------------------
SHAPES = [(7, 5), (5,), (3, 4, 2), (1,), (16, 8)]


def _params(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_(True) for s in SHAPES]


def _train(opt_factory, steps: int = 60, seed: int = 1, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    params = [p.detach().to(dtype).requires_grad_(True) for p in _params()]
    opt = opt_factory(params)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = (torch.randn(p.shape, generator=gen, dtype=torch.float64) + 0.3 * p.detach().double()).to(dtype)
        opt.step()
    return [p.detach() for p in params]


LR, B1, B2, MU = 3e-3, 0.85, 0.995, 0.9
REDUCTIONS = {
    "adam": (
        lambda ps: torch.optim.Adam(ps, lr=LR, betas=(B1, B2), eps=1e-8),
        dict(lr_cfg=(True, LR, 0), beta_cfg=(0.5, B2, B1, 0, 0, True), wd_cfg=(0, 0), eps_cfg=(1e-8, False)),
    ),
    "adam_l2": (
        lambda ps: torch.optim.Adam(ps, lr=LR, betas=(B1, B2), eps=1e-8, weight_decay=0.05),
        dict(lr_cfg=(True, LR, 0), beta_cfg=(0.5, B2, B1, 0, 0, True), wd_cfg=(0.05, 0), eps_cfg=(1e-8, False)),
    ),
    "adamw": (
        lambda ps: torch.optim.AdamW(ps, lr=LR, betas=(B1, B2), eps=1e-8, weight_decay=0.02),
        dict(
            lr_cfg=(True, LR, 0), beta_cfg=(0.5, B2, B1, 0, 0, True), wd_cfg=(0.02 / (1 - B1), 1), eps_cfg=(1e-8, False)
        ),
    ),
    "heavy_ball": (
        lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=MU, weight_decay=1e-3),
        dict(lr_cfg=(False, 0.01 / (1 - MU), 0), beta_cfg=(0.5, 0.5, MU, 0, 0, False), wd_cfg=(1e-3, 0)),
    ),
    "nesterov": (
        lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=MU, nesterov=True, weight_decay=1e-3),
        dict(lr_cfg=(False, 0.01 / (1 - MU), 0), beta_cfg=(0.5, 0.5, MU, MU / (1 + MU), 0, False), wd_cfg=(1e-3, 0)),
    ),
}


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("target", list(REDUCTIONS))
def test_reduces_to_torch_optim(target: str, foreach: bool) -> None:
    make_torch, cfg = REDUCTIONS[target]
    theirs = _train(make_torch)
    ours = _train(lambda ps: AutoSGM(ps, foreach=foreach, **cfg))
    start = _params()
    for a, b, p0 in zip(ours, theirs, start):
        assert not torch.equal(b, p0.detach())  # the run moved
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


# ---- behaviour the vectors do not pin down -------------------------------------------------------------
@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("num_lrc", [0, 3])
@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0])
def test_debiased_filters_do_not_depend_on_the_input_gain(eta: float, num_lrc: int, foreach: bool) -> None:
    """With debias, y = q/(1-gamma) * ((1-beta)/eta)/(1-beta^t): the gain eta cancels (Adam's m/(1-beta^t))."""
    base = dict(lr_cfg=(True, 1e-2, num_lrc), rc_cfg=(1, 0, 0, 2, 0, 1, 6, 1, 0.2), wd_cfg=(0.01, 0))
    ref = _train(lambda ps: AutoSGM(ps, foreach=foreach, beta_cfg=(0.9, 0.99, 0.8, 0.3, 0, True), **base), steps=20)
    ours = _train(lambda ps: AutoSGM(ps, foreach=foreach, beta_cfg=(0.9, 0.99, 0.8, 0.3, eta, True), **base), steps=20)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def _num_lrc1_by_hand(
    w0: torch.Tensor,
    grads: list[torch.Tensor],
    lr0: float,
    bn: float,
    ba: float,
    bi: float,
    gamma: float,
    lam: float,
    eps: float,
    decay_in_norm: bool = True,
) -> torch.Tensor:
    """num_lrc = 1 written out from OPTIMIZERS.md 2.3/2.4: a = |v|, b = |v - EMA(a)| + eps, alpha = lr0 min(b, 4 sigma)/b."""
    w, s_i, s_a, hcmag, hcvar = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        q_a = s_a + (1 - ba) * g * g
        s_a = ba * q_a
        d = torch.sqrt(q_a / (1 - ba**t) + eps) + eps
        q_i = s_i + (1 - bi) * g
        s_i = bi * q_i - gamma * (1 - bi) * g
        v = q_i / (1 - gamma) / (1 - bi**t) / d + (1 - bi) / (1 - gamma) * lam * w  # decoupled decay is part of v
        u = v if decay_in_norm else v - (1 - bi) / (1 - gamma) * lam * w
        hcmag = bn * hcmag + (1 - bn) * torch.linalg.vector_norm(u).item()
        b = torch.linalg.vector_norm(u - hcmag).item() + eps
        hcvar = bn * hcvar + (1 - bn) * b * b
        alpha = lr0 * min(b, 4.0 * (math.sqrt(hcvar) + eps)) / b
        w = w - alpha * v
    return w


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
def test_num_lrc1_with_decoupled_decay_by_hand(foreach: bool) -> None:
    gen = torch.Generator().manual_seed(11)
    grads = [torch.randn(4, 3, generator=gen, dtype=torch.float64) * (1 + 3 * (t % 2)) for t in range(12)]
    w0 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    p = w0.clone().requires_grad_(True)
    # beta_n = 0.99 lets the clip min(b, 4 sigma) act (it cannot once 16 (1 - beta_n) >= 1)
    opt = AutoSGM(
        [p], foreach=foreach, lr_cfg=(True, 0.05, 1), beta_cfg=(0.99, 0.9, 0.8, 0.2, 0, True), wd_cfg=(0.3, 1)
    )
    for g in grads:
        p.grad = g.clone()
        opt.step()
    args = (w0, grads, 0.05, 0.99, 0.9, 0.8, 0.2, 0.3, 1e-10)
    expected = _num_lrc1_by_hand(*args)
    assert not torch.allclose(expected, _num_lrc1_by_hand(*args, decay_in_norm=False), rtol=1e-6, atol=0)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
def test_maximize_negates_decoupled_decay_with_an_estimated_step(foreach: bool) -> None:
    """num_lrc = 2 depends on g only through g^2, so at t = 1: maximize(g) - minimize(-g) = 2 alpha c lambda w0."""
    cfg = dict(lr_cfg=(True, 5e-2, 2), beta_cfg=(0.9, 0.99, 0.8, 0.2, 0, True), wd_cfg=(0.5, 1))
    up, down = W0.clone().requires_grad_(True), W0.clone().requires_grad_(True)
    opt_up = AutoSGM([up], maximize=True, foreach=foreach, **cfg)
    opt_down = AutoSGM([down], foreach=foreach, **cfg)
    up.grad, down.grad = G[0].clone(), -G[0]
    opt_up.step()
    opt_down.step()
    alpha = opt_up.state[up]["lr_num"]
    assert torch.equal(alpha, opt_down.state[down]["lr_num"]) and alpha > 0
    c = (1 - 0.8) / (1 - 0.2) * 0.5
    torch.testing.assert_close(up - down, 2 * alpha * c * W0, rtol=1e-12, atol=1e-15)


# ---- the two paths and the dtypes ----------------------------------------------------------------------
PATH_CONFIGS = {
    "adam_like": dict(lr_cfg=(True, 1e-2, 0), eps_cfg=(1e-8, False)),
    "window_nag_l2": dict(
        lr_cfg=(True, 1e-2, 0),
        beta_cfg=(0.9999, 0.999, 0.9, 0.9 / 1.9, 0, True),
        rc_cfg=(1, 0, 0.1, 2, 0, 2, 5, 3, 0.2),
        wd_cfg=(1e-2, 0),
    ),
    "sgd_decoupled_max": dict(
        lr_cfg=(False, 0.05, 0), beta_cfg=(0.9, 0.9, 0.8, 0.3, 0.5, True), wd_cfg=(0.1, 1), maximize=True
    ),
    **{
        f"num_lrc={k}": dict(
            lr_cfg=(True, 5e-2, k),
            beta_cfg=(0.9, 0.99, 0.8, 0.2, 0, True),
            rc_cfg=(4, 1, 0, 2, 0, 1, 6, 1, 0.25),
            wd_cfg=(0.05, 1),
        )
        for k in (1, 2, 3, 4)
    },
}


@pytest.mark.parametrize("name", list(PATH_CONFIGS))
def test_single_and_multi_tensor_paths_are_identical(name: str) -> None:
    single = _train(lambda ps: AutoSGM(ps, foreach=False, **PATH_CONFIGS[name]), steps=25)
    multi = _train(lambda ps: AutoSGM(ps, foreach=True, **PATH_CONFIGS[name]), steps=25)
    for a, b in zip(single, multi):
        assert torch.equal(a, b)


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 5e-2)], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("name", ["adam_like", "window_nag_l2", "num_lrc=3", "num_lrc=4"])
def test_low_precision_follows_float64(name: str, dtype: torch.dtype, tol: float, foreach: bool) -> None:
    ref = _train(lambda ps: AutoSGM(ps, foreach=foreach, **PATH_CONFIGS[name]), steps=10)
    low = _train(lambda ps: AutoSGM(ps, foreach=foreach, **PATH_CONFIGS[name]), steps=10, dtype=dtype)
    for a, b in zip(low, ref):
        assert a.dtype == dtype
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol)


# ---- state_dict -----------------------------------------------------------------------------------------
RESUME_CONFIGS = {
    f"num_lrc={k},inseq={s}": dict(
        lr_cfg=(True, 5e-2, k),
        beta_cfg=(0.9, 0.99, 0.8, 0.2, 0, True),
        rc_cfg=(1, s, 0.1, 2, 0, 3, 2, 1, 0.25),
        wd_cfg=(0.05, 1),
    )
    for k, s in [(3, 0), (3, 1), (1, 0), (4, 1)]
}


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("name", list(RESUME_CONFIGS))
def test_state_dict_round_trip_resumes_exactly(name: str, foreach: bool) -> None:
    cfg = RESUME_CONFIGS[name]
    gen = torch.Generator().manual_seed(3)
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64) for s in SHAPES] for _ in range(15)]

    def run(params, opt, steps):
        for gs in steps:
            for p, g in zip(params, gs):
                p.grad = g.clone()
            opt.step()

    full = _params()
    opt_full = AutoSGM(full, foreach=foreach, **cfg)
    run(full, opt_full, grads)

    first = _params()
    opt_first = AutoSGM(first, foreach=foreach, **cfg)
    run(first, opt_first, grads[:7])
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in first], "opt": opt_first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    state_kinds = {k for st in saved["opt"]["state"].values() for k in st}
    estimator_state = {
        1: {"hcmag", "hcvar"},
        3: {"lr_num", "pc", "wsq", "pc_mag"},
        4: {"lr_num", "pc", "wsq", "pc_mag", "pc_var"},
    }
    assert state_kinds == {"step", "g_sm", "g_var"} | estimator_state[cfg["lr_cfg"][2]]
    for st in saved["opt"]["state"].values():
        assert all(torch.is_tensor(v) or isinstance(v, (int, float)) for v in st.values())

    resumed = [p.clone().requires_grad_(True) for p in saved["params"]]
    opt_resumed = AutoSGM(resumed, foreach=foreach, **cfg)
    opt_resumed.load_state_dict(saved["opt"])
    run(resumed, opt_resumed, grads[7:])
    for a, b in zip(resumed, full):
        assert torch.equal(a, b)
    for pa, pb in zip(resumed, full):
        sa, sb = opt_resumed.state[pa], opt_full.state[pb]
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]) if torch.is_tensor(sa[k]) else sa[k] == sb[k], k


def test_external_changes_to_p_are_kept() -> None:
    """Decision g: no shadow copy, so an edit of p between steps survives the next step."""
    a = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    opt_a, opt_b = AutoSGM([a], lr_cfg=(True, 1e-2, 0)), AutoSGM([b], lr_cfg=(True, 1e-2, 0))
    for t in range(3):
        for p in (a, b):
            p.grad = G[t][0, :2].clone()
        opt_a.step()
        opt_b.step()
        if t == 0:
            with torch.no_grad():
                b.add_(5.0)
    torch.testing.assert_close(b.detach() - a.detach(), torch.full((2,), 5.0, dtype=torch.float64), rtol=0, atol=1e-14)


# ---- construction and validation ----------------------------------------------------------------------
def _p() -> list[torch.Tensor]:
    return [torch.zeros(3, requires_grad=True)]


@pytest.mark.parametrize(
    "kwargs,fragments",
    [
        (dict(lr_cfg=(True, 1e-3, 5)), ["num_lrc", "[0, 4]", "5"]),
        (dict(lr_cfg=(True, 0.0, 0)), ["lr_init", "(0, inf)"]),
        (dict(rc_cfg=(7, 0, 0, 2, 1, 1000, 1, 1, 0)), ["rcm", "[0, 6]"]),
        (dict(beta_cfg=(0.9999, 0.999, 1.0, 0, 0, True)), ["beta_i", "[0, 1)"]),
        (dict(beta_cfg=(1.0, 0.999, 0.9, 0, 0, True)), ["beta_n", "[0, 1)"]),
        (dict(beta_cfg=(0.9999, 0.999, 0.9, 0, -1, True)), ["eta_i", "[0, inf)"]),
        (dict(wd_cfg=(0.1,)), ["wd_cfg", "2 elements", "weight_decay, wd_level"]),
        (dict(beta_cfg=(0.9, 0.9, 0.9)), ["beta_cfg", "6 elements"]),
        (dict(wd_cfg=(-0.1, 0)), ["weight_decay", "[0, inf)"]),
        (dict(wd_cfg=(0.1, 2)), ["wd_level", "[0, 1]"]),
        (dict(eps_cfg=(0.0, True)), ["eps", "(0, inf)"]),
        (dict(rc_cfg=(1, 0, 0, 2, 1, 1, 1, 1, 0)), ["tau * spe", ">= 2"]),
        (dict(rc_cfg=(1, 0, 0, 2, 1, 1, 5, 0, 0)), ["cfact=0", "tau > 1"]),
        (dict(rc_cfg=(3, 0, 0, 2, 1, 1, 5, 1, 0)), ["rc_n", "(0, 1)", "rcm=3"]),
        (dict(rc_cfg=(1, 0, 1.5, 2, 1, 1, 5, 1, 0)), ["rc_x", "[0, 1]"]),
        (dict(rc_cfg=(1, 2, 0, 2, 1, 1, 5, 1, 0)), ["inseq", "[0, 1]"]),
    ],
)
def test_invalid_values_raise_value_error(kwargs: dict, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        AutoSGM(_p(), **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="num_lrc"):
        AutoSGM(_p(), lr_cfg=(True, 1e-3, 1.5))
    with pytest.raises(TypeError, match="lr_cfg"):
        AutoSGM(_p(), lr_cfg=1e-3)


def test_lists_are_accepted_and_canonicalised() -> None:
    opt = AutoSGM(_p(), lr_cfg=[1, 1e-2, 2], rc_cfg=[1, 0, 0, 2, 1, 2, 5, 1, 0])
    assert opt.param_groups[0]["lr_cfg"] == (True, 1e-2, 2)
    assert opt.param_groups[0]["rc_cfg"] == (1, 0, 0.0, 2.0, 1, 2, 5, 1, 0.0)


@pytest.mark.parametrize(
    "kwarg,suggestion",
    [("beta_cgf", "beta_cfg"), ("rc_cgf", "rc_cfg"), ("lr_init", "lr_cfg"), ("maximise", "maximize")],
)
def test_unknown_keyword_suggests_closest(kwarg: str, suggestion: str) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{kwarg}'.*did you mean '{suggestion}'"):
        AutoSGM(_p(), **{kwarg: 1})


def test_param_groups_carry_their_own_configuration() -> None:
    cfg_a = dict(lr_cfg=(True, 1e-2, 3), rc_cfg=(2, 0, 0, 1, 1, 1, 5, 1, 0))
    cfg_b = dict(lr_cfg=(False, 0.1, 0), beta_cfg=(0.9, 0.9, 0.5, 0, 0, False), rc_cfg=DEFAULT_RC, wd_cfg=(0.01, 0))

    def run(make):
        ps = _params()
        opt = make(ps)
        gen = torch.Generator().manual_seed(5)
        for _ in range(6):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            opt.step()
        return ps

    both = run(lambda ps: _two_groups(ps, cfg_a, cfg_b))
    alone_b = run(lambda ps: AutoSGM(ps[:2], **cfg_b))
    alone_a = run(lambda ps: AutoSGM(ps[2:], **cfg_a))
    for x, y in zip(both, alone_b[:2] + alone_a[2:]):
        assert torch.equal(x, y)


def _two_groups(ps, cfg_a, cfg_b) -> AutoSGM:
    opt = AutoSGM([dict(params=ps[:2], **cfg_b)], **cfg_a)
    opt.add_param_group(dict(params=ps[2:]))  # inherits the constructor's cfg_a
    assert opt.param_groups[1]["lr_cfg"] == (True, 1e-2, 3) and opt.param_groups[0]["lr_cfg"] == (False, 0.1, 0)
    return opt


@pytest.mark.parametrize("num_lrc", [0, 1, 2, 3, 4])
def test_group_lr_scales_the_step_like_lr_init(num_lrc: int) -> None:
    """A constant live lr equals lr_init = lr (every estimator is homogeneous in lr0); lr = 0 freezes."""
    base = dict(beta_cfg=(0.99, 0.99, 0.8, 0.2, 0, True), rc_cfg=(1, 0, 0.1, 2, 0, 1, 8, 1, 0.1), wd_cfg=(0.05, 1))
    opt = AutoSGM(_p(), lr_cfg=(True, 4e-2, num_lrc), **base)
    assert opt.param_groups[0]["lr"] == 4e-2

    def halved(ps):
        o = AutoSGM(ps, lr_cfg=(True, 4e-2, num_lrc), **base)
        o.param_groups[0]["lr"] = 2e-2
        return o

    a = _train(halved, steps=15)
    b = _train(lambda ps: AutoSGM(ps, lr_cfg=(True, 2e-2, num_lrc), **base), steps=15)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-11, atol=1e-13)

    ps = _params()
    opt = AutoSGM(ps, lr_cfg=(True, 4e-2, num_lrc), **base)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0 if epoch < 3 else 0.0)
    gen = torch.Generator().manual_seed(2)
    for step in range(6):
        if step == 3:
            frozen = [p.detach().clone() for p in ps]
        for p in ps:
            p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        opt.step()
        sched.step()
    for p, q in zip(ps, frozen):
        assert torch.equal(p.detach(), q)


def test_group_lr_follows_its_own_lr_cfg() -> None:
    opt = AutoSGM(_p(), lr_cfg=(True, 1e-2, 0))
    opt.add_param_group(dict(params=[torch.zeros(2, requires_grad=True)], lr_cfg=(True, 5e-3, 0)))
    opt.add_param_group(dict(params=[torch.zeros(2, requires_grad=True)], lr=2e-3))
    assert [g["lr"] for g in opt.param_groups] == [1e-2, 5e-3, 2e-3]
    assert opt.param_groups[2]["lr_cfg"][1] == 1e-2
    with pytest.raises(ValueError, match="lr must be a float in \\[0, inf\\)"):
        opt.add_param_group(dict(params=[torch.zeros(2, requires_grad=True)], lr=-1.0))
    assert len(opt.param_groups) == 3


def test_add_param_group_validates_before_adding() -> None:
    opt = AutoSGM(_p())
    with pytest.raises(ValueError, match="num_lrc"):
        opt.add_param_group(dict(params=[torch.zeros(2, requires_grad=True)], lr_cfg=(True, 1e-3, 9)))
    with pytest.raises(ValueError, match="tau \\* spe"):
        opt.add_param_group(dict(params=[torch.zeros(2, requires_grad=True)], rc_cfg=(1, 0, 0, 2, 1, 1, 1, 1, 0)))
    assert len(opt.param_groups) == 1


# ---- step() contract ----------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("name", ["window_nag_l2", "num_lrc=3", "sgd_decoupled_max"])
def test_grad_is_never_modified(name: str, foreach: bool) -> None:
    ps = _params()
    opt = AutoSGM(ps, foreach=foreach, **PATH_CONFIGS[name])
    for t in range(3):
        for p in ps:
            p.grad = torch.full_like(p, 0.1 * (t + 1))
        copies = [p.grad.clone() for p in ps]
        opt.step()
        for p, c in zip(ps, copies):
            assert torch.equal(p.grad, c)


def test_closure_is_evaluated_with_grad_and_its_loss_returned() -> None:
    p = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = AutoSGM([p], lr_cfg=(True, 0.1, 0))

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert p.grad is not None and not torch.equal(p.detach(), torch.tensor([1.0, -2.0]))
    assert opt.step() is None


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
def test_params_without_grad_are_skipped(foreach: bool) -> None:
    a, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = AutoSGM([a, b], foreach=foreach)
    a.grad = torch.ones(3)
    opt.step()
    assert b not in opt.state and torch.equal(b.detach(), torch.ones(2))
    assert opt.state[a]["step"] == 1.0 and not torch.equal(a.detach(), torch.ones(3))


def test_sparse_gradients_are_rejected() -> None:
    p = torch.zeros(4, 2, requires_grad=True)
    p.grad = torch.sparse_coo_tensor([[0, 2]], torch.ones(2, 2), (4, 2), check_invariants=True)
    with pytest.raises(TypeError, match="sparse"):
        AutoSGM([p]).step()


@pytest.mark.parametrize("foreach", PATHS, ids=PATH_IDS)
def test_maximize_ascends(foreach: bool) -> None:
    """Without decay, maximizing with g is minimizing with -g; the window and filters are unchanged."""
    cfg = dict(lr_cfg=(True, 1e-2, 0), rc_cfg=(1, 0, 0, 2, 0, 1, 6, 1, 0.2), beta_cfg=(0.9, 0.99, 0.8, 0.3, 0, True))
    up, down = W0.clone().requires_grad_(True), W0.clone().requires_grad_(True)
    opt_up = AutoSGM([up], maximize=True, foreach=foreach, **cfg)
    opt_down = AutoSGM([down], foreach=foreach, **cfg)
    for g in G:
        up.grad, down.grad = g.clone(), -g
        opt_up.step()
        opt_down.step()
    torch.testing.assert_close(up, down, rtol=0, atol=1e-15)


def test_maximize_negates_the_decoupled_decay_too() -> None:
    """As in the reference, maximize negates v as a whole: w1 = w0 + lr (g/(|g| + eps) + c lambda w0) at t = 1."""
    lr, lam, eps = 1e-2, 0.1, 1e-8
    p = W0.clone().requires_grad_(True)
    opt = AutoSGM([p], lr_cfg=(True, lr, 0), wd_cfg=(lam, 1), eps_cfg=(eps, False), maximize=True)
    p.grad = G[0].clone()
    opt.step()
    expected = W0 + lr * (G[0] / (G[0].abs() + eps) + (1 - 0.9) * lam * W0)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-15)


# ---- flat view for the registry ------------------------------------------------------------------------
FLAT_NAMES = (
    "lr_init",
    "aoptlr",
    "num_lrc",
    "beta_n",
    "beta_a",
    "beta_i",
    "gamma_i",
    "eta_i",
    "debias",
    "rcm",
    "inseq",
    "rc_x",
    "rc_n",
    "rc_m",
    "tau",
    "spe",
    "cfact",
    "rc_e",
    "weight_decay",
    "wd_level",
    "eps",
    "repeat_eps",
    "maximize",
)


def test_flat_hyperparameters_are_the_tuple_fields() -> None:
    assert tuple(hp.name for hp in FLAT_HYPERPARAMETERS) == FLAT_NAMES
    tuple_fields = [hp for fields in CFG_FIELDS.values() for hp in fields]
    by_name = {hp.name: hp for hp in FLAT_HYPERPARAMETERS}
    assert all(by_name[hp.name] is hp for hp in tuple_fields)  # one source of truth
    assert by_name["lr_init"].log and by_name["eps"].log
    defaults = AutoSGM(_p()).param_groups[0]
    assert to_flat(defaults) == {hp.name: hp.default for hp in FLAT_HYPERPARAMETERS}


def test_from_flat_equals_tuples() -> None:
    flat = dict(
        lr_init=5e-2,
        num_lrc=3,
        beta_i=0.8,
        gamma_i=0.2,
        rcm=1,
        tau=1,
        spe=6,
        rc_e=0.25,
        rc_m=0,
        weight_decay=0.05,
        wd_level=1,
    )
    tuples = dict(
        lr_cfg=(True, 5e-2, 3),
        beta_cfg=(0.9999, 0.999, 0.8, 0.2, 0, True),
        rc_cfg=(1, 0, 0, 2, 0, 1, 6, 1, 0.25),
        wd_cfg=(0.05, 1),
    )
    a = _train(lambda ps: from_flat(ps, **flat), steps=8)
    b = _train(lambda ps: AutoSGM(ps, **tuples), steps=8)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    with pytest.raises(TypeError, match="did you mean 'lr_init'"):
        from_flat(_p(), lr_inti=1e-3)


@pytest.mark.parametrize(
    "config,fragment",
    [
        (dict(tau=1, spe=1), "tau * spe"),
        (dict(cfact=0, tau=1, spe=10), "tau > 1"),
        (dict(rcm=3, rc_n=2.0), "rc_n"),
    ],
)
def test_check_flat_reports_cross_field_constraints(config: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        check_flat(config)
    assert fragment in str(info.value)
    check_flat({**config, "tau": 4, "spe": 3, "rc_n": 0.5})  # repaired: passes
    check_flat({})


def test_rcm3_with_a_valid_base_trains() -> None:
    out = _train(lambda ps: AutoSGM(ps, rc_cfg=(3, 0, 0, 0.5, 1, 2, 3, 1, 0)), steps=7)
    assert all(torch.isfinite(x).all() for x in out)
    assert math.isfinite(window_value(4, rcm=3, inseq=1, x=0.0, n=0.5, m=0, tau=2, spe=3, cfact=1, e=0.0))


# ---- the fused CPU path (torch's fused Adam kernel, foreach=None) -----------------------------------------
@pytest.fixture
def kernel_calls(monkeypatch) -> list[str]:
    """Names of the fused Adam kernels called, in order (the real kernels still run)."""
    calls: list[str] = []
    for name in ("_fused_adam_", "_fused_adamw_"):
        real = getattr(torch, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(torch, name, spy)
    return calls


FUSED_ENTRIES = [n for n in entries("AutoSGM") if n.startswith(("adam_like", "adamw_like_decoupled"))]


@pytest.mark.parametrize("name", FUSED_ENTRIES)
def test_reference_vectors_on_the_fused_path(name: str, kernel_calls: list[str]) -> None:
    """The Adam-like entries go through the fused kernel by default and still reproduce the reference."""
    assert len(FUSED_ENTRIES) == 2
    cfg = _config(name)
    expected = entries("AutoSGM")[name]
    params, states = _protocol(cfg, {"foreach": None}, W0 + cfg["eps_cfg"][0] * (W0.abs() < cfg["eps_cfg"][0]))
    assert kernel_calls == ["_fused_adamw_" if cfg["wd_cfg"][1] else "_fused_adam_"] * 5
    for t in range(5):
        ref = torch.tensor(expected["params_after_step"][t], dtype=torch.float64)
        torch.testing.assert_close(params[t], ref, rtol=1e-9, atol=1e-14)
        _check_state(states[t], expected["extras_after_step"][t])


@pytest.mark.parametrize("target", ["adam", "adam_l2", "adamw"])
def test_fused_path_reduces_to_torch_optim(target: str, kernel_calls: list[str]) -> None:
    make_torch, cfg = REDUCTIONS[target]
    ours = _train(lambda ps: AutoSGM(ps, **cfg))
    assert len(kernel_calls) == 60
    for a, b in zip(ours, _train(make_torch)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


FUSED_CONFIGS = {
    "adam_like": dict(lr_cfg=(True, 1e-2, 0), eps_cfg=(1e-8, False)),
    "coupled_eta_window": dict(
        lr_cfg=(True, 3e-2, 0),
        beta_cfg=(0.9, 0.99, 0.8, 0, 0.3, True),
        rc_cfg=(1, 0, 0.1, 2, 0, 2, 5, 3, 0.2),
        wd_cfg=(0.05, 0),
        eps_cfg=(1e-6, False),
    ),
    "decoupled_max_no_debias": dict(
        lr_cfg=(True, 2e-2, 0),
        beta_cfg=(0.9, 0.95, 0.7, 0, 0, False),
        wd_cfg=(0.1, 1),
        eps_cfg=(1e-8, False),
        maximize=True,
    ),
}


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(FUSED_CONFIGS))
def test_fused_path_equals_single_tensor_path(
    name: str, dtype: torch.dtype, tol: float, kernel_calls: list[str], monkeypatch
) -> None:
    """Cut into many cache blocks, with a transposed parameter, uneven step counts and an LR change mid-run."""
    monkeypatch.setattr("optimizers._blocks.CACHE_BLOCK", 128)
    shapes = [(37, 29), (5,), (3, 4, 2), (200,)]

    def run(foreach: bool | None, run_dtype: torch.dtype) -> tuple[list[torch.Tensor], AutoSGM]:
        gen = torch.Generator().manual_seed(5)
        ps = [torch.randn(s, generator=gen, dtype=torch.float64).to(run_dtype) for s in shapes]
        ps[0] = ps[0].t()  # non-contiguous: goes to the kernel whole
        ps = [p.requires_grad_(True) for p in ps]
        opt = AutoSGM(ps, foreach=foreach, **FUSED_CONFIGS[name])
        for t in range(12):
            if t == 6:
                opt.param_groups[0]["lr"] *= 0.3
            for k, p in enumerate(ps):
                g = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(run_dtype)
                p.grad = None if (k == 1 and t < 3) else (g.t().contiguous().t() if k == 0 else g)
            grads = [None if p.grad is None else p.grad.clone() for p in ps]
            opt.step()
            for p, g in zip(ps, grads):
                assert (p.grad is None and g is None) or torch.equal(p.grad, g)  # never written
        return [p.detach() for p in ps], opt

    ref, ref_opt = run(False, torch.float64)
    assert not kernel_calls
    fused, fused_opt = run(None, dtype)
    # a call per step count (two from t = 3 on) and per block: 21 calls if the tensors went to the kernel whole
    assert len(kernel_calls) > 12 + 9
    for a, b, pa, pb in zip(fused, ref, fused_opt.state, ref_opt.state):
        assert a.dtype == dtype
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol)
        for key in ("g_sm", "g_var"):
            sa, sb = fused_opt.state[pa][key], ref_opt.state[pb][key]
            torch.testing.assert_close(sa.double(), sb, rtol=tol, atol=tol * sb.abs().max().item())
        assert fused_opt.state[pa]["step"] == ref_opt.state[pb]["step"]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(foreach=False),
        dict(foreach=True),
        dict(eps_cfg=(1e-8, True)),
        dict(beta_cfg=(0.9999, 0.999, 0.9, 0.3, 0, True)),
        dict(lr_cfg=(True, 1e-2, 3)),
        dict(lr_cfg=(False, 1e-2, 0)),
    ],
    ids=["single", "foreach", "repeat_eps", "gamma", "estimator", "no_aoptlr"],
)
def test_fused_path_not_used_where_it_does_not_apply(kwargs: dict, kernel_calls: list[str]) -> None:
    cfg = dict(lr_cfg=(True, 1e-2, 0), eps_cfg=(1e-8, False)) | kwargs
    _train(lambda ps: AutoSGM(ps, **cfg), steps=2)
    _train(lambda ps: AutoSGM(ps, lr_cfg=(True, 1e-2, 0), eps_cfg=(1e-8, False)), steps=2, dtype=torch.bfloat16)
    assert kernel_calls == []
