"""Built-in tasks (real training, on the CPU) and the task registry, entry points included."""

from __future__ import annotations

import json
import math
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import zone_explorer.tasks as tasks
from zone_explorer.tasks import (
    NoisyQuadraticTask,
    Task,
    TaskRun,
    base,
    get_task,
    load_entry_point_tasks,
    register_task,
    task_load_errors,
    task_names,
)
from zone_explorer.tasks.charlm_pydoc import UNKNOWN, VOCAB, VOCAB_SIZE, decode, encode
from zone_explorer.tasks.digits_cnn import DigitsCNNTask


@dataclass(frozen=True)
class Case:
    name: str
    metric: str
    direction: str
    lr: float  # a sensible SGD(momentum=0.9) learning rate
    min_gain: float  # improvement of the metric after 2 epochs at that lr, in the task's direction


CASES = [
    Case("digits-cnn", "val_accuracy", "maximize", lr=0.05, min_gain=0.4),  # ~0.1 -> ~0.85
    Case("digits-lowrank-mlp", "val_accuracy", "maximize", lr=0.05, min_gain=0.3),  # ~0.1 -> ~0.56 (naive momentum)
    Case("charlm-pydoc", "val_loss", "minimize", lr=1.0, min_gain=1.5),  # ~4.57 (ln 97) -> ~1.75
    Case("tabular-mlp", "val_logloss", "minimize", lr=0.01, min_gain=0.1),  # ~0.69 -> ~0.45
    Case("noisy-quadratic", "final_loss", "minimize", lr=0.01, min_gain=2.0),  # ~7 -> ~1
]
IDS = [c.name for c in CASES]
DESCRIBE_KEYS = {
    "metric_range",
    "name",
    "description",
    "metric",
    "direction",
    "default_epochs",
    "steps_per_epoch",
    "dataset",
    "model",
    "source",
}
MAX_DETERMINISM_STEPS = 15


def _train(
    run: TaskRun, epochs: int, lr: float, momentum: float = 0.9, max_steps: int | None = None
) -> tuple[list[float], list[float]]:
    """The engine's loop; returns (training losses, metric after each epoch)."""
    opt = torch.optim.SGD(run.model.parameters(), lr=lr, momentum=momentum)
    losses, values = [], []
    for epoch in range(epochs):
        for batch in run.batches(epoch):
            if max_steps is not None and len(losses) >= max_steps:
                break
            opt.zero_grad(set_to_none=True)
            loss = run.loss(batch)
            assert torch.isfinite(loss), f"diverged at step {len(losses)}"
            loss.backward()
            opt.step()
            losses.append(loss.item())
        values.append(run.evaluate())
    return losses, values


def _better(direction: str, after: float, before: float) -> float:
    return after - before if direction == "maximize" else before - after


# ---- every built-in task ---------------------------------------------------------------------------------


