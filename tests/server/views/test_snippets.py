"""The copy-ready constructor calls run as printed and build the optimizer with the configuration's values."""

from __future__ import annotations

import pytest
import torch

from optimizers.registry import REGISTRY
from server.views.snippets import constructor_call


@pytest.mark.parametrize("name", list(REGISTRY))
def test_the_call_builds_the_optimizer(name: str) -> None:
    spec = REGISTRY[name]
    config = spec.validate({})
    lr_name = "lr_init" if name == "autosgm" else "lr"
    config[lr_name] = 0.0123456
    code = constructor_call(name, config)
    namespace = {"model": torch.nn.Linear(3, 2)}
    exec(code, namespace)  # our own generated code
    opt = namespace["optimizer"]
    assert isinstance(opt, spec.cls)
    assert "0.0123456" in code


def test_fsgdm_call_reads_like_the_readme() -> None:
    code = constructor_call(
        "fsgdm",
        {
            "lr": 0.01,
            "c_scaling": 0.033,
            "v_coefficient": 0.95,
            "weight_decay": 5e-4,
            "n_stages": 10,
            "sigma": 460,
            "unknown": 1,
        },
    )
    assert code.startswith("from optimizers.fsgdm import FSGDM\n\noptimizer = FSGDM(")
    assert "c_scaling=0.033" in code and "unknown" not in code and "sigma=460" in code


def test_betas_are_a_tuple_for_adam_and_lion() -> None:
    assert "betas=(0.8, 0.95)" in constructor_call("adam", {"lr": 1e-3, "beta1": 0.8, "beta2": 0.95})
    assert "betas=(0.9, 0.99)" in constructor_call("lion", {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99})
