"""Benchmark (not a test): milliseconds per settling step of the column nets, four ways, in one run.

(a) unshared columns, batched (bioglom: one baddbmm over (level, column));
(b) unshared columns as a naive per-column loop of nn.Linear MLPs (the same step otherwise);
(c) shared columns (bioglom);
(d) lucidrains' glom-pytorch at the closest equal config (``pip install -e .[benchmark]``).

Each is timed forward only (no_grad) and forward + backward, and its useful GFLOP/s are
set against a large float32 ``torch.matmul`` timed in the same run (the machine's
practical ceiling). FLOPs count the column MLPs and the attention's two contractions.

    python benchmarks/columns.py                 # 256 columns, dim 128, hidden 512, batch 16
    python benchmarks/columns.py --device cuda
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from bioglom import Glom, GlomConfig
from bioglom.attention import beta_schedule
from bioglom.columns import Vote
from bioglom.consensus import consensus_weights
from bioglom.model import settle_step


class LoopColumnNets(nn.Module):
    """The unshared column nets as ``L x N`` separate ``nn.Sequential`` MLPs, run one by one."""

    def __init__(self, cfg: GlomConfig):
        super().__init__()
        n, d, h = cfg.n_columns, cfg.dim, cfg.hidden

        def mlp():
            return nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, d))

        self.bu = nn.ModuleList(nn.ModuleList(mlp() for _ in range(n)) for _ in range(cfg.levels))
        self.td = nn.ModuleList(nn.ModuleList(mlp() for _ in range(n)) for _ in range(cfg.levels - 1))

    @staticmethod
    def _run(nets, src):
        # the naive way: a Python loop over levels and columns, unbinding (not indexing) columns
        return Vote(torch.stack([torch.stack([net(x) for net, x in zip(level, s.unbind(1))], 1)
                                 for level, s in zip(nets, src.unbind(1))], 1), None, ())

    def bottom_up(self, src):
        return self._run(self.bu, src)

    def top_down(self, src):
        return self._run(self.td, src)


def step_flops(cfg: GlomConfig, batch: int) -> float:
    n, d, h, L = cfg.n_columns, cfg.dim, cfg.hidden, cfg.levels
    nets = (2 * L - 1) * 2 * batch * n * (d * h + h * d)
    attention = 2 * 2 * batch * L * n * n * d
    return float(nets + attention)


def timeit(fn, device, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--patch-size", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=9, help="interleaved rounds counted (after one warm-up round)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-loop", action="store_true", help="leave out (b), slow at many columns")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)

    common = dict(levels=a.levels, dim=a.dim, hidden=a.hidden, image_size=a.image_size, patch_size=a.patch_size,
                  channels=3, neighbourhood="full", similarity="dot", norm="none", td_location=False)
    cfgs = {"unshared": GlomConfig(columns="unshared", **common), "shared": GlomConfig(columns="shared", **common)}
    images = torch.rand(a.batch, 3, a.image_size, a.image_size, device=dev)
    flops = step_flops(cfgs["shared"], a.batch)

    size = 4096 if dev.type == "cuda" else 2048
    x = torch.randn(size, size, device=dev)
    mm = timeit(lambda: x @ x, dev, a.repeats)
    ceiling = 2 * size**3 / mm / 1e9

    def bioglom_step(model, nets=None):
        nets = nets or model.nets
        cfg = model.cfg
        inputs = model.encode(images)
        state0 = model.bottom_up_pass(inputs).detach().requires_grad_()
        w = consensus_weights(cfg, 0, 2).to(dev)

        def fwd():
            return settle_step(nets, state0, inputs.detach(), model.neighbourhood, beta_schedule(cfg, 0, 2), w, cfg)[0]

        def fwd_bwd():
            model.zero_grad(set_to_none=True)  # every variant writes fresh gradients, none accumulates
            nets.zero_grad(set_to_none=True)
            fwd().square().mean().backward()

        return fwd, fwd_bwd

    rows = {}
    models = {k: Glom(c).to(dev) for k, c in cfgs.items()}
    variants = {"(a) unshared, batched": bioglom_step(models["unshared"])}
    if not a.skip_loop:
        variants["(b) unshared, per-column loop"] = bioglom_step(models["unshared"], LoopColumnNets(cfgs["unshared"]).to(dev))
    variants["(c) shared"] = bioglom_step(models["shared"])
    try:
        from glom_pytorch import Glom as LucidGlom

        lucid = LucidGlom(dim=a.dim, levels=a.levels, image_size=a.image_size, patch_size=a.patch_size).to(dev)
        # its GroupedFeedForward uses hidden = 4 * dim; per-step time = one iteration
        def lucid_fwd_bwd():
            lucid.zero_grad(set_to_none=True)
            lucid(images, iters=1).square().mean().backward()

        variants["(d) glom-pytorch, shared"] = (lambda: lucid(images, iters=1), lucid_fwd_bwd)
    except ImportError:
        print("glom-pytorch is not installed: (d) left out (pip install -e '.[benchmark]')")

    # interleaved rounds, the best of each variant: a load that comes and goes on a shared
    # machine then slows every variant alike, instead of whichever ran during it
    best = {name: [float("inf"), float("inf")] for name in variants}
    rounds = {name: [] for name in variants}  # (fwd, fwd+bwd) of every counted round
    for r in range(a.repeats + 1):  # round 0 warms every variant up and is not counted
        for name, (fwd, fwd_bwd) in variants.items():
            with torch.no_grad():
                f = timeit(fwd, dev, 1, warmup=0)
            fb = timeit(fwd_bwd, dev, 1, warmup=0)
            if r:
                best[name] = [min(best[name][0], f), min(best[name][1], fb)]
                rounds[name].append((f, fb))
    rows = {name: tuple(v) for name, v in best.items()}

    shared_f = rows["(c) shared"][0]
    print(f"\nsettling step: {cfgs['shared'].n_columns} columns, {a.levels} levels, dim {a.dim}, hidden {a.hidden}, "
          f"batch {a.batch}, full attention, device {dev}, {torch.get_num_threads()} threads")
    print(f"matmul ceiling ({size}x{size} float32): {ceiling:.1f} GFLOP/s; one step = {flops / 1e9:.2f} GFLOP")
    print(f"{'variant':<32}{'fwd ms':>9}{'fwd+bwd ms':>12}{'fwd GFLOP/s':>13}{'% ceiling':>11}{'fwd / shared':>14}")
    for name, (f, fb) in rows.items():
        gf = flops / f / 1e9
        print(f"{name:<32}{f * 1e3:>9.2f}{fb * 1e3:>12.2f}{gf:>13.1f}{100 * gf / ceiling:>10.0f}%{f / shared_f:>14.2f}")
    # the ratio within each round (both measured moments apart), so a load that comes and goes
    # shows as spread instead of moving one variant's best time
    per_round = np.array([[u[k] / s[k] for k in (0, 1)] for u, s in zip(rounds["(a) unshared, batched"],
                                                                          rounds["(c) shared"])])
    for k, what in enumerate(("forward", "forward+backward")):
        q = np.percentile(per_round[:, k], [0, 25, 50, 75, 100])
        print(f"unshared / shared {what}, {len(per_round)} interleaved rounds: median {q[2]:.2f} "
              f"(quartiles {q[1]:.2f}-{q[3]:.2f}, range {q[0]:.2f}-{q[4]:.2f})")
    if "(b) unshared, per-column loop" in rows:
        loop, bat = rows["(b) unshared, per-column loop"], rows["(a) unshared, batched"]
        print(f"batched over loop speed-up: forward {loop[0] / bat[0]:.2f}x, forward+backward {loop[1] / bat[1]:.2f}x")


if __name__ == "__main__":
    main()
