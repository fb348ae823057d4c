"""Benchmark (not a test): settling with the column grid sharded by rows across P
processes (bioglom.distributed, gloo on the CPU): bytes exchanged per settling step,
measured and in closed form, and time per step, for P = 1, 2, 4, in one run.

Each process holds H/P rows; per step a process sends the halo rows its neighbours read:
``rows x W x batch x levels x dim x 4`` bytes (float32) to each neighbour. The closed form
for a window of radius R with P > 1 is ``2 (P - 1) R W b L D 4`` bytes for all processes.
Times on this 2-core machine are for the ratio only: P processes share its cores
(``torch.set_num_threads(max(1, cores // P))``), so a speed-up needs more cores than here.

    python benchmarks/distributed.py                  # 64x64 columns, window and Gaussian
    python benchmarks/distributed.py --grid 128
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bioglom import Glom, GlomConfig
from bioglom.distributed import ShardedGlom, free_port, join_local


def _worker(rank, world, port, cfg_dict, batch, steps, queue):
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    join_local(rank, world, port)
    shard = ShardedGlom(Glom(GlomConfig.from_dict(cfg_dict)), rank, world)
    images = torch.rand(batch, 1, cfg_dict["image_size"], cfg_dict["image_size"], generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        shard.settle(images, 1, detach=True, record=False)  # warm-up
        shard.bytes_sent, shard.steps_exchanged = 0, 0
        for _ in range(3):
            dist.barrier()
            t0 = time.perf_counter()
            shard.settle(images, steps, detach=True, record=False)
            dist.barrier()
            times.append((time.perf_counter() - t0) / steps)
    sent = shard.bytes_per_step()
    if rank == 0:
        queue.put((statistics.median(times), sent, shard.shard.halo))
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", type=int, default=64, help="columns per side (image side = 2 x grid)")
    ap.add_argument("--processes", default="1,2,4")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    levels, dim = 3, 16
    print(f"{args.grid}x{args.grid} columns, unshared, {levels} levels, dim {dim}, hidden 32, batch {args.batch}; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'neighbourhood':<24}{'P':>3}{'halo rows':>10}{'bytes/step':>14}{'closed form':>14}{'ms/step':>10}"
          f"{'x P=1':>8}")
    for name, extra in (("window R=2", dict(radius=2)),
                        ("gaussian K=16, sigma 2", dict(neighbourhood="gaussian", gaussian_k=16, gaussian_sigma=2.0))):
        cfg = GlomConfig(levels=levels, dim=dim, hidden=32, image_size=2 * args.grid, patch_size=2, channels=1,
                         columns="unshared", **extra).to_dict()
        first = None
        for p in (int(v) for v in args.processes.split(",")):
            queue = ctx.SimpleQueue()
            mp.start_processes(_worker, args=(p, free_port(), cfg, args.batch, args.steps, queue), nprocs=p,
                               join=True, start_method="spawn")
            seconds, sent, halo = queue.get()
            first = first or seconds
            closed = 2 * (p - 1) * halo * args.grid * args.batch * levels * dim * 4
            print(f"{name:<24}{p:>3}{halo if p > 1 else 0:>10}{sent:>14,.0f}{closed:>14,}{seconds * 1e3:>10.1f}"
                  f"{seconds / first:>7.2f}x")


if __name__ == "__main__":
    main()
