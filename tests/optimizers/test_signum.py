"""Signum and tied-beta Adam: the update equations their docstrings state, written out here independently."""

from __future__ import annotations

import pytest
import torch

from optimizers import GSGD, Signum
from optimizers.registry import get_optimizer


def _grads(n: int, shape=(4, 3)) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n)]


@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.9, 0.0), (0.7, 0.05), (0.0, 0.01)])
def test_signum_follows_its_equations(momentum: float, weight_decay: float) -> None:
    """d = g + wd*p; m_1 = d_1, m_t = beta m + (1-beta) d; p -= lr sign(m) (momentum 0: sign(d), signSGD)."""
    lr = 0.05
    start = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    p = start.clone().requires_grad_()
    opt = Signum([p], lr=lr, momentum=momentum, weight_decay=weight_decay)
    q, m = start.clone(), None
    for g in _grads(6):
        p.grad = g.clone()
        opt.step()
        d = g + weight_decay * q
        m = d if m is None or momentum == 0 else momentum * m + (1 - momentum) * d
        q = q - lr * torch.sign(m)
        torch.testing.assert_close(p.detach(), q, rtol=0, atol=1e-15)


def test_signum_is_gsgd_with_the_sign_map_and_their_states_interchange() -> None:
    p, r = (torch.ones(5, dtype=torch.float64, requires_grad=True) for _ in range(2))
    a, b = Signum([p], lr=0.1, momentum=0.8), GSGD([r], lr=0.1, momentum=0.8, Dphi_map="sign")
    for g in _grads(4, (5,)):
        p.grad, r.grad = g.clone(), g.clone()
        a.step(), b.step()
    torch.testing.assert_close(p, r, rtol=0, atol=0)
    GSGD([torch.ones(5, requires_grad=True)], lr=0.1, Dphi_map="sign").load_state_dict(a.state_dict())


def test_signum_fixes_gsgds_other_axes() -> None:
    with pytest.raises(TypeError, match="did you mean 'momentum'"):
        Signum([torch.zeros(2, requires_grad=True)], momentun=0.9)
    with pytest.raises(TypeError, match="Dphi_map"):
        Signum([torch.zeros(2, requires_grad=True)], Dphi_map="identity")
    opt = Signum([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="nesterov is fixed by Signum"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "nesterov": 1.0})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match=r"Signum lr must be a float in \(0, inf\)"):
        Signum([torch.zeros(2, requires_grad=True)], lr=0.0)


def test_adam_tied_is_torch_adam_with_one_beta() -> None:
    spec = get_optimizer("adam-tied")
    assert [hp.name for hp in spec.hyperparameters] == ["lr", "beta", "eps", "weight_decay"]
    opt = spec.create([torch.zeros(2, requires_grad=True)], {"lr": 0.01, "beta": 0.97})
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["betas"] == (0.97, 0.97)
    with pytest.raises(ValueError, match=r"beta must be a float in \[0, 1\)"):
        spec.create([torch.zeros(2, requires_grad=True)], {"beta": 1.0})
