"""Benchmark (not a test): the three kernel choices behind the settling step and the local
update, each against what it replaced, side by side in one run (median of repeats).

- ``1/sigma`` of a layer norm: ``Tensor.var`` against the centred mean of squares and
  ``torch.native_layer_norm`` (``learning/local.py: vote, through_norm``);
- ``act'``: the exact gelu derivative by its formula against ATen's ``gelu_backward``
  (``columns.activation_backward``);
- a 200 MB tensor (a weight-sized gradient of unshared nets) allocated, filled and
  freed again and again, as every update does: under glibc's default malloc with
  ``THP_MEM_ALLOC_ENABLE`` 0 and 1, and with ``bioglom`` imported (which makes malloc
  keep freed memory, ``bioglom/allocator.py``) with it 0 and 1, each in its own process,
  since PyTorch and glibc read their settings once.

    python benchmarks/kernels.py
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time

import torch

ALLOCATION = """
import sys, time, statistics, torch
if sys.argv[1] == "bioglom":
    import bioglom  # sets malloc to keep freed memory, as a script importing both does
w = torch.empty(768, 128, 512)
times = []
for _ in range(9):
    t = time.perf_counter(); torch.zeros_like(w); times.append(time.perf_counter() - t)
print(statistics.median(times[2:]))
"""


def median_ms(fn, repeats: int = 21) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    r = torch.randn(64, 3, 36, 32)  # b l n d of benchmarks/learning.py's local update
    pre, grad = torch.randn(3, 64 * 36, 64), torch.randn(3, 64 * 36, 64)  # g (b n) h

    def centred():
        c = r - r.mean(-1, keepdim=True)
        return (c * c).mean(-1, keepdim=True)

    def formula():
        phi = 0.5 * (1 + torch.erf(pre * 0.5**0.5)) + pre * torch.exp(-0.5 * pre * pre) * (2 * math.pi) ** -0.5
        return grad * phi

    rows = [
        ("layer-norm 1/sigma: Tensor.var", median_ms(lambda: r.var(-1, unbiased=False, keepdim=True))),
        ("layer-norm 1/sigma: centred mean of squares", median_ms(centred)),
        ("layer-norm 1/sigma: native_layer_norm (with y)", median_ms(
            lambda: torch.native_layer_norm(r, r.shape[-1:], None, None, 1e-5))),
        ("gelu': formula", median_ms(formula)),
        ("gelu': aten gelu_backward", median_ms(lambda: torch.ops.aten.gelu_backward(grad, pre))),
    ]
    env = {k: v for k, v in os.environ.items()
           if k != "THP_MEM_ALLOC_ENABLE" and not k.startswith("MALLOC_") and k != "BIOGLOM_KEEP_FREED_MEMORY"}
    for label, thp, how in (("glibc default, THP_MEM_ALLOC_ENABLE=0", "0", "plain"),
                            ("glibc default, THP_MEM_ALLOC_ENABLE=1", "1", "plain"),
                            ("bioglom imported, THP_MEM_ALLOC_ENABLE=0", "0", "bioglom"),
                            ("bioglom imported, THP_MEM_ALLOC_ENABLE=1", "1", "bioglom")):
        res = subprocess.run([sys.executable, "-c", ALLOCATION, how], capture_output=True, text=True,
                             env={**env, "THP_MEM_ALLOC_ENABLE": thp}, check=True)
        rows.append((f"200 MB zeros, {label}", float(res.stdout) * 1e3))
    print(f"{torch.get_num_threads()} threads; median ms")
    for name, ms in rows:
        print(f"{name:<56}{ms:>9.2f}")
    print(f"var / centred {rows[0][1] / rows[1][1]:.1f}x; formula / gelu_backward {rows[3][1] / rows[4][1]:.1f}x; "
          f"allocation, glibc default / as bioglom sets it: {rows[5][1] / rows[7][1]:.1f}x on 4 KB pages, "
          f"{rows[6][1] / rows[8][1]:.1f}x on huge pages")


if __name__ == "__main__":
    main()
