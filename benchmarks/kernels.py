"""Benchmark (not a test): the kernel choices behind the settling step, the local update,
the islands loss and the motion data, each against what it replaced or its reference,
side by side in one run (median of repeats).

- ``1/sigma`` of a layer norm: ``Tensor.var`` against the centred mean of squares and
  ``torch.native_layer_norm`` (``learning/local.py: vote, through_norm``);
- ``act'``: the exact gelu derivative by its formula against ATen's ``gelu_backward``
  (``columns.activation_backward``);
- a 200 MB tensor (a weight-sized gradient of unshared nets) allocated, filled and
  freed again and again, as every update does: under glibc's default malloc with
  ``THP_MEM_ALLOC_ENABLE`` 0 and 1, and with ``bioglom`` imported (which makes malloc
  keep freed memory, ``bioglom/allocator.py``) with it 0 and 1, each in its own process,
  since PyTorch and glibc read their settings once;
- the same-image hinge (``learning/contrastive.py``): its closed-form gradient against
  autograd of the pairwise formula (``same_image_hinge_pairwise``), forward and backward;
- argmax over the displacements of the motion layers (``data/motion.py: _first_argmax``):
  over an inner axis against the last axis of a contiguous copy.

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

from bioglom.data.motion import _first_argmax
from bioglom.learning.contrastive import same_image_hinge, same_image_hinge_pairwise

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

    # the same-image hinge of the islands loss, forward and backward, at an islands update's
    # shape (s b l n d: two directions, batch 32, 3 levels, 64 columns, dim 32)
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 32, 3, 64, 32, generator=g), torch.randn(2, 32, 3, 64, 32, generator=g)

    def hinge_step(f):
        p = pred.clone().requires_grad_()
        f(p, target, 1.0, 3.0).sum().backward()

    rows += [("same-image hinge fwd+bwd: autograd of the pairs", median_ms(lambda: hinge_step(same_image_hinge_pairwise),
                                                                            7)),
             ("same-image hinge fwd+bwd: closed-form gradient", median_ms(lambda: hinge_step(same_image_hinge), 7))]
    # argmax over displacements, as the motion layers score them (b v regions, int64)
    score = torch.randint(0, 1000, (32, 24, 257), generator=g)
    rows += [("argmax over an inner axis", median_ms(lambda: score.argmax(1))),
             ("argmax over the last axis of a contiguous copy", median_ms(lambda: _first_argmax(score, 1)))]
    ms = dict(rows)
    print(f"{torch.get_num_threads()} threads; median ms")
    for name, t in rows:
        print(f"{name:<56}{t:>9.2f}")
    print(f"var / centred {rows[0][1] / rows[1][1]:.1f}x; formula / gelu_backward {rows[3][1] / rows[4][1]:.1f}x; "
          f"allocation, glibc default / as bioglom sets it: {rows[5][1] / rows[7][1]:.1f}x on 4 KB pages, "
          f"{rows[6][1] / rows[8][1]:.1f}x on huge pages; hinge autograd / closed form "
          f"{ms['same-image hinge fwd+bwd: autograd of the pairs'] / ms['same-image hinge fwd+bwd: closed-form gradient']:.1f}x; "
          f"argmax inner / last {ms['argmax over an inner axis'] / ms['argmax over the last axis of a contiguous copy']:.1f}x")


if __name__ == "__main__":
    main()
