"""ZoneSampler as an Optuna sampler (storage, processes, enqueue, seeds, failed and pruned trials, dimensions,
trials asked together) and as a search for the zone: after 20 trials its outline recall beats TPE's by a clear
margin on fixed seeds."""

from __future__ import annotations

import math
import multiprocessing

import numpy as np
import optuna
import pytest

from zone_explorer.analysis import TrialTable, model_zone
from zone_explorer.analysis.landscapes import BOUNDS, LANDSCAPES, location
from zone_explorer.search import ZoneSampler

optuna.logging.set_verbosity(optuna.logging.ERROR)


def bump(trial: optuna.Trial) -> float:
    c = trial.suggest_float("c_scaling", *BOUNDS["c_scaling"], log=True)
    v = trial.suggest_float("v_coefficient", *BOUNDS["v_coefficient"], log=True)
    return float(LANDSCAPES["bump"].metric(np.array(c), np.array(v), 1.5))


def params_of(study: optuna.Study) -> list[dict]:
    return [t.params for t in study.trials]


class TestOptunaSampler:
    def test_seeds_give_repeatable_proposals(self):
        runs = []
        for _ in range(2):
            study = optuna.create_study(direction="maximize", sampler=ZoneSampler(seed=3, n_startup_trials=5))
            study.optimize(bump, n_trials=12)
            runs.append(params_of(study))
        assert runs[0] == runs[1]
        other = optuna.create_study(direction="maximize", sampler=ZoneSampler(seed=4, n_startup_trials=5))
        other.optimize(bump, n_trials=12)
        assert params_of(other) != runs[0]

    @pytest.mark.parametrize("spread", [0.0, 0.05])
    def test_trials_that_store_their_seeds_enter_with_their_noise(self, spread):
        def run(seeds_of):
            study = optuna.create_study(direction="maximize", sampler=ZoneSampler(seed=2, n_startup_trials=6))
            for _ in range(9):
                trial = study.ask()
                value = bump(trial)
                trial.set_user_attr("seed_values", seeds_of(value))
                study.tell(trial, value)
            return params_of(study)

        one_seed = run(lambda value: [value])
        two_seeds = run(lambda value: [value - spread, value + spread])
        assert one_seed[:6] == two_seeds[:6]  # the Sobol start
        # no spread is no noise, as with one seed; a spread makes the model noisier and moves the next proposals
        assert (one_seed[6:] == two_seeds[6:]) == (spread == 0.0)

    def test_in_an_rdb_study_with_enqueued_failed_and_pruned_trials(self, tmp_path):
        study = optuna.create_study(
            storage=f"sqlite:///{tmp_path / 's.db'}",
            direction="maximize",
            sampler=ZoneSampler(seed=0, n_startup_trials=4),
        )
        study.enqueue_trial({"c_scaling": 0.1, "v_coefficient": 3.0})

        def objective(trial: optuna.Trial) -> float:
            value = bump(trial)
            if trial.number % 5 == 3:
                raise optuna.TrialPruned()
            if trial.number % 5 == 4:
                raise RuntimeError("diverged")
            return value

        study.optimize(objective, n_trials=20, catch=(RuntimeError,))
        assert study.trials[0].params == {"c_scaling": 0.1, "v_coefficient": 3.0}
        states = [t.state for t in study.trials]
        assert states.count(optuna.trial.TrialState.FAIL) == 4 and states.count(optuna.trial.TrialState.PRUNED) == 4
        for t in study.trials:
            assert 0.005 <= t.params["c_scaling"] <= 2.0 and 0.05 <= t.params["v_coefficient"] <= 50.0
        assert len({tuple(t.params.values()) for t in study.trials}) == 20

    def test_int_step_and_categorical_dimensions(self):
        def objective(trial: optuna.Trial) -> float:
            n = trial.suggest_int("n", 2, 64, log=True)
            s = trial.suggest_float("s", 0.0, 1.0, step=0.25)
            kind = trial.suggest_categorical("kind", ["a", "b"])
            return -abs(math.log2(n) - 3) - abs(s - 0.5) - (kind == "b")

        study = optuna.create_study(direction="maximize", sampler=ZoneSampler(seed=1, n_startup_trials=4))
        study.optimize(objective, n_trials=16)
        for t in study.trials:
            assert isinstance(t.params["n"], int) and 2 <= t.params["n"] <= 64
            assert t.params["s"] in (0.0, 0.25, 0.5, 0.75, 1.0) and t.params["kind"] in ("a", "b")
        assert {t.params["kind"] for t in study.trials} == {"a", "b"}  # sampled independently

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"delta": -1.0}, "^delta must be"),
            ({"n_startup_trials": 0}, "^n_startup_trials must be"),
            ({"n_candidates": 10**7}, "^n_candidates must be"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            ZoneSampler(**kwargs)


def _worker(url: str, n: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="shared", storage=url, sampler=ZoneSampler(seed=0, n_startup_trials=4))
    study.optimize(bump, n_trials=n)


@pytest.mark.parametrize("rep", range(3))
def test_trials_asked_together_spread_out(rep):
    # four workers ask at once after 12 noisy results on the K bump: each sees the others' running trials and keeps
    # away from them. Ignoring them, the four proposals fell within 0.004-0.04 of one another (unit box, 10
    # repetitions), on the same stretch of the outline; kept away, 0.42-0.90. (Conditioning on them at the model's
    # mean instead, a kriging believer, gave 0.01-0.44, and about the same trials to target with four workers:
    # benchmarks/zone_search.py --workers 4.)
    ls, dists = LANDSCAPES["bump"], {k: optuna.distributions.FloatDistribution(*b, log=True) for k, b in BOUNDS.items()}
    p, rng = location(ls, rep), np.random.default_rng(rep)
    study = optuna.create_study(direction="maximize", sampler=ZoneSampler(seed=rep))
    for _ in range(12):
        trial = study.ask(dists)
        c, v = np.array(trial.params["c_scaling"]), np.array(trial.params["v_coefficient"])
        study.tell(trial, float(ls.metric(c, v, p)) + float(rng.normal(0.0, 0.003)))
    batch = [study.ask(dists) for _ in range(4)]  # all four still running
    lo, hi = (np.log10([BOUNDS[name][i] for name in sorted(BOUNDS)]) for i in (0, 1))
    u = (np.log10([[t.params[name] for name in sorted(BOUNDS)] for t in batch]) - lo) / (hi - lo)
    gaps = [float(np.linalg.norm(u[i] - u[j])) for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) >= 0.2, gaps


def test_two_worker_processes_share_one_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(study_name="shared", storage=url, direction="maximize")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(url, 10)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    trials = optuna.load_study(study_name="shared", storage=url).trials
    assert len(trials) == 20 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # the two processes share the Sobol start: the same point can come up once in each, never more
    points = [tuple(t.params.values()) for t in trials]
    assert max(points.count(p) for p in points) <= 2


def outline_scores(sampler: optuna.samplers.BaseSampler, landscape: str, rep: int, n: int) -> tuple[float, float]:
    """(recall, precision) of the model zone's P >= 0.5 outline after ``n`` trials, against the true zone."""
    ls = LANDSCAPES[landscape]
    p = location(ls, rep)
    rng = np.random.default_rng(rep)

    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_float("c_scaling", *BOUNDS["c_scaling"], log=True)
        v = trial.suggest_float("v_coefficient", *BOUNDS["v_coefficient"], log=True)
        y = float(ls.metric(np.array(c), np.array(v), p)) + float(rng.normal(0, 0.003))
        if not math.isfinite(y):
            raise RuntimeError("diverged")
        return y

    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=n, catch=(RuntimeError,))
    table = TrialTable.from_study(study, failed_as_diverged=True)
    z = model_zone(table, "c_scaling", "v_coefficient", bounds=BOUNDS, seed=rep)
    m = z.zone["membership"]
    c, v = np.meshgrid(m["x"], m["y"])
    f = np.nan_to_num(ls.metric(c, v, p), nan=0.1)
    true = f >= f.max() - 0.01
    found = np.array(m["probability"], dtype=float) >= 0.5
    return (found & true).sum() / true.sum(), (found & true).sum() / max(1, found.sum())


def test_after_20_trials_the_outline_recall_beats_tpe():
    # the lopsided band with a divergence cliff: TPE spends its trials past the cliff (it learns nothing from
    # failed trials) and near the peak; the zone sampler follows the band's edges
    zone, tpe = [], []
    for rep in range(8):
        zone.append(outline_scores(ZoneSampler(seed=rep), "lopsided", rep, 20))
        tpe_sampler = optuna.samplers.TPESampler(seed=rep, n_startup_trials=10, multivariate=True, constant_liar=True)
        tpe.append(outline_scores(tpe_sampler, "lopsided", rep, 20))
    zone_recall, tpe_recall = np.mean([r for r, _ in zone]), np.mean([r for r, _ in tpe])
    assert zone_recall >= tpe_recall + 0.1, (zone_recall, tpe_recall)
    assert np.mean([p for _, p in zone]) >= 0.9
