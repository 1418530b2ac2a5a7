"""Geometric vs naive momentum for low-rank training on digits (LOWRANK.md section 4, small reproduction).

The ``digits-lowrank-mlp`` task (sklearn digits, fixed stratified 80/20 split): an MLP 64-256-256-10 whose two
hidden layers are :class:`optimizers.lowrank.LowRankLinear` of fixed rank 16 (theta = 0, r_max = 16), initialised
from the top-16 SVD of a Kaiming-uniform weight; batch 64, beta = 0.9. Arms, each over a learning-rate sweep and
several seeds:

- ``full-rank``: the same MLP with dense layers, torch SGD-momentum (reference; 4.4x the parameters);
- ``naive``: torch SGD-momentum on the factors U, S, V as plain tensors (equal parameter budget);
- ``geometric``: :class:`optimizers.lowrank.LowRankHeavyBall` (equal budget);
- ``no-rotation``: the geometric method without the momentum's rotation into the new singular basis
  (B <- B_hat[:r, :r] instead of P1^T B_hat Q1), the ablation of LOWRANK.md section 4.

Then a rank-adaptive geometric run (theta > 0, start at rank 32 with r_max = 64) reports the final ranks and the
compression 1 - sum (n + m + r) r / sum n m over the two hidden layers.

Two learning-rate ranges per arm, over the swept rates: where no seed's loss became NaN, and where every seed
*converged*: its last epoch's mean training loss is below 0.1 (ln 10 = 2.3 at the start).

    python benchmarks/lowrank.py [--epochs 40] [--seeds 3] [--lrs 0.01 0.03 0.1 0.3 1.0]
    python benchmarks/lowrank.py --report      # the tables and the picture again, from the saved JSON

It prints a table and writes ``benchmarks/data/lowrank_digits.json`` and the picture
``benchmarks/data/lowrank_digits.svg`` (loss curves at one rate; final accuracy against the rate). ~5 min of one
core with the defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

from optimizers.lowrank import LowRankHeavyBall, LowRankLinear, lowrank_layers, naive_factor_heavy_ball
from optimizers.lowrank import _augment as augment
from optimizers.lowrank import _retract as retract
from zone_explorer.tasks.base import build_module, generator
from zone_explorer.tasks.digits_lowrank_mlp import DigitsLowRankMLPTask

DATA = Path(__file__).resolve().parent / "data"
ARMS = ("full-rank", "naive", "geometric", "no-rotation")
COLOURS = {"full-rank": "#777777", "naive": "#d62728", "geometric": "#1f77b4", "no-rotation": "#2ca02c"}
CONVERGED_LOSS = 0.1
MOMENTUM = 0.9
RANK = 16


class NoRotationHeavyBall(LowRankHeavyBall):
    """The ablation: the momentum keeps its augmented-basis coordinates, cut to the new rank, without P1^T . Q1."""

    def _layer_step(self, group: dict[str, Any], layer: LowRankLinear) -> None:
        lr, beta, theta = float(group["lr"]), float(group["momentum"]), float(group["theta"])
        state = self._layer_state(layer, ["B"])
        aug = augment(layer)
        b_hat = aug.transport(state["B"].to(aug.g_hat.dtype)).mul_(beta).add_(aug.g_hat)
        retract(aug, aug.s0 - lr * b_hat, theta)
        r1 = layer.rank
        state["B"] = b_hat[:r1, :r1].to(aug.dtype).clone()


def _dense_mlp(hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train(arm: str, lr: float, seed: int, epochs: int, theta: float = 0.0, rank: int = RANK, r_max: int | None = None):
    """One run; returns the per-epoch mean training loss, the final validation accuracy and the final ranks."""
    task = DigitsLowRankMLPTask(rank=rank, r_max=r_max)
    run = task.setup(seed)
    if arm == "full-rank":  # same data and loop, dense layers drawn from the same seed stream
        run.model = build_module(_dense_mlp, generator(seed, 1))
    params = run.model.parameters()
    if arm in ("full-rank", "naive"):
        opt: torch.optim.Optimizer = naive_factor_heavy_ball(params, lr=lr, momentum=MOMENTUM)
    elif arm == "geometric":
        opt = LowRankHeavyBall(params, lr=lr, momentum=MOMENTUM, theta=theta)
    else:
        opt = NoRotationHeavyBall(params, lr=lr, momentum=MOMENTUM, theta=theta)
    curve: list[float] = []
    for epoch in range(epochs):
        losses = []
        for batch in run.batches(epoch):
            opt.zero_grad(set_to_none=True)
            loss = run.loss(batch)
            if not math.isfinite(loss.item()):
                curve.append(math.nan)
                return {"curve": curve, "accuracy": math.nan, "ranks": [], "diverged": True}
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curve.append(statistics.fmean(losses))
    ranks = [layer.rank for layer in lowrank_layers(run.model)]
    return {"curve": curve, "accuracy": run.evaluate(), "ranks": ranks, "diverged": False}


def converged(result: dict[str, Any]) -> bool:
    return not result["diverged"] and result["curve"][-1] < CONVERGED_LOSS


def compression(ranks: list[int], shapes: list[tuple[int, int]]) -> float:
    return 1.0 - sum((n + m + r) * r for r, (n, m) in zip(ranks, shapes)) / sum(n * m for n, m in shapes)


# ---- the picture: a hand-written SVG (no plotting library needed) ----------------------------------------------
def _svg(results: dict[str, Any], lrs: list[float], curve_lr: float, epochs: int) -> str:
    w, h, pad = 420, 300, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h + 40}" font-family="sans-serif">']
    parts.append(f'<rect width="{2 * w}" height="{h + 40}" fill="white"/>')

    def panel(x0: int, title: str, xlabel: str, ylabel: str) -> None:
        parts.append(
            f'<rect x="{x0 + pad}" y="{pad}" width="{w - 1.5 * pad}" height="{h - 2 * pad}" fill="none" stroke="#444"/>'
        )
        parts.append(f'<text x="{x0 + w / 2}" y="{pad - 18}" text-anchor="middle" font-size="14">{title}</text>')
        parts.append(f'<text x="{x0 + w / 2}" y="{h - 12}" text-anchor="middle" font-size="12">{xlabel}</text>')
        parts.append(
            f'<text x="{x0 + 14}" y="{h / 2}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 {x0 + 14} {h / 2})">{ylabel}</text>'
        )

    # left: mean training loss per epoch at curve_lr, log scale 1e-4 .. 10
    panel(0, f"training loss, lr {curve_lr:g}", "epoch", "mean train CE (log)")
    lo, hi = -4.0, 1.0

    def ly(v: float) -> float:
        v = min(max(math.log10(max(v, 1e-12)), lo), hi)
        return pad + (hi - v) / (hi - lo) * (h - 2 * pad)

    for d in range(int(lo), int(hi) + 1):
        parts.append(f'<text x="{pad - 4}" y="{ly(10.0**d) + 4}" text-anchor="end" font-size="10">1e{d}</text>')
    for e in (0, epochs // 2, epochs):
        x = pad + e / epochs * (w - 1.5 * pad)
        parts.append(f'<text x="{x}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{e}</text>')
    for arm in ARMS:
        runs = results[arm][str(curve_lr)]
        for run in runs:
            pts = [
                f"{pad + (i + 1) / epochs * (w - 1.5 * pad):.1f},{ly(v):.1f}"
                for i, v in enumerate(run["curve"])
                if math.isfinite(v)
            ]
            if pts:
                parts.append(
                    f'<polyline points="{" ".join(pts)}" fill="none" stroke="{COLOURS[arm]}" stroke-width="1.5" '
                    'opacity="0.8"/>'
                )
        diverged = [run for run in runs if run["diverged"]]
        if diverged:  # one label per arm, where its first seed went to NaN
            x = pad + min(len(run["curve"]) for run in diverged) / epochs * (w - 1.5 * pad)
            y = pad + 14 + 14 * ARMS.index(arm)
            label = f"{arm}: NaN ({len(diverged)}/{len(runs)} seeds)"
            parts.append(f'<text x="{x + 4:.1f}" y="{y}" fill="{COLOURS[arm]}" font-size="11">{label}</text>')

    # right: final accuracy against lr (mean over seeds; a cross where any seed diverged)
    x0 = w
    panel(x0, "final validation accuracy (x: a seed went to NaN)", "learning rate (log)", "accuracy")
    llo, lhi = math.log10(min(lrs)), math.log10(max(lrs))

    def px(lr: float) -> float:
        return x0 + pad + (math.log10(lr) - llo) / max(lhi - llo, 1e-9) * (w - 1.5 * pad)

    def py(acc: float) -> float:
        return pad + (1.0 - acc) * (h - 2 * pad)

    for acc in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{x0 + pad - 4}" y="{py(acc) + 4}" text-anchor="end" font-size="10">{acc:g}</text>')
    for lr in lrs:
        parts.append(f'<text x="{px(lr)}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{lr:g}</text>')
    for k, arm in enumerate(ARMS):
        pts = []
        for lr in lrs:
            runs = results[arm][str(lr)]
            if any(r["diverged"] for r in runs):
                parts.append(
                    f'<text x="{px(lr):.1f}" y="{py(0.0) - 4 - 12 * k:.1f}" text-anchor="middle" '
                    f'fill="{COLOURS[arm]}" font-size="13">x</text>'
                )
                continue
            pts.append(f"{px(lr):.1f},{py(statistics.fmean(r['accuracy'] for r in runs)):.1f}")
        if pts:
            parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{COLOURS[arm]}" stroke-width="2"/>')
        parts.append(f'<rect x="{60 + 190 * k}" y="{h + 14}" width="14" height="4" fill="{COLOURS[arm]}"/>')
        parts.append(f'<text x="{80 + 190 * k}" y="{h + 20}" font-size="12">{arm}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _span(picked: list[float], swept: list[float]) -> str:
    """``[low, high]`` where the picked rates are a contiguous run of the swept ones, else the rates listed."""
    if not picked:
        return "none"
    first = swept.index(picked[0])
    if swept[first : first + len(picked)] == picked:
        return f"[{picked[0]:g}, {picked[-1]:g}]"
    return ", ".join(f"{lr:g}" for lr in picked)


def report(payload: dict[str, Any]) -> None:
    """Print the tables of a run (fresh, or loaded back with --report)."""
    results, lrs = payload["results"], payload["lrs"]
    budget = payload["parameters"]
    print(f"\nparameters: full rank {budget['full-rank']:,}; rank {RANK} {budget['low-rank']:,} (naive = geometric)")
    print(
        f"{payload['epochs']} epochs, {payload['seeds']} seeds, momentum {payload['momentum']}; cell: validation "
        "accuracy, mean over seeds / last epoch's mean training CE; 'NaN k/n': k of n seeds diverged\n"
    )
    print("| arm | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | no NaN for lr in | train CE < 0.1 for lr in |")
    print("|---" * (len(lrs) + 3) + "|")
    for arm in ARMS:
        cells, stable, trains = [], [], []
        for lr in lrs:
            runs = results[arm][str(lr)]
            div = sum(r["diverged"] for r in runs)
            if div:
                cells.append(f"NaN {div}/{len(runs)}")
            else:
                acc = statistics.fmean(r["accuracy"] for r in runs)
                cells.append(f"{acc:.3f} / {statistics.fmean(r['curve'][-1] for r in runs):.0e}")
                stable.append(lr)
            if all(converged(r) for r in runs):
                trains.append(lr)
        print(f"| {arm} | " + " | ".join(cells) + f" | {_span(stable, lrs)} | {_span(trains, lrs)} |")
    shapes = [(256, 64), (256, 256)]
    for item in payload["adaptive"]:
        ok = [r for r in item["runs"] if not r["diverged"]]
        if not ok:
            print(f"\nadaptive theta {item['theta']:g}: every seed diverged")
            continue
        comp = [compression(r["ranks"], shapes) for r in ok]
        print(
            f"\nadaptive theta {item['theta']:g} (start rank 32, r_max 64): final ranks {[r['ranks'] for r in ok]}, "
            f"compression {statistics.fmean(comp):.1%}, accuracy {statistics.fmean(r['accuracy'] for r in ok):.3f}"
            f" ({len(item['runs']) - len(ok)} of {len(item['runs'])} diverged)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs per run (default 40, as LOWRANK.md s4)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm and rate (default 3)")
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0], help="learning rates to sweep"
    )
    parser.add_argument("--curve-lr", type=float, default=0.1, help="the rate whose loss curves are drawn")
    parser.add_argument("--theta", type=float, nargs="+", default=[0.05, 0.1], help="adaptive-rank tolerances")
    parser.add_argument("--out", type=Path, default=DATA / "lowrank_digits", help="output path without suffix")
    parser.add_argument("--report", action="store_true", help="print the tables and redraw the SVG of --out.json")
    args = parser.parse_args()
    if args.report:
        payload = json.loads(args.out.with_suffix(".json").read_text())
        report(payload)
        args.out.with_suffix(".svg").write_text(
            _svg(payload["results"], payload["lrs"], args.curve_lr, payload["epochs"])
        )
        return
    if args.curve_lr not in args.lrs:
        parser.error(f"--curve-lr {args.curve_lr} must be one of --lrs {args.lrs}")
    torch.set_num_threads(1)
    start = time.time()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {arm: {} for arm in ARMS}
    for arm in ARMS:
        for lr in args.lrs:
            results[arm][str(lr)] = [train(arm, lr, seed, args.epochs) for seed in range(args.seeds)]
            runs = results[arm][str(lr)]
            print(
                f"{arm:12s} lr {lr:<6g} acc {statistics.fmean(r['accuracy'] for r in runs):.3f} "
                f"loss {statistics.fmean(r['curve'][-1] for r in runs):.2e} ({time.time() - start:.0f} s)",
                flush=True,
            )
    adaptive = [
        {
            "theta": theta,
            "runs": [
                train("geometric", args.curve_lr, s, args.epochs, theta=theta, rank=32, r_max=64)
                for s in range(args.seeds)
            ],
        }
        for theta in args.theta
    ]
    payload = {
        "epochs": args.epochs,
        "seeds": args.seeds,
        "lrs": args.lrs,
        "momentum": MOMENTUM,
        "rank": RANK,
        "parameters": {
            "full-rank": sum(p.numel() for p in _dense_mlp().parameters()),
            "low-rank": sum(p.numel() for p in DigitsLowRankMLPTask(rank=RANK).setup(0).model.parameters()),
        },
        "results": results,
        "adaptive": adaptive,
    }
    report(payload)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(payload, allow_nan=True))
    args.out.with_suffix(".svg").write_text(_svg(results, args.lrs, args.curve_lr, args.epochs))
    print(f"\nwrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.svg')} in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
