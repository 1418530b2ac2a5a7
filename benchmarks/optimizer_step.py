"""Optimizer step time on a ResNet-18-sized parameter list, every ratio measured side by side in one run.

An optimizer step is memory-bound, so besides times it reports each optimizer's minimum bytes moved per step
(every tensor it must read and write once) and the achieved GB/s against a plain tensor copy's GB/s measured
in the same run (the machine's practical limit).

    python benchmarks/optimizer_step.py                 # CPU
    python benchmarks/optimizer_step.py --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizers import FSGDM, GSGD, AdamWScheduleFree, AutoSGM, Lion, SGDScheduleFree


def resnet18_shapes() -> list[tuple[int, ...]]:
    """Parameter shapes of torchvision's resnet18 (11.69M parameters in 62 tensors), written out by hand."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            first_in = cin if block == 0 else cout
            shapes += [(cout, first_in, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if block == 0 and (stride != 1 or cin != cout):
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
        cin = cout
    shapes += [(1000, 512), (1000,)]
    return shapes


def make_params(device: str, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    params = []
    for shape in resnet18_shapes():
        p = torch.randn(shape, generator=gen).to(device=device, dtype=dtype).requires_grad_()
        p.grad = torch.randn(shape, generator=gen).to(device=device, dtype=dtype) * 1e-3
        params.append(p)
    return params


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_it(fn: Callable[[], None], device: str, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def copy_bandwidth(n: int, device: str, warmup: int, repeats: int) -> float:
    """GB/s of one plain copy of n float32 values: the memory-bound ceiling.

    A copy reads the source and writes the destination, and on a CPU the write first reads the destination's
    cache lines (write-allocate), so it moves 3 x 4n bytes. An optimizer's in-place updates write lines they
    have just read, so for them every tensor read or written counts once.
    """
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    seconds = time_it(lambda: dst.copy_(src), device, warmup, repeats)
    passes = 3 if device == "cpu" else 2
    return passes * 4 * n / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each optimizer's best is kept")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    device = args.device
    wd = 5e-4
    n_params = sum(torch.Size(s).numel() for s in resnet18_shapes())
    print(
        f"# {n_params / 1e6:.2f}M parameters in {len(resnet18_shapes())} tensors, float32, {device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.rounds} rounds of the median of {args.repeats} steps"
    )

    import fsgdm as official_fsgdm
    import lion_pytorch
    import schedulefree

    # (name, factory, tensors read+written per element per step at minimum)
    fsgdm_cfg = dict(lr=0.1, weight_decay=wd, c_scaling=0.033, v_coefficient=1.0, n_stages=300, sigma=117000)
    adam_like = dict(
        lr_cfg=(True, 1e-3, 0),
        beta_cfg=(0.9999, 0.999, 0.9, 0, 0, True),
        rc_cfg=(0, 0, 0, 2, 1, 1, 100, 1, 0),
        wd_cfg=(0, 0),
        eps_cfg=(1e-8, False),
    )
    contestants: dict[str, tuple[Callable[[list], torch.optim.Optimizer], int]] = {
        "torch SGD for-loop": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=wd, foreach=False), 5),
        "torch SGD foreach": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=wd, foreach=True), 5),
        "torch SGD fused": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=wd, fused=True), 5),
        "official fsgdm": (lambda ps: official_fsgdm.FSGDM(ps, **fsgdm_cfg), 5),
        "FSGDM (default)": (lambda ps: FSGDM(ps, **fsgdm_cfg), 5),
        "FSGDM foreach": (lambda ps: FSGDM(ps, **fsgdm_cfg, fused=False, foreach=True), 5),
        "FSGDM single-tensor": (lambda ps: FSGDM(ps, **fsgdm_cfg, fused=False, foreach=False), 5),
        "GSGD (default)": (lambda ps: GSGD(ps, lr=0.1, momentum=0.9, weight_decay=wd), 5),
        "GSGD foreach": (lambda ps: GSGD(ps, lr=0.1, momentum=0.9, weight_decay=wd, foreach=True), 5),
        "torch Adam foreach": (lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True), 7),
        "torch Adam fused": (lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True), 7),
        "AutoSGM Adam-like (default)": (lambda ps: AutoSGM(ps, **adam_like), 7),
        "AutoSGM Adam-like foreach": (lambda ps: AutoSGM(ps, **adam_like, foreach=True), 7),
        "lion-pytorch": (lambda ps: lion_pytorch.Lion(ps, lr=1e-4, weight_decay=0.0), 5),
        "Lion (default)": (lambda ps: Lion(ps, lr=1e-4), 5),
        "Lion foreach": (lambda ps: Lion(ps, lr=1e-4, foreach=True), 5),
        # Schedule-Free: reads g, y, z (and v) and writes y, z (and v) at minimum
        "schedulefree SGD foreach": (lambda ps: schedulefree.SGDScheduleFree(ps, lr=0.1, weight_decay=wd), 5),
        "schedulefree SGD for-loop": (
            lambda ps: schedulefree.SGDScheduleFree(ps, lr=0.1, weight_decay=wd, foreach=False),
            5,
        ),
        "SGDScheduleFree (default)": (lambda ps: SGDScheduleFree(ps, lr=0.1, weight_decay=wd), 5),
        "SGDScheduleFree foreach": (lambda ps: SGDScheduleFree(ps, lr=0.1, weight_decay=wd, foreach=True), 5),
        "schedulefree AdamW foreach": (lambda ps: schedulefree.AdamWScheduleFree(ps, lr=1e-3), 7),
        "schedulefree AdamW for-loop": (lambda ps: schedulefree.AdamWScheduleFree(ps, lr=1e-3, foreach=False), 7),
        "AdamWScheduleFree (default)": (lambda ps: AdamWScheduleFree(ps, lr=1e-3), 7),
        "AdamWScheduleFree foreach": (lambda ps: AdamWScheduleFree(ps, lr=1e-3, foreach=True), 7),
    }
    gbps_copy = 0.0
    results: dict[str, dict[str, float]] = {}
    optimizers = {}
    for name, (factory, _) in contestants.items():
        params = make_params(device)
        opt = factory(params)
        if "fsgdm" in name.lower():
            # mid-run (stage 150 of 300): the momentum is on, as for all but the first 1/300 of training
            for group in opt.param_groups:
                group["step"] = 58500.0
        if "schedulefree" in name.lower():
            opt.train()  # schedule-free steps only in train mode
        optimizers[name] = opt
    # Rounds interleave the contestants so a burst of load elsewhere hits them all; keep each one's best round.
    best_seconds = {name: float("inf") for name in contestants}
    for _ in range(args.rounds):
        for name, opt in optimizers.items():
            best_seconds[name] = min(best_seconds[name], time_it(opt.step, device, args.warmup, args.repeats))
        gbps_copy = max(gbps_copy, copy_bandwidth(n_params, device, args.warmup, args.repeats))
    print(f"plain tensor copy: {gbps_copy:.1f} GB/s (read + write-allocate + write)\n")
    print(f"{'optimizer':30s} {'ms/step':>9s} {'MB/step':>9s} {'GB/s':>7s} {'of copy':>8s}")
    for name, (_, passes) in contestants.items():
        seconds = best_seconds[name]
        nbytes = passes * n_params * 4
        results[name] = {"ms": seconds * 1e3, "mb": nbytes / 1e6, "gbps": nbytes / seconds / 1e9}
        print(
            f"{name:30s} {seconds * 1e3:9.2f} {nbytes / 1e6:9.1f} {nbytes / seconds / 1e9:7.1f} "
            f"{nbytes / seconds / 1e9 / gbps_copy:8.0%}"
        )

    def best(*names: str) -> tuple[str, float]:
        name = min(names, key=lambda n: results[n]["ms"])
        return name, results[name]["ms"]

    sgd_name, sgd = best("torch SGD for-loop", "torch SGD foreach", "torch SGD fused")
    ratios = [
        (
            "FSGDM / official fsgdm",
            results["FSGDM (default)"]["ms"] / results["official fsgdm"]["ms"],
            0.5 if device == "cuda" else 0.9,
        ),
        (f"FSGDM / torch SGD best ({sgd_name})", results["FSGDM (default)"]["ms"] / sgd, 1.1),
        (f"GSGD / torch SGD best ({sgd_name})", results["GSGD (default)"]["ms"] / sgd, 1.2),
        (
            "AutoSGM Adam-like / torch Adam foreach",
            results["AutoSGM Adam-like (default)"]["ms"] / results["torch Adam foreach"]["ms"],
            1.5,
        ),
        ("Lion / lion-pytorch", results["Lion (default)"]["ms"] / results["lion-pytorch"]["ms"], 1.0),
    ]
    for kind in ("SGD", "AdamW"):
        theirs_name, theirs = best(f"schedulefree {kind} foreach", f"schedulefree {kind} for-loop")
        ours_name, ours = best(f"{kind}ScheduleFree (default)", f"{kind}ScheduleFree foreach")
        ratios.append((f"{ours_name} / {theirs_name} (each's fastest)", ours / theirs, 1.0))
    print(f"\n{'ratio':55s} {'value':>7s} {'target':>7s}")
    for label, value, target in ratios:
        print(f"{label:55s} {value:7.2f} {'<= ' + format(target, 'g'):>7s} {'ok' if value <= target else 'MISSED'}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "device": device,
                    "copy_gbps": gbps_copy,
                    "results": results,
                    "ratios": {label: value for label, value, _ in ratios},
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
