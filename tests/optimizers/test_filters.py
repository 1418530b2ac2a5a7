"""The momentum-filter view: its predicted gain must be the gain the optimizer really applies to a sinusoid."""

from __future__ import annotations

import math

import pytest
import torch

from optimizers import FSGDM, GSGD, AutoSGM
from optimizers.filters import MomentumFilter, ema_filter, fsgdm_stage_filters, momentum_filter, sgd_filter
from optimizers.registry import get_optimizer


def measured_gain(make_opt, omega: float, warmup: int, steps: int, lr: float) -> float:
    """Feed g_t = cos(omega t) to a one-parameter optimizer; the steady-state amplitude of -dp/lr is |H(omega)|."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    updates = []
    for t in range(warmup + steps):
        p.grad = torch.tensor([math.cos(omega * t)], dtype=torch.float64)
        before = p.item()
        opt.step()
        if t >= warmup:
            updates.append((before - p.item()) / lr)
    # amplitude of a sinusoid from its samples: sqrt(2 * mean square) (exact over whole periods, close otherwise)
    return math.sqrt(2 * sum(u * u for u in updates) / len(updates))


# whole periods in 1920 steps; not exactly pi, where the samples are all +-A and the RMS rule below does not hold
OMEGAS = [2 * math.pi / 64, 2 * math.pi / 8, 2 * math.pi / 3, 2 * math.pi * 0.45]


@pytest.mark.parametrize("omega", OMEGAS)
@pytest.mark.parametrize("momentum,dampening,nesterov", [(0.9, 0.0, False), (0.5, 0.5, False), (0.8, 0.0, True)])
def test_sgd_filter_matches_torch_sgd(omega: float, momentum: float, dampening: float, nesterov: bool) -> None:
    f = sgd_filter(momentum, dampening, nesterov)
    gain = measured_gain(
        lambda ps: torch.optim.SGD(ps, lr=1.0, momentum=momentum, dampening=dampening, nesterov=nesterov),
        omega,
        400,
        1920,
        1.0,
    )
    assert gain == pytest.approx(f.magnitude(torch.tensor([omega])).item(), rel=2e-2)


@pytest.mark.parametrize("omega", OMEGAS)
def test_fsgdm_stage_filter_matches_the_optimizer(omega: float) -> None:
    # n_stages=1, sigma=2000: calls 1..1999 have u = 0, calls 2000..3999 u = 1/(1+c): measure inside the second.
    cfg = dict(lr=1.0, weight_decay=0.0, c_scaling=0.25, v_coefficient=0.7, n_stages=1, sigma=2000)
    f = momentum_filter("fsgdm", get_optimizer("fsgdm").validate(cfg), step=2500)
    assert f.pole == pytest.approx(1 / 1.25) and f.gain == 0.7
    gain = measured_gain(lambda ps: FSGDM(ps, **cfg), omega, 2100, 1920, 1.0)
    assert gain == pytest.approx(f.magnitude(torch.tensor([omega])).item(), rel=2e-2)


@pytest.mark.parametrize("omega", OMEGAS)
def test_gsgd_filter_with_nesterov_matches_the_optimizer(omega: float) -> None:
    cfg = get_optimizer("gsgd").validate(dict(lr=0.1, momentum=0.8, nesterov=0.5))
    f = momentum_filter("gsgd", cfg)
    gain = measured_gain(lambda ps: GSGD(ps, lr=0.1, momentum=0.8, nesterov=0.5), omega, 400, 1920, 0.1)
    assert gain == pytest.approx(f.magnitude(torch.tensor([omega])).item(), rel=2e-2)


@pytest.mark.parametrize("omega", OMEGAS)
def test_autosgm_smoothing_filter_matches_the_optimizer(omega: float) -> None:
    # a linear AutoSGM: fixed numerator and denominator, no window, no debias
    beta_cfg = (0.9999, 0.999, 0.9, 0.5, 0.0, False)

    def make(ps):
        return AutoSGM(
            ps,
            lr_cfg=(False, 1.0, 0),
            beta_cfg=beta_cfg,
            rc_cfg=(0, 0, 0, 2, 1, 1, 10, 1, 0),
            wd_cfg=(0, 0),
            eps_cfg=(1e-10, False),
        )

    f = momentum_filter("autosgm", dict(beta_i=0.9, gamma_i=0.5, eta_i=0.0))
    assert f.gain == pytest.approx(0.1 / 0.5) and f.zero == 0.5
    gain = measured_gain(make, omega, 400, 1920, 1.0)
    assert gain == pytest.approx(f.magnitude(torch.tensor([omega])).item(), rel=2e-2)


def test_gains_at_the_band_edges() -> None:
    heavy_ball = sgd_filter(0.9)
    assert heavy_ball.dc_gain == pytest.approx(10.0) and heavy_ball.nyquist_gain == pytest.approx(1 / 1.9)
    assert ema_filter(0.9).dc_gain == pytest.approx(1.0)  # EMA-style momentum is purely attenuating
    assert MomentumFilter(pole=1.0, gain=1.0).dc_gain == math.inf


def test_fsgdm_terminal_dc_gain_is_the_zone_constant() -> None:
    """At the end of training u = 1/(1+c), so the DC gain is K = v(1 + 1/c): the README's 30.992 rule."""
    cfg = get_optimizer("fsgdm").validate(dict(c_scaling=0.033, v_coefficient=1.0, n_stages=300, sigma=117000))
    stages = fsgdm_stage_filters(cfg)
    assert len(stages) == 300 and stages[0]["filter"].pole == 0.0
    poles = [s["filter"].pole for s in stages]
    assert poles == sorted(poles)
    end = momentum_filter("fsgdm", cfg, step=117000)
    assert end.dc_gain == pytest.approx(1.0 * (1 + 1 / 0.033), rel=1e-12)
    assert stages[-1]["filter"].dc_gain == pytest.approx(end.dc_gain, rel=0.01)


def test_response_is_plain_data_on_a_grid() -> None:
    r = ema_filter(0.5).response(5)
    assert r["omega"][0] == 0.0 and r["omega"][-1] == pytest.approx(math.pi)
    assert r["magnitude"][0] == pytest.approx(1.0) and r["magnitude"][-1] == pytest.approx(0.5 / 1.5)
    with pytest.raises(ValueError, match="n must be"):
        ema_filter(0.5).response(1)


def test_bad_requests_name_the_argument() -> None:
    with pytest.raises(ValueError, match="optimizer: no momentum filter for 'rmsprop'"):
        momentum_filter("rmsprop", {})
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        momentum_filter("sgd", {"momentum": 0.9}, step=0)


@pytest.mark.parametrize("nesterov", [False, True])
def test_lowrank_heavy_ball_has_torch_sgds_filter(nesterov: bool) -> None:
    """Geometric heavy-ball filters the tangent-space gradient exactly as torch's heavy-ball filters a gradient."""
    cfg = get_optimizer("lowrank-hb").validate({"momentum": 0.8, "nesterov": nesterov})
    assert momentum_filter("lowrank-hb", cfg) == sgd_filter(0.8, 0.0, nesterov)