def test_builtins_registered() -> None:
    assert set(c.name for c in CASES) <= set(task_names())
    assert set(tasks.BUILTIN_TASKS) == set(c.name for c in CASES)
    assert task_names() == sorted(task_names())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_describe(case: Case) -> None:
    task = get_task(case.name)
    assert isinstance(task, Task)
    d = task.describe()
    assert set(d) == DESCRIBE_KEYS
    assert json.loads(json.dumps(d)) == d
    assert d["name"] == task.name == case.name
    assert d["metric"] == case.metric and d["direction"] == case.direction
    assert d["source"] == "builtin"
    assert isinstance(d["default_epochs"], int) and d["default_epochs"] >= 1
    assert isinstance(d["steps_per_epoch"], int) and d["steps_per_epoch"] == task.steps_per_epoch() >= 1
    for key in ("description", "dataset", "model"):
        assert isinstance(d[key], str) and d[key].strip() and "\n" not in d[key], key


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_steps_per_epoch_matches_batches(case: Case) -> None:
    task = get_task(case.name)
    run = task.setup(0)
    assert isinstance(run, TaskRun)
    assert isinstance(run.model, torch.nn.Module) and run.model.training
    assert run.steps_per_epoch == task.steps_per_epoch()
    for epoch in (0, 1):
        assert len(list(run.batches(epoch))) == task.steps_per_epoch()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_seed_same_run(case: Case) -> None:
    task = get_task(case.name)
    a, b = task.setup(7), task.setup(7)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    losses_a, values_a = _train(a, 2, case.lr, max_steps=MAX_DETERMINISM_STEPS)
    losses_b, values_b = _train(b, 2, case.lr, max_steps=MAX_DETERMINISM_STEPS)
    assert len(losses_a) == min(MAX_DETERMINISM_STEPS, task.steps_per_epoch() * 2)
    assert losses_a == losses_b
    assert values_a == values_b
    assert len(set(losses_a)) > 1  # the loss actually moved


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batches_depend_on_seed_and_epoch(case: Case) -> None:
    task = get_task(case.name)
    run0, run0_again, run1 = task.setup(0), task.setup(0), task.setup(1)

    def first(run: TaskRun, epoch: int) -> torch.Tensor:
        batch = next(iter(run.batches(epoch)))
        return batch[0] if isinstance(batch, tuple) else batch

    assert torch.equal(first(run0, 0), first(run0_again, 0))
    assert torch.equal(first(run0, 3), first(run0_again, 3))
    assert not torch.equal(first(run0, 0), first(run0, 1))
    assert not torch.equal(first(run0, 0), first(run1, 0))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_different_seed_different_init(case: Case) -> None:
    task = get_task(case.name)
    p0 = torch.cat([p.detach().flatten() for p in task.setup(0).model.parameters()])
    p1 = torch.cat([p.detach().flatten() for p in task.setup(1).model.parameters()])
    assert p0.shape == p1.shape
    assert not torch.equal(p0, p1)
    assert torch.isfinite(p0).all() and p0.abs().sum() > 0  # materialised, not left uninitialised


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_parameter_tensor_is_initialised_from_the_seed(case: Case) -> None:
    """Each tensor (biases included) is drawn from the seed's generator within PyTorch's default bounds."""
    task = get_task(case.name)
    m0, m0_again, m1 = (task.setup(s).model for s in (0, 0, 1))
    bounds = {}
    for module_name, module in m0.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            bounds[prefix + "weight"] = bounds[prefix + "bias"] = 1 / module.weight[0].numel() ** 0.5
        elif isinstance(module, torch.nn.GRU):
            bounds.update({prefix + n: 1 / module.hidden_size**0.5 for n, _ in module.named_parameters()})
    for (name, p0), p0_again, p1 in zip(m0.named_parameters(), m0_again.parameters(), m1.parameters(), strict=True):
        p0 = p0.detach()
        assert torch.equal(p0, p0_again), name
        assert not torch.equal(p0, p1), name
        if name in bounds:
            assert float(p0.abs().max()) <= bounds[name], name
            if p0.numel() >= 32:
                assert float(p0.std()) > 0.4 * bounds[name], name  # spread like U(-b, b), not zeros


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_no_global_rng_side_effects(case: Case) -> None:
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    task = get_task(case.name)
    run = task.setup(5)
    _train(run, 1, case.lr, max_steps=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loss_and_evaluate_contract(case: Case) -> None:
    run = get_task(case.name).setup(0)
    batch = next(iter(run.batches(0)))
    loss = run.loss(batch)
    assert loss.dim() == 0 and loss.requires_grad and torch.isfinite(loss)
    value = run.evaluate()
    assert isinstance(value, float) and math.isfinite(value)
    assert run.model.training, "evaluate() must put the model back into train mode"
    assert all(p.grad is None for p in run.model.parameters()), "evaluate() must not make gradients"
    assert run.evaluate() == value
    if case.metric.endswith("accuracy"):
        assert 0.0 <= value <= 1.0
    else:
        assert value > 0.0
    low, high = get_task(case.name).metric_range  # the declared range holds what the task measures
    assert low <= value <= high
    assert get_task(case.name).describe()["metric_range"] == (
        [0.0, 1.0] if case.metric.endswith("accuracy") else [0.0, None]
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_two_epochs_of_sgd_momentum_improve_the_metric(case: Case) -> None:
    run = get_task(case.name).setup(0)
    before = run.evaluate()
    _, values = _train(run, 2, case.lr)
    gain = _better(case.direction, values[-1], before)
    assert gain >= case.min_gain, (
        f"{case.name}: {case.metric} {before:.4f} -> {values} (gain {gain:.4f} < {case.min_gain})"
    )


@pytest.mark.slow
def test_digits_default_budget_reaches_90_percent() -> None:
    task = get_task("digits-cnn")
    for seed in (0, 1):
        _, values = _train(task.setup(seed), task.default_epochs, lr=0.05, momentum=0.9)
        assert len(values) == task.default_epochs
        assert values[-1] > 0.9, (seed, values)


def test_digits_validation_set_is_fixed_and_stratified() -> None:
    from zone_explorer.tasks.digits_cnn import _data

    x_train, y_train, x_val, y_val = _data()
    assert len(x_train) + len(x_val) == 1797 and len(x_val) == 360
    assert x_train.shape[1:] == (1, 8, 8) and 0.0 <= float(x_train.min()) and float(x_train.max()) <= 1.0
    assert torch.equal(get_task("digits-cnn").setup(0).x_val, get_task("digits-cnn").setup(9).x_val)
    counts = torch.bincount(y_val, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


def test_tabular_standardised_with_train_statistics() -> None:
    from zone_explorer.tasks.tabular_mlp import _data

    x_train, _, x_val, _ = _data()
    assert len(x_train) == 455 and len(x_val) == 114
    torch.testing.assert_close(x_train.mean(0), torch.zeros(30), atol=1e-5, rtol=0)
    torch.testing.assert_close(x_train.std(0, unbiased=False), torch.ones(30), atol=1e-4, rtol=0)
    assert x_val.mean(0).abs().max() > 1e-3  # validation rows were not used for the statistics


def test_charlm_vocabulary() -> None:
    assert VOCAB_SIZE == 97 and len(set(VOCAB)) == 96
    text = "def f(x):\n    return “x” — ok…ß"
    ids = encode(text)
    assert ids.dtype == torch.int64 and int(ids.max()) < VOCAB_SIZE and int(ids.min()) >= 0
    assert decode(ids) == 'def f(x):\n    return "x" - ok...\ufffd'
    assert int(ids[-1]) == UNKNOWN


def test_charlm_splits_are_contiguous_text() -> None:
    from pydoc_data.topics import topics

    from zone_explorer.tasks.charlm_pydoc import _data

    train, val = _data()
    whole = encode("\n".join(topics[k] for k in sorted(topics)))
    assert torch.equal(torch.cat([train, val]), whole)
    assert 0.08 < len(val) / len(whole) < 0.12
    assert (whole == UNKNOWN).float().mean() < 0.001


def test_noisy_quadratic_backward_gives_the_noisy_gradient() -> None:
    task = NoisyQuadraticTask(dim=20, condition=100.0, noise=0.5, steps=4)
    run = task.setup(3)
    h = task.curvatures()
    assert float(h[0]) == pytest.approx(1.0) and float(h[-1]) == pytest.approx(0.01)
    assert torch.all(h[1:] < h[:-1])
    x = run.model.x
    for xi in run.batches(0):
        x.grad = None
        run.loss(xi).backward()
        torch.testing.assert_close(x.grad, h * x.detach() + xi)
    assert run.evaluate() == pytest.approx(0.5 * float((h * x.detach() ** 2).sum()), rel=1e-6)


def test_noisy_quadratic_noise_variance_is_proportional_to_curvature() -> None:
    task = NoisyQuadraticTask(dim=8, condition=1e3, noise=2.0, steps=20000)
    xi = torch.stack(list(task.setup(0).batches(0)))
    ratio = xi.var(0) / (4.0 * task.curvatures())
    torch.testing.assert_close(ratio, torch.ones(8), atol=0.05, rtol=0)
    noiseless = NoisyQuadraticTask(dim=8, noise=0.0, steps=3)
    assert all(torch.count_nonzero(b) == 0 for b in noiseless.setup(0).batches(0))
    assert noiseless.describe()["name"] == "noisy-quadratic"
    with pytest.raises(ValueError):
        NoisyQuadraticTask(condition=0.5)


def test_noisy_quadratic_has_a_learning_rate_sweet_spot() -> None:
    """Too small a step leaves the flat directions unconverged, too large a one sits on a high noise floor."""
    task = get_task("noisy-quadratic")
    final = {lr: _train(task.setup(0), task.default_epochs, lr)[1][-1] for lr in (0.0003, 0.01, 0.3)}
    assert final[0.01] < final[0.0003] and final[0.01] < final[0.3], final


# ---- registry ------------------------------------------------------------------------------------------------


@pytest.fixture
def isolated_registry():
    """Run a test against a copy of the registry state and put the original back afterwards."""
    saved = (dict(base._REGISTRY), dict(base._LOAD_ERRORS), dict(base._LOADED_ENTRY_POINTS), base._ENTRY_POINTS_SCANNED)
    try:
        yield
    finally:
        base._REGISTRY.clear()
        base._REGISTRY.update(saved[0])
        base._LOAD_ERRORS.clear()
        base._LOAD_ERRORS.update(saved[1])
        base._LOADED_ENTRY_POINTS.clear()
        base._LOADED_ENTRY_POINTS.update(saved[2])
        base._ENTRY_POINTS_SCANNED = saved[3]


def test_unknown_task_error_suggests_the_closest_name() -> None:
    with pytest.raises(ValueError) as info:
        get_task("digit-cnn")
    message = str(info.value)
    assert message.startswith("task:")
    assert "did you mean 'digits-cnn'?" in message
    for name in ("charlm-pydoc", "digits-cnn", "noisy-quadratic", "tabular-mlp"):
        assert name in message
    assert info.value.field == "task" and info.value.suggestions == ["digits-cnn"]

    with pytest.raises(ValueError, match="did you mean 'tabular-mlp'"):
        get_task("Tabular-MLP")
    with pytest.raises(ValueError) as info:
        get_task("resnet50-imagenet")
    assert "did you mean" not in str(info.value) and "known tasks: charlm-pydoc, digits-cnn" in str(info.value)
    with pytest.raises(ValueError, match="^task: unknown task None; known tasks"):
        get_task(None)  # type: ignore[arg-type]


def test_duplicate_registration_is_refused(isolated_registry) -> None:
    builtin = get_task("digits-cnn")
    with pytest.raises(ValueError, match="'digits-cnn' is already registered"):
        register_task(DigitsCNNTask())
    assert get_task("digits-cnn") is builtin

    other = DigitsCNNTask(batch_size=64)
    assert register_task(other, replace=True) is other
    assert get_task("digits-cnn") is other and other.steps_per_epoch() == 23


def test_register_rejects_malformed_tasks(isolated_registry) -> None:
    with pytest.raises(TypeError):
        register_task(object())  # type: ignore[arg-type]
    bad = NoisyQuadraticTask(name="bad-direction")
    bad.direction = "up"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="direction"):
        register_task(bad)
    assert "bad-direction" not in task_names()
    for metric_range in ((1.0, 0.0), (0.0, math.nan), (0.0,), [0.0, 1.0], ("0", 1.0)):
        upside_down = NoisyQuadraticTask(name="bad-range")
        upside_down.metric_range = metric_range  # type: ignore[assignment]
        with pytest.raises(TypeError, match="metric_range"):
            register_task(upside_down)
    assert "bad-range" not in task_names()


DIST_NAME = "zt-demo-tasks"
MODULE = "zt_demo_tasks"


@pytest.fixture
def demo_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_registry):
    """A real installed distribution on sys.path whose entry points give two good tasks and three bad ones."""
    (tmp_path / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            from zone_explorer.tasks import NoisyQuadraticTask, Task

            class DemoTask(NoisyQuadraticTask):
                def __init__(self):
                    super().__init__(dim=5, steps=3, epochs=2, name="demo-quadratic")

            def make_task():
                return NoisyQuadraticTask(dim=3, steps=2, name="demo-factory")

            instance = NoisyQuadraticTask(dim=4, steps=2, name="demo-instance")

            class Clash(NoisyQuadraticTask):
                def __init__(self):
                    super().__init__(name="digits-cnn")

            NOT_A_TASK = 42

            def raises():
                raise RuntimeError("boom at construction")
            """
        )
    )
    info = tmp_path / f"{MODULE}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""
            [zone_explorer.tasks]
            demo-quadratic = {MODULE}:DemoTask
            demo-factory = {MODULE}:make_task
            demo-instance = {MODULE}:instance
            missing-module = zt_no_such_module:Task
            not-a-task = {MODULE}:NOT_A_TASK
            clash = {MODULE}:Clash
            raises = {MODULE}:raises

            [console_scripts]
            unrelated = {MODULE}:make_task
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates importlib's (and importlib.metadata's) caches
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    base._ENTRY_POINTS_SCANNED = False  # as in a fresh process: the next registry access scans
    yield
    sys.modules.pop(MODULE, None)


def test_entry_point_tasks_are_loaded_lazily(demo_distribution) -> None:
    names = task_names()  # first access: scans the entry points
    assert {"demo-quadratic", "demo-factory", "demo-instance"} <= set(names)
    assert set(tasks.BUILTIN_TASKS) <= set(names)

    demo = get_task("demo-quadratic")
    assert type(demo).__name__ == "DemoTask"
    d = demo.describe()
    assert d["source"] == DIST_NAME and d["steps_per_epoch"] == 3 and d["default_epochs"] == 2
    assert get_task("demo-factory").describe()["source"] == DIST_NAME
    assert get_task("demo-instance").describe()["source"] == DIST_NAME
    assert get_task("digits-cnn").describe()["source"] == "builtin"  # the clash did not replace the built-in

    losses, values = _train(demo.setup(0), demo.default_epochs, lr=0.1)
    assert len(losses) == 6 and len(values) == 2

    assert load_entry_point_tasks() == []  # a rescan does not load them twice
    assert task_names() == names


def test_broken_entry_points_are_recorded_not_raised(demo_distribution) -> None:
    errors = task_load_errors()
    assert {f"{DIST_NAME}:{n}" for n in ("missing-module", "not-a-task", "clash", "raises")} == {
        k for k in errors if k.startswith(DIST_NAME)
    }
    assert (
        "ModuleNotFoundError" in errors[f"{DIST_NAME}:missing-module"]
        and "zt_no_such_module" in errors[f"{DIST_NAME}:missing-module"]
    )
    assert "42" in errors[f"{DIST_NAME}:not-a-task"]
    assert "'digits-cnn' is already registered" in errors[f"{DIST_NAME}:clash"]
    assert "boom at construction" in errors[f"{DIST_NAME}:raises"]
    assert "demo-quadratic" in task_names()  # the good ones still loaded
    with pytest.raises(ValueError, match="did you mean 'demo-quadratic'"):
        get_task("demo-quadratik")
