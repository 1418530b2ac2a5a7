r"""AutoSGM: stochastic gradient methods as lowpass filters with an automatic step size (Somefun et al.).

Numerically this follows the reference ``somefunAgba/autosgm`` at commit ``96eaf0a`` (the interface the AutoSGM
README documents), with the project's deliberate differences: the parameter itself is updated (no shadow copy,
no +eps nudge of tiny initial weights), the epoch counter advances every ``spe`` iterations, the window is a pure
function of the iteration (so ``state_dict()`` holds only tensors and plain numbers), ``step(closure)`` returns
the closure's loss and ``p.grad`` is never written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from ._base import TensorList, ZoneOptimizer, group_by_device_and_dtype
from ._blocks import cache_blocks
from ._compiled import compiled, scalars
from .hyperparams import Hyperparameter, closest_name, reject_unknown_keywords, validate_tuple
from .windows import window_value

__all__ = [
    "AutoSGM",
    "CFG_FIELDS",
    "FLAT_HYPERPARAMETERS",
    "check_flat",
    "from_flat",
    "to_flat",
]

#: clip factor ``cf`` of the Huber/Chebyshev numerators (num_lrc = 1 and 3), fixed in the reference
CLIP_FACTOR = 4.0
#: pole of the final smoothing of the numerator, alpha_t = 0.1 alpha_{t-1} + 0.9 alpha_raw
NUMERATOR_POLE = 0.1

# ---- hyperparameters: one table, used by the tuple validation and published flat for the registry ---------------
_LR_FIELDS = (
    Hyperparameter("aoptlr", "bool", True, "adaptive (normalised) step: divide by sqrt of the EMA of g^2"),
    Hyperparameter(
        "lr_init", "float", 1e-3, "base step size lr0 (the numerator's scale)", low=0.0, low_open=True, log=True
    ),
    Hyperparameter(
        "num_lrc",
        "int",
        0,
        "numerator estimator: 0 constant lr0, 1 Chebyshev/Huber on the step norm, 2 relaxed upper bound, "
        "3 Markov/Huber partial correlation, 4 Chebyshev/Huber partial correlation",
        low=0,
        high=4,
    ),
)
_BETA_FIELDS = (
    Hyperparameter(
        "beta_n", "float", 0.9999, "pole of the numerator estimators' filters", low=0.0, high=1.0, high_open=True
    ),
    Hyperparameter(
        "beta_a", "float", 0.999, "pole of the second-moment (denominator) filter", low=0.0, high=1.0, high_open=True
    ),
    Hyperparameter(
        "beta_i", "float", 0.9, "pole of the gradient smoothing (momentum) filter", low=0.0, high=1.0, high_open=True
    ),
    Hyperparameter(
        "gamma_i",
        "float",
        0.0,
        "zero of the smoothing filter (mu/(1+mu) gives Nesterov)",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    Hyperparameter("eta_i", "float", 0.0, "input gain of the smoothing and moment filters; 0 means 1 - beta", low=0.0),
    Hyperparameter("debias", "bool", True, "divide the filter outputs by (1 - beta^t) (bias correction)"),
)
_RC_FIELDS = (
    Hyperparameter(
        "rcm",
        "int",
        0,
        "window shape: 0 none, 1 raised cosine, 2 polynomial, 3 beta-exponential, 4 simple polynomial, "
        "5 logistic, 6 logistic (inflection 0.875)",
        low=0,
        high=6,
    ),
    Hyperparameter(
        "inseq",
        "int",
        0,
        "window input sequence: 0 uniform grid (WINF), 1 golden-ratio samples (WINF_II)",
        low=0,
        high=1,
    ),
    Hyperparameter("rc_x", "float", 0.0, "window floor x: the window runs between x and 1", low=0.0, high=1.0),
    Hyperparameter(
        "rc_n",
        "float",
        2.0,
        "window shape parameter n (exponent; base in (0, 1) for rcm=3; steepness for rcm=5, 6)",
        low=0.0,
        low_open=True,
    ),
    Hyperparameter("rc_m", "int", 1, "window kind: 0 full (warm-up, flat top, anneal), 1 anneal only", low=0, high=1),
    Hyperparameter("tau", "int", 1000, "number of epochs of a window", low=1),
    Hyperparameter("spe", "int", 1, "steps (iterations) per epoch", low=1),
    Hyperparameter(
        "cfact",
        "int",
        1,
        "window length: 1 tau*spe, 2 spe, 0 tau epochs (needs tau > 1), >2 tau*spe with cfact sub-shapes",
        low=0,
    ),
    Hyperparameter("rc_e", "float", 0.0, "flat-top fraction e of the window", low=0.0, high=1.0),
)
_WD_FIELDS = (
    Hyperparameter("weight_decay", "float", 0.0, "weight decay lambda", low=0.0),
    Hyperparameter(
        "wd_level",
        "int",
        0,
        "0: coupled L2 (added to the gradient); 1: decoupled, scaled by (1-beta_i)/(1-gamma_i)",
        low=0,
        high=1,
    ),
)
_EPS_FIELDS = (
    Hyperparameter("eps", "float", 1e-10, "epsilon of the denominator sqrt(r) + eps", low=0.0, low_open=True, log=True),
    Hyperparameter("repeat_eps", "bool", True, "also add eps inside the square root: sqrt(r + eps) + eps"),
)
_MAXIMIZE = Hyperparameter("maximize", "bool", False, "maximize the objective instead of minimizing it")
#: the live learning rate of a param group (what LR schedulers change); it starts at lr_cfg[1]
_LIVE_LR = Hyperparameter(
    "lr",
    "float",
    1e-3,
    "live learning rate of a param group (LR schedulers set it); the step is scaled by lr/lr_init",
    low=0.0,
)

#: the configuration tuples and their fields, in order
CFG_FIELDS: dict[str, tuple[Hyperparameter, ...]] = {
    "lr_cfg": _LR_FIELDS,
    "beta_cfg": _BETA_FIELDS,
    "rc_cfg": _RC_FIELDS,
    "wd_cfg": _WD_FIELDS,
    "eps_cfg": _EPS_FIELDS,
}
_BY_NAME: dict[str, Hyperparameter] = {hp.name: hp for fields in CFG_FIELDS.values() for hp in fields}
_BY_NAME["maximize"] = _MAXIMIZE
#: which tuple (and position) holds each flat name
_LOCATION: dict[str, tuple[str, int]] = {
    hp.name: (cfg, i) for cfg, fields in CFG_FIELDS.items() for i, hp in enumerate(fields)
}

#: every hyperparameter under its flat name (the registry's view); the same objects validate the tuples
FLAT_HYPERPARAMETERS: tuple[Hyperparameter, ...] = tuple(
    _BY_NAME[name]
    for name in (
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
)

_SWITCHES = ("foreach", "fused")
_KEYWORDS = (*CFG_FIELDS, "maximize", *_SWITCHES)
# common names from other optimizers, mapped to the AutoSGM field that plays their role
_ALIASES = {"lr": "lr_init", "betas": "beta_i", "momentum": "beta_i", "nesterov": "gamma_i", "dampening": "eta_i"}


def _check_cross(rc: Sequence[Any], owner: str) -> None:
    """Constraints between fields (all of them inside ``rc_cfg``)."""
    rcm, _, _, n, _, tau, spe, cfact, _ = rc
    if tau * spe < 2:
        raise ValueError(
            f"{owner} rc_cfg: tau * spe must be >= 2 (a window of at least 2 steps), got tau={tau}, spe={spe}"
        )
    if cfact == 0 and tau <= 1:
        raise ValueError(f"{owner} rc_cfg: cfact=0 (a window over tau epochs) requires tau > 1, got tau={tau}")
    if rcm == 3 and not 0.0 < n < 1.0:
        raise ValueError(
            f"{owner} rc_cfg: rc_n must be a float in (0, 1) for rcm=3 (the base of the exponential), got {n!r}"
        )


def _validate_cfgs(cfgs: dict[str, Any], owner: str) -> dict[str, tuple[Any, ...]]:
    out = {name: validate_tuple(owner, name, cfgs[name], CFG_FIELDS[name]) for name in CFG_FIELDS if name in cfgs}
    if "rc_cfg" in out:
        _check_cross(out["rc_cfg"], owner)
    return out


def _reject_unknown(owner: str, kwargs: Iterable[str]) -> None:
    """``TypeError`` for the first unknown keyword, naming the closest keyword (or the tuple holding a flat name)."""
    for name in kwargs:
        if name in _KEYWORDS:
            continue
        field = name if name in _LOCATION else _ALIASES.get(name)
        direct = None if field else closest_name(name, list(_KEYWORDS))
        if field is None and direct is None:
            field = closest_name(name, list(_LOCATION))
        if direct is not None:
            raise TypeError(f"{owner} got an unexpected keyword argument {name!r}; did you mean {direct!r}?")
        if field is not None:
            cfg, i = _LOCATION[field]
            names = ", ".join(hp.name for hp in CFG_FIELDS[cfg])
            raise TypeError(
                f"{owner} got an unexpected keyword argument {name!r}; did you mean {cfg!r}? ({field} is {cfg}[{i}] "
                f"of {cfg}=({names}); optimizers.autosgm.from_flat takes flat names)"
            )
        reject_unknown_keywords(owner, [name], list(_KEYWORDS))


def check_flat(config: dict[str, Any]) -> None:
    """Raise ``ValueError`` if a flat configuration breaks a constraint between fields (missing names: defaults).

    Checks ``tau * spe >= 2``, ``cfact = 0 -> tau > 1`` and ``rcm = 3 -> 0 < rc_n < 1``. The fields involved are
    validated on the way; other names are left to the registry.
    """
    rc = tuple(hp.validate(config.get(hp.name, hp.default), owner="AutoSGM") for hp in _RC_FIELDS)
    _check_cross(rc, "AutoSGM")


def _flat_to_cfgs(flat: dict[str, Any]) -> dict[str, Any]:
    cfgs: dict[str, Any] = {}
    for cfg, fields in CFG_FIELDS.items():
        cfgs[cfg] = tuple(flat.get(hp.name, hp.default) for hp in fields)
    cfgs["maximize"] = flat.get("maximize", _MAXIMIZE.default)
    return cfgs


def from_flat(params: ParamsT, **flat: Any) -> AutoSGM:
    """Build an :class:`AutoSGM` from flat names (``lr_init=..., beta_i=..., tau=...``); missing names take defaults.

    ``foreach`` and ``fused`` are passed through. Unknown names raise ``TypeError`` with the closest valid name.
    """
    reject_unknown_keywords("AutoSGM.from_flat", flat, [hp.name for hp in FLAT_HYPERPARAMETERS] + list(_SWITCHES))
    switches = {name: flat.pop(name) for name in _SWITCHES if name in flat}
    return AutoSGM(params, **_flat_to_cfgs(flat), **switches)


def to_flat(group: dict[str, Any]) -> dict[str, Any]:
    """The flat view ``{lr_init: ..., ..., maximize: ...}`` of a param group or of :class:`AutoSGM` keyword arguments."""
    out = {name: group[cfg][i] for name, (cfg, i) in _LOCATION.items()}
    out["maximize"] = group.get("maximize", False)
    return {hp.name: out[hp.name] for hp in FLAT_HYPERPARAMETERS}


# ---- per-group constants ----------------------------------------------------------------------------------
class _Cfg(NamedTuple):
    aoptlr: bool
    lr0: float
    lr_scale: float  # group["lr"] / lr_init: what an LR scheduler does to the step
    num_lrc: int
    beta_n: float
    beta_a: float
    beta_i: float
    gamma_i: float
    eta_a: float  # input gain of the moment filter (eta_i, or 1 - beta_a)
    eta_i: float  # input gain of the smoothing filter (eta_i, or 1 - beta_i)
    debias: bool
    rc: tuple[Any, ...]
    weight_decay: float
    wd_level: int
    eps: float
    repeat_eps: bool
    maximize: bool

    @property
    def estimator(self) -> bool:
        return self.aoptlr and self.num_lrc > 0

    @property
    def decoupled(self) -> float:
        """The decoupled decay coefficient (1 - beta_i)/(1 - gamma_i) * lambda, 0 if none."""
        if self.wd_level == 1 and self.weight_decay != 0.0:
            return (1.0 - self.beta_i) / (1.0 - self.gamma_i) * self.weight_decay
        return 0.0

    @property
    def coupled(self) -> float:
        return self.weight_decay if self.wd_level == 0 else 0.0


def _group_cfg(group: dict[str, Any]) -> _Cfg:
    aoptlr, lr0, num_lrc = group["lr_cfg"]
    beta_n, beta_a, beta_i, gamma_i, eta, debias = group["beta_cfg"]
    weight_decay, wd_level = group["wd_cfg"]
    eps, repeat_eps = group["eps_cfg"]
    return _Cfg(
        aoptlr=bool(aoptlr),
        lr0=float(lr0),
        lr_scale=float(group.get("lr", lr0)) / float(lr0),
        num_lrc=int(num_lrc),
        beta_n=float(beta_n),
        beta_a=float(beta_a),
        beta_i=float(beta_i),
        gamma_i=float(gamma_i),
        eta_a=float(eta) if eta else 1.0 - beta_a,
        eta_i=float(eta) if eta else 1.0 - beta_i,
        debias=bool(debias),
        rc=tuple(group["rc_cfg"]),
        weight_decay=float(weight_decay),
        wd_level=int(wd_level),
        eps=float(eps),
        repeat_eps=bool(repeat_eps),
        maximize=bool(group.get("maximize", False)),
    )


class _TimeScalars(NamedTuple):
    rho: float  # step multiplier: the window times lr / lr_init
    ci: float  # output scale of the smoothing filter: 1/(1-gamma) * debias factor
    ca: float  # debias factor of the moment filter (1 without debias)
    sa: float  # sqrt(ca)


def _time_scalars(cfg: _Cfg, t: float) -> _TimeScalars:
    rcm, inseq, x, n, m, tau, spe, cfact, e = cfg.rc
    rho = window_value(int(t), rcm=rcm, inseq=inseq, x=x, n=n, m=m, tau=tau, spe=spe, cfact=cfact, e=e) * cfg.lr_scale
    ci = 1.0 / (1.0 - cfg.gamma_i)
    ca = 1.0
    if cfg.debias:
        ci *= ((1.0 - cfg.beta_i) / cfg.eta_i) / (1.0 - cfg.beta_i**t)
        ca = ((1.0 - cfg.beta_a) / cfg.eta_a) / (1.0 - cfg.beta_a**t)
    return _TimeScalars(rho, ci, ca, math.sqrt(ca))


class _ScalarCache(dict[float, _TimeScalars]):
    """Time scalars per step count t (the tensors of a group almost always share one t)."""

    def __init__(self, cfg: _Cfg) -> None:
        super().__init__()
        self.cfg = cfg

    def __missing__(self, t: float) -> _TimeScalars:
        value = self[t] = _time_scalars(self.cfg, t)
        return value


# ---- the numerator estimators (one tensor; alpha is a 0-dim tensor) -------------------------------------------
def _tukey_floor(d: Tensor) -> Tensor:
    """T(d) = u (1 - u^2)^2 with u = min(d, 1): zero for d >= 1."""
    u = d.clamp(max=1.0)
    return u * (1.0 - u * u).square_()


def _smooth_numerator(state: dict[str, Any], raw: Tensor) -> Tensor:
    """lr_num <- 0.1 lr_num + 0.9 raw (the canonical first-order filter with pole 0.1)."""
    lr_num = state.get("lr_num")
    if lr_num is None:
        lr_num = state["lr_num"] = torch.zeros((), dtype=raw.dtype, device=raw.device)
    lr_num.mul_(NUMERATOR_POLE).add_(raw, alpha=1.0 - NUMERATOR_POLE)
    return lr_num


def _buffer(state: dict[str, Any], key: str, like: Tensor, scalar: bool = False) -> Tensor:
    buf = state.get(key)
    if buf is None:
        buf = state[key] = (
            torch.zeros((), dtype=like.dtype, device=like.device)
            if scalar
            else torch.zeros_like(like, memory_format=torch.preserve_format)
        )
    return buf


def _numerator(
    p: Tensor, g: Tensor, q_i: Tensor, dd: Tensor, ts: _TimeScalars, state: dict[str, Any], cfg: _Cfg
) -> Tensor:
    """The step size alpha of one tensor (num_lrc = 1..4), from the weights before the update.

    ``q_i`` is the smoothing filter's pre-state q, ``dd`` the denominator divided by sqrt(ca) (see the step).
    """
    bn, lr0, eps = cfg.beta_n, cfg.lr0, cfg.eps
    d = dd * ts.sa  # the denominator sqrt(r) + eps
    if cfg.num_lrc == 1:
        v = torch.div(q_i, d).mul_(ts.ci)
        if cfg.decoupled:
            v.add_(p, alpha=cfg.decoupled)
        a = torch.linalg.vector_norm(v)
        hcmag = _buffer(state, "hcmag", a, scalar=True).mul_(bn).add_(a, alpha=1.0 - bn)
        b = torch.linalg.vector_norm(v.sub_(hcmag)).add_(eps)
        hcvar = _buffer(state, "hcvar", b, scalar=True).mul_(bn).add_(b * b, alpha=1.0 - bn)
        sigma = hcvar.sqrt().add_(eps)
        return torch.minimum(b, sigma.mul_(CLIP_FACTOR)).div_(b).mul_(lr0)
    gn = torch.div(g, d)
    if cfg.num_lrc == 2:
        o = _buffer(state, "pc", p)
        o.mul_(bn).add_(p.square().addcmul_(gn, gn), alpha=(1.0 - bn) * lr0)
        return _smooth_numerator(state, o.clamp(max=lr0).mean())
    x = gn.mul_(p)
    wsq = _buffer(state, "wsq", p)
    pc_mag = _buffer(state, "pc_mag", p)
    pc = _buffer(state, "pc", p)
    if cfg.num_lrc == 3:
        # transposed-form filters; omega is the *state* beta*q of the EMA of w^2 (as in the reference)
        omega = wsq.addcmul_(p, p, value=1.0 - bn).mul_(bn)
        lr0m = torch.reciprocal(omega + 1.0).mul_(lr0)
        ax = x.abs().add_(eps)
        m_x = pc_mag.add_(ax, alpha=1.0 - bn)  # output q
        h = torch.minimum(ax, m_x * CLIP_FACTOR).mul_(x).div_(ax)
        pc_mag.mul_(bn)
        o = pc.addcmul_(lr0m, h)  # leaky sum (gain 1): output q
        upper = (omega + 1.0).square_().mul_(lr0m)
        out = torch.clamp(o.abs(), min=_tukey_floor(d).mul_(lr0m), max=upper)
        pc.mul_(bn)
    else:
        # canonical-form filters: omega is the EMA of w^2, m_x the running mean of x
        omega = wsq.mul_(bn).addcmul_(p, p, value=1.0 - bn)
        lr0m = torch.reciprocal(omega + 1.0).mul_(lr0)
        m_x = pc_mag.mul_(bn).add_(x, alpha=1.0 - bn)
        b = torch.sub(x, m_x).abs_().add_(eps)
        pc_var = _buffer(state, "pc_var", p)
        sigma = pc_var.mul_(bn).addcmul_(b, b, value=1.0 - bn).sqrt().add_(eps)
        h = torch.minimum(b, sigma).mul_(x).div_(b)
        o = pc.mul_(bn).addcmul_(lr0m, h)
        upper = (omega + 1.0).square_().mul_(lr0m)
        out = torch.clamp(o.abs(), min=_tukey_floor(d).mul_(lr0m), max=upper)
    return _smooth_numerator(state, out.mean())


# ---- the update -----------------------------------------------------------------------------------------
def _apply_tensor_alpha(p: Tensor, q_i: Tensor, dd: Tensor, alpha: Tensor, ts: _TimeScalars, cfg: _Cfg) -> None:
    """p <- p (1 - s rho alpha c_wd) - s rho alpha ci q_i / d, with a 0-dim tensor alpha (s = -1 to maximize)."""
    sign = -1.0 if cfg.maximize else 1.0
    if cfg.decoupled:
        p.mul_(alpha.mul(-sign * ts.rho * cfg.decoupled).add_(1.0))
    p.addcmul_(torch.div(q_i, dd), alpha.mul(-sign * ts.rho * ts.ci / ts.sa))


def _single_tensor_autosgm(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], cfg: _Cfg) -> None:
    scalars = _ScalarCache(cfg)
    sign = -1.0 if cfg.maximize else 1.0
    for p, g, state in zip(params, grads, states):
        t = state["step"] = state["step"] + 1.0
        ts = scalars[t]
        if cfg.coupled:
            g = g.add(p, alpha=cfg.coupled)
        g_sm = state["g_sm"]
        dd = None
        if cfg.aoptlr:
            g_var = _buffer(state, "g_var", p)
            g_var.addcmul_(g, g, value=cfg.eta_a)  # q_a
            if cfg.repeat_eps:
                dd = torch.add(g_var, cfg.eps / ts.ca).sqrt_()
            else:
                dd = torch.sqrt(g_var)
            dd.add_(cfg.eps / ts.sa)
            g_var.mul_(cfg.beta_a)
        g_sm.add_(g, alpha=cfg.eta_i)  # q_i
        if cfg.estimator:
            assert dd is not None  # an estimator needs aoptlr, which set dd
            alpha = _numerator(p, g, g_sm, dd, ts, state, cfg)
            _apply_tensor_alpha(p, g_sm, dd, alpha, ts, cfg)
        else:
            step = sign * ts.rho * cfg.lr0
            if cfg.decoupled:
                p.mul_(1.0 - step * cfg.decoupled)
            if dd is not None:
                p.addcdiv_(g_sm, dd, value=-step * ts.ci / ts.sa)
            else:
                p.add_(g_sm, alpha=-step * ts.ci)
        g_sm.mul_(cfg.beta_i)
        if cfg.gamma_i:
            g_sm.add_(g, alpha=-cfg.gamma_i * cfg.eta_i)


def _multi_tensor_autosgm(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], cfg: _Cfg) -> None:
    scalars = _ScalarCache(cfg)
    sign = -1.0 if cfg.maximize else 1.0
    gs: TensorList  # the coupled weight decay replaces a group's gradients with new tensors (a tuple)
    for ps, gs, sts in group_by_device_and_dtype(params, grads, states):
        tss = []
        for state in sts:
            t = state["step"] = state["step"] + 1.0
            tss.append(scalars[t])
        if cfg.coupled:
            gs = torch._foreach_add(gs, ps, alpha=cfg.coupled)
        g_sms = [state["g_sm"] for state in sts]
        dds: TensorList | None = None
        if cfg.aoptlr:
            g_vars = [_buffer(state, "g_var", p) for state, p in zip(sts, ps)]
            torch._foreach_addcmul_(g_vars, gs, gs, value=cfg.eta_a)
            if cfg.repeat_eps:
                dds = torch._foreach_add(g_vars, [cfg.eps / ts.ca for ts in tss])
                torch._foreach_sqrt_(dds)
            else:
                dds = torch._foreach_sqrt(g_vars)
            torch._foreach_add_(dds, [cfg.eps / ts.sa for ts in tss])
            torch._foreach_mul_(g_vars, cfg.beta_a)
        torch._foreach_add_(g_sms, gs, alpha=cfg.eta_i)
        if cfg.estimator:
            assert dds is not None  # an estimator needs aoptlr, which set dds
            for p, g, g_sm, dd, ts, state in zip(ps, gs, g_sms, dds, tss, sts):
                _apply_tensor_alpha(p, g_sm, dd, _numerator(p, g, g_sm, dd, ts, state, cfg), ts, cfg)
        else:
            steps = [sign * ts.rho * cfg.lr0 for ts in tss]
            if cfg.decoupled:
                torch._foreach_mul_(ps, [1.0 - s * cfg.decoupled for s in steps])
            if dds is not None:
                torch._foreach_addcdiv_(ps, g_sms, dds, [-s * ts.ci / ts.sa for s, ts in zip(steps, tss)])
            else:
                coefs = [-s * ts.ci for s, ts in zip(steps, tss)]
                if all(c == coefs[0] for c in coefs):
                    torch._foreach_add_(ps, g_sms, alpha=coefs[0])
                else:
                    for p, g_sm, c in zip(ps, g_sms, coefs):
                        p.add_(g_sm, alpha=c)
        torch._foreach_mul_(g_sms, cfg.beta_i)
        if cfg.gamma_i:
            torch._foreach_add_(g_sms, gs, alpha=-cfg.gamma_i * cfg.eta_i)


# ---- the fused CPU path -----------------------------------------------------------------------------------
#: dtypes of torch's fused Adam kernel that the fused path uses (half precision keeps the generic rounding)
_FUSED_DTYPES = (torch.float32, torch.float64)
#: the step count handed to the kernel: large enough that its bias corrections 1 - b^S are 1 (see _fused_autosgm)
_KERNEL_STEP = 2.0**40


def _fused_applies(cfg: _Cfg, params: Sequence[Tensor]) -> bool:
    """Whether torch's fused Adam kernel can carry this group's update (see :func:`_fused_autosgm`)."""
    return (
        cfg.aoptlr
        and cfg.num_lrc == 0
        and cfg.gamma_i == 0.0
        and not cfg.repeat_eps
        and 1.0 / (1.0 + cfg.eta_i) < 1.0
        and 1.0 / (1.0 + cfg.eta_a) < 1.0
        and hasattr(torch, "_fused_adam_")
        and all(p.device.type == "cpu" and p.dtype in _FUSED_DTYPES for p in params)
    )


def _fused_autosgm(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], cfg: _Cfg) -> None:
    r"""The Adam-like update (aoptlr, num_lrc = 0, gamma_i = 0, repeat_eps off) through torch's fused Adam kernel.

    The kernel reads p, g, m, v and writes p, m, v in one pass over memory. With a step count S, bias
    corrections :math:`c_{1,2} = 1 - b_{1,2}^S`, and :math:`G = g + \lambda_k p` (its Adam mode) or a decay
    :math:`p \leftarrow p(1 - l\lambda_k)` first (its AdamW mode), it computes

    .. math::
        m \leftarrow b_1 m + (1-b_1) G, \quad v \leftarrow b_2 v + (1-b_2) G^2, \quad
        p \leftarrow p - \frac{l}{c_1}\,\frac{m}{\sqrt{v}/\sqrt{c_2} + \epsilon_k}.

    Handed AutoSGM's filter states :math:`s_i, s_a` as m and v, with :math:`b = 1/(1+\eta)`, it leaves
    :math:`b_1 q_i` and :math:`b_2 q_a` in them, where :math:`q = s + \eta G` is each filter's pre-state. The
    parameter update needs only those: with :math:`\mu = \sqrt{b_2/c_2}`, :math:`\epsilon_k = \mu e` and
    :math:`l = C c_1 \mu / b_1` it is AutoSGM's :math:`p \leftarrow p - C q_i/(\sqrt{q_a} + e)`. The new states
    are :math:`s = \beta q`, so one pass rescales m by :math:`\beta_i(1+\eta_i)` and v by
    :math:`\beta_a(1+\eta_a)`, block by block while they are still in cache. (The kernel's gains
    :math:`b` and :math:`1-b` add up to 1; AutoSGM's :math:`\beta` and :math:`\beta\eta` do not, hence that pass.)
    """
    scalars = _ScalarCache(cfg)
    sign = -1.0 if cfg.maximize else 1.0
    b1, b2 = 1.0 / (1.0 + cfg.eta_i), 1.0 / (1.0 + cfg.eta_a)
    rescale_i, rescale_a = cfg.beta_i * (1.0 + cfg.eta_i), cfg.beta_a * (1.0 + cfg.eta_a)
    # the kernel reads its step count from a tensor; S = 2**40 makes b**S underflow to 0 (bias corrections of 1)
    # for any b below 1 - 1e-9, and the corrections are computed here the same way for the rest
    c1, c2 = 1.0 - b1**_KERNEL_STEP, 1.0 - b2**_KERNEL_STEP
    mu = math.sqrt(b2) / math.sqrt(c2)  # kernel denominator = mu (sqrt(q_a) + e)
    for ps, gs, sts in group_by_device_and_dtype(params, grads, states):
        by_t: dict[float, list[int]] = {}
        for i, state in enumerate(sts):
            state["step"] = state["step"] + 1.0
            by_t.setdefault(state["step"], []).append(i)
        g_vars = [_buffer(state, "g_var", p) for state, p in zip(sts, ps)]
        g_sms = [state["g_sm"] for state in sts]
        kernel_step = torch.tensor(_KERNEL_STEP, dtype=torch.float32)
        for t, idx in by_t.items():
            ts = scalars[t]
            step = sign * ts.rho * cfg.lr0
            coef = step * ts.ci / ts.sa  # p -= coef * q_i / (sqrt(q_a) + eps / sa)
            lr = coef * c1 * mu / b1
            lists = [[ps[i] for i in idx], [gs[i] for i in idx], [g_sms[i] for i in idx], [g_vars[i] for i in idx]]
            adam, weight_decay = torch._fused_adam_, cfg.coupled  # coupled L2: G = g + lambda p in the kernel
            if cfg.decoupled:
                # p <- p (1 - decay) first: the kernel's AdamW mode with lr * weight_decay = decay
                adam, decay = torch._fused_adamw_, step * cfg.decoupled
                weight_decay = decay / lr if lr else 0.0
                if decay and not lr:  # lr underflowed to 0 while the decay did not: decay apart
                    torch._foreach_mul_(lists[0], 1.0 - decay)
            for bp, bg, bm, bv in cache_blocks(lists):
                adam(
                    bp,
                    bg,
                    bm,
                    bv,
                    [],
                    [kernel_step] * len(bp),
                    lr=lr,
                    beta1=b1,
                    beta2=b2,
                    weight_decay=weight_decay,
                    eps=mu * cfg.eps / ts.sa,
                    amsgrad=False,
                    maximize=False,
                )
                torch._foreach_mul_(bm + bv, [rescale_i] * len(bm) + [rescale_a] * len(bv))


# ---- the compiled path (fused=True) ----------------------------------------------------------------------
def _autosgm_kernel(
    ps: list[Tensor],
    gs: list[Tensor],
    g_sms: list[Tensor],
    g_vars: list[Tensor],
    coupled: Tensor,
    eta_a: Tensor,
    eps_rep: Tensor,
    eps_d: Tensor,
    beta_a: Tensor,
    eta_i: Tensor,
    decay: Tensor,
    coef: Tensor,
    beta_i: Tensor,
    gamma_eta: Tensor,
    aoptlr: bool,
    repeat_eps: bool,
    has_coupled: bool,
    has_decay: bool,
    has_gamma: bool,
) -> None:
    """The update of :func:`_single_tensor_autosgm` without an estimator, in its order of operations, for
    :func:`compiled` (``coef`` is its step coefficient, ``decay`` its decoupled factor)."""
    for i, (p, g, s) in enumerate(zip(ps, gs, g_sms)):
        if has_coupled:
            g = g + coupled * p
        if aoptlr:
            v = g_vars[i]
            v.add_(eta_a * g * g)  # q_a
            dd = (torch.sqrt(v + eps_rep) if repeat_eps else torch.sqrt(v)) + eps_d
            v.mul_(beta_a)
        s.add_(eta_i * g)  # q_i
        if has_decay:
            p.mul_(decay)
        p.add_(coef * (s / dd) if aoptlr else coef * s)
        s.mul_(beta_i)
        if has_gamma:
            s.sub_(gamma_eta * g)


def _compiled_autosgm(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], cfg: _Cfg) -> None:
    """``fused=True`` without an estimator: the whole update as one compiled kernel (:mod:`optimizers._compiled`),
    once per group of tensors that share device, dtype and step count."""
    scalars_at = _ScalarCache(cfg)
    sign = -1.0 if cfg.maximize else 1.0
    kernel = compiled(_autosgm_kernel)
    flags = dict(
        aoptlr=cfg.aoptlr,
        repeat_eps=cfg.repeat_eps,
        has_coupled=bool(cfg.coupled),
        has_decay=bool(cfg.decoupled),
        has_gamma=bool(cfg.gamma_i),
    )
    for ps, gs, sts in group_by_device_and_dtype(params, grads, states):
        by_t: dict[float, list[int]] = {}
        for i, state in enumerate(sts):
            state["step"] = state["step"] + 1.0
            by_t.setdefault(state["step"], []).append(i)
        g_vars = [_buffer(state, "g_var", p) for state, p in zip(sts, ps)] if cfg.aoptlr else []
        for t, idx in by_t.items():
            ts = scalars_at[t]
            step = sign * ts.rho * cfg.lr0
            numbers = scalars(
                ps[0],
                cfg.coupled,
                cfg.eta_a,
                cfg.eps / ts.ca,
                cfg.eps / ts.sa,
                cfg.beta_a,
                cfg.eta_i,
                1.0 - step * cfg.decoupled,
                -step * ts.ci / ts.sa if cfg.aoptlr else -step * ts.ci,
                cfg.beta_i,
                cfg.gamma_i * cfg.eta_i,
            )
            kernel(
                [ps[i] for i in idx],
                [gs[i] for i in idx],
                [sts[i]["g_sm"] for i in idx],
                [g_vars[i] for i in idx] if g_vars else [],
                *numbers,
                **flags,
            )


class AutoSGM(ZoneOptimizer):
    r"""AutoSGM: a lowpass-filtered, normalised gradient step with an automatic step size and a window.

    Filters (state :math:`s`, initially 0; gain :math:`\eta = \eta_i`, or :math:`1-\beta` when
    :math:`\eta_i = 0`). The transposed form with pole :math:`\beta` and zero :math:`\gamma`:

    .. math::
        q_t = s_{t-1} + \eta x_t, \qquad y_t = \frac{q_t}{1-\gamma}\,c_t, \qquad
        s_t = \beta q_t - \gamma \eta x_t, \qquad
        c_t = \begin{cases} \dfrac{(1-\beta)/\eta}{1-\beta^t} & \text{debias} \\ 1 & \text{otherwise} \end{cases}

    One step for the t-th call on a parameter :math:`w` with gradient :math:`g_t` (:math:`\lambda`, level =
    ``wd_cfg``; :math:`\epsilon`, rep = ``eps_cfg``; ``lr_cfg = (aoptlr, lr0, num_lrc)``):

    .. math::
        \rho_t &= \mathrm{window}(t) \quad\text{(from rc\_cfg)} \\
        \tilde g_t &= g_t + \lambda w_{t-1} \quad\text{(level 0, coupled L2; else } \tilde g_t = g_t) \\
        r_t &= \mathrm{LPF}(\tilde g_t^2;\ \beta_a, 0), \qquad
        d_t = \sqrt{r_t + \mathrm{rep}\cdot\epsilon} + \epsilon \quad (d_t = 1 \text{ if not aoptlr}) \\
        v_t &= \mathrm{LPF}(\tilde g_t;\ \beta_i, \gamma_i) / d_t
              \;+\; \tfrac{1-\beta_i}{1-\gamma_i}\lambda w_{t-1} \quad\text{(the last term for level 1, decoupled)} \\
        \alpha_t &= \mathrm{lr0} \quad\text{(num\_lrc = 0 or not aoptlr; otherwise an estimate per tensor)} \\
        w_t &= w_{t-1} - \rho_t\,\kappa\,\alpha_t\,v_t \qquad (w_t = w_{t-1} + \rho_t\kappa\alpha_t v_t
               \text{ with maximize}), \qquad \kappa = \mathrm{lr}/\mathrm{lr0}

    The window is documented in :mod:`optimizers.windows`. ``maximize`` negates :math:`v_t` as a whole, the
    decoupled weight-decay term included (as the reference); the numerator estimators see the un-negated values.

    Numerator estimators (per tensor; :math:`\hat g = \tilde g/d`, :math:`\beta_n`, ``cf = 4``; every
    estimate is finally smoothed, :math:`\alpha_t = 0.1\alpha_{t-1} + 0.9\,\alpha_{raw}`, except for 1):

    * 1: :math:`a = \|v\|`, :math:`\bar a = \mathrm{EMA}(a)`, :math:`b = \|v-\bar a\|+\epsilon`,
      :math:`\sigma = \sqrt{\mathrm{EMA}(b^2)}+\epsilon`, :math:`\alpha = \mathrm{lr0}\min(b, cf\,\sigma)/b`.
    * 2: :math:`o = \mathrm{EMA}(\mathrm{lr0}(w^2 + \hat g^2))`, :math:`\alpha_{raw} = \mathrm{mean}\min(o, \mathrm{lr0})`.
    * 3: :math:`\omega = \beta_n q` of the EMA of :math:`w^2`, :math:`l = \mathrm{lr0}/(1+\omega)`, :math:`x = w\hat g`,
      :math:`h = \mathrm{sign}(x)\min(|x|+\epsilon, cf\,\mathrm{EMA}(|x|+\epsilon))`, :math:`o` = leaky sum of
      :math:`l h`, :math:`\alpha_{raw} = \mathrm{mean}\,\mathrm{clip}(|o|, T(d)\,l, l(1+\omega)^2)`,
      :math:`T(u) = \bar u(1-\bar u^2)^2`, :math:`\bar u = \min(u, 1)`.
    * 4: as 3 with canonical filters: :math:`\omega = \mathrm{EMA}(w^2)`, :math:`b = |x - \mathrm{EMA}(x)|+\epsilon`,
      :math:`h = (x/b)\min(b, \sqrt{\mathrm{EMA}(b^2)}+\epsilon)`.

    Learning rate and LR schedulers: each param group holds a live ``lr`` (initially ``lr_cfg[1]``) that
    schedulers change; the step is multiplied by :math:`\kappa` = ``lr / lr_init``, like the window, while the
    estimators keep ``lr_init``. Every estimator is homogeneous of degree 1 in lr0, so a constant ``lr`` gives
    the trajectory of ``lr_cfg[1] = lr`` (up to rounding), and ``lr = 0`` freezes the parameters.

    State per parameter: ``step`` (a float), ``g_sm`` and ``g_var`` (the filters' states :math:`s`, i.e.
    :math:`\beta q - \gamma\eta x`), and for the estimators ``lr_num`` (0-dim), ``hcmag``/``hcvar`` (1),
    ``pc`` (2-4), ``wsq``/``pc_mag`` (3, 4), ``pc_var`` (4).

    Reductions (float64, exact up to rounding): Adam(lr, (b1, b2), eps) = ``lr_cfg=(True, lr, 0)``,
    ``beta_cfg=(., b2, b1, 0, 0, True)``, ``eps_cfg=(eps, False)``; AdamW(wd) additionally
    ``wd_cfg=(wd/(1-b1), 1)``; SGD(lr, momentum mu) = ``lr_cfg=(False, lr/(1-mu), 0)``,
    ``beta_cfg=(., ., mu, 0, 0, False)``; Nesterov as SGD with ``gamma_i = mu/(1+mu)``.

    Args:
        params: parameters or param groups (each group may carry its own ``*_cfg`` tuples).
        lr_cfg: ``(aoptlr, lr_init, num_lrc)``.
        beta_cfg: ``(beta_n, beta_a, beta_i, gamma_i, eta_i, debias)``.
        rc_cfg: ``(rcm, inseq, rc_x, rc_n, rc_m, tau, spe, cfact, rc_e)``, the window.
        wd_cfg: ``(weight_decay, wd_level)``.
        eps_cfg: ``(eps, repeat_eps)``.
        maximize: maximize the objective.
        foreach: ``None`` (default) runs the Adam-like configurations (aoptlr, ``num_lrc = 0``, ``gamma_i = 0``,
            ``repeat_eps`` off; float32/float64 on CPU) through torch's fused Adam kernel, equal to the other
            paths up to rounding, and the rest on the multi-tensor path on accelerators and the single-tensor
            path on CPU. ``True``/``False`` force the multi-tensor ``torch._foreach_*``/single-tensor path.
        fused: ``True`` runs every configuration without an estimator (``num_lrc = 0`` or aoptlr off) as one
            compiled kernel per tensor (``torch.compile``, see :mod:`optimizers._compiled`): one pass over memory,
            after a compile on the first step; needs a C++ compiler on CPU or Triton on CUDA. The estimators
            (``num_lrc`` 1 to 4) keep the paths above. Equal to them up to rounding.
    """

    hyperparameters = (_LIVE_LR, _MAXIMIZE)
    switches = _SWITCHES
    compiled_fused = True

    def __init__(
        self,
        params: ParamsT,
        *,
        lr_cfg: Sequence[Any] = (True, 1e-3, 0),
        beta_cfg: Sequence[Any] = (0.9999, 0.999, 0.9, 0, 0, True),
        rc_cfg: Sequence[Any] = (0, 0, 0, 2, 1, 1000, 1, 1, 0),
        wd_cfg: Sequence[Any] = (0, 0),
        eps_cfg: Sequence[Any] = (1e-10, True),
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            _reject_unknown(type(self).__name__, kwargs)
        cfgs = _validate_cfgs(
            dict(lr_cfg=lr_cfg, beta_cfg=beta_cfg, rc_cfg=rc_cfg, wd_cfg=wd_cfg, eps_cfg=eps_cfg), type(self).__name__
        )
        defaults = dict(**cfgs, lr=cfgs["lr_cfg"][1], maximize=maximize, foreach=foreach, fused=bool(fused))
        super().__init__(params, defaults)

    @classmethod
    def _keyword_names(cls) -> list[str]:
        return list(_KEYWORDS)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Validate the group's configuration tuples (and their constraints) before the group is added.

        A group's live ``lr`` starts at its own ``lr_cfg[1]`` (or the constructor's); a group given ``lr`` but no
        ``lr_cfg`` keeps the inherited ``lr_init`` and is scaled by ``lr / lr_init``, as a scheduler would do.
        """
        owner = f"{type(self).__name__} param group"
        given = {k: param_group[k] for k in CFG_FIELDS if k in param_group}
        param_group.update(_validate_cfgs(given, owner))
        if "lr" not in param_group and "lr_cfg" in param_group:
            param_group["lr"] = param_group["lr_cfg"][1]
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", False)
            group.setdefault("lr", group["lr_cfg"][1])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One AutoSGM step for every parameter with a gradient; returns the closure's loss (if given)."""
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            params, grads = self._params_with_grad(group)
            if not params:
                continue
            states = []
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = 0.0
                    state["g_sm"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                states.append(state)
            cfg = _group_cfg(group)
            if group["fused"] and not cfg.estimator:
                _compiled_autosgm(params, grads, states, cfg)
            elif group["foreach"] is None and _fused_applies(cfg, params):
                _fused_autosgm(params, grads, states, cfg)
            elif self._use_foreach(group, params):
                _multi_tensor_autosgm(params, grads, states, cfg)
            else:
                _single_tensor_autosgm(params, grads, states, cfg)
        return loss
