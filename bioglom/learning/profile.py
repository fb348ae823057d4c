"""Time per training update and peak memory of a learning rule (claim T3, benchmarks/learning.py).

Peak memory is measured in a fresh process per configuration, so one measurement cannot
inherit another's allocator state:

- CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before the first
  update (model, optimizer state and batch excluded);
- CPU: the process's peak resident set size (``VmHWM``, reset through
  ``/proc/self/clear_refs`` just before the first update) minus its resident size at that
  moment. This counts every allocation the updates make, including allocator slack, so it
  is an upper bound on the tensors' own peak (Linux only).

    python -m bioglom.learning.profile '{"rule": "delta", "steps": 32, "config": {...}}'
    python -m bioglom.learning.profile '{"measure": "settle_step", "config": {...}}'
    python -m bioglom.learning.profile '{"measure": "build", "config": {...}}'

prints one JSON line: ``seconds_per_update`` (median) or ``seconds_per_step``,
``peak_bytes``, ``device`` (benchmarks/learning.py, benchmarks/scale.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

__all__ = ["measure_update", "measure_settle_step", "measure_build", "measure_side_by_side", "measure_in_subprocess",
           "peak_resolution"]


def peak_resolution(device: str) -> int:
    """How far two measurements of the same configuration's peak can lie apart, in bytes:
    0 on CUDA (``max_memory_allocated`` counts the tensors exactly); 512 KiB on the CPU,
    where the resident set also holds allocator slack: in four runs of
    ``python simulations/temporal_derivative.py --quick`` the peaks of one update (about
    1 MB) spread by up to 320 KiB per configuration, even under :data:`TIGHT_MALLOC`."""
    return 0 if str(device).startswith("cuda") else 2**19


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}; CPU peak memory needs Linux")


def _reset_peak_rss() -> int:
    """Reset the peak resident set size to the current one (Linux >= 4.0); return it."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS")


def measure_update(config: dict, rule: str, rule_options: dict, *, batch: int = 16, updates: int = 3,
                   device: str = "cpu", threads: int | None = None) -> dict:
    """Train ``updates`` updates of ``rule`` on random images; time and peak memory per update.

    One warm-up update runs first and is not counted, so the optimizer's state (the same
    at any number of steps) and first-call allocations are part of the baseline.
    """
    from ..config import GlomConfig
    from ..model import Glom
    from .base import Batch, build_rule
    from .trainer import Trainer

    if threads:
        torch.set_num_threads(threads)
    cfg = GlomConfig.from_dict(config)
    model = Glom(cfg).to(device)
    r = build_rule(rule, **rule_options)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=gen)
    fixed = Batch(images, images, torch.ones_like(images))
    trainer = Trainer(model, r, lambda u: fixed, updates=updates + 1, progress=False)
    seconds, peak, total = _timed(trainer.step, updates, device)
    return {"seconds_per_update": seconds, "peak_bytes": peak, "total_peak_bytes": total, "device": device}


def measure_side_by_side(config: dict, rules: list[tuple[str, dict]], *, batch: int = 16, rounds: int = 9,
                         device: str = "cpu", threads: int | None = None,
                         compiled: list[bool] | None = None) -> list[list[float]]:
    """Seconds per update of each ``(rule, options)``, one per counted round in round
    order (a ratio between rules is read round by round), measured in this one process
    with the rules interleaved round by round, so every rule meets the same machine state
    (the ratios between rules are what this is for; :func:`measure_update` gives memory).
    Each rule trains its own copy of the model on the same random images; the first round
    is a warm-up and is not counted (it compiles, where a rule settles compiled).
    ``compiled``: per rule, whether its updates settle through ``torch.compile``
    (:func:`~bioglom.model.compile_settling`); eager for all when ``None``. Afterwards
    settling is compiled or eager as it was before."""
    from ..config import GlomConfig
    from ..model import Glom, compile_settling, settling_is_compiled
    from .base import Batch, build_rule
    from .trainer import Trainer

    if compiled is not None and len(compiled) != len(rules):
        raise ValueError(f"compiled has {len(compiled)} flags for {len(rules)} rules; give one per rule, or None")
    if threads:
        torch.set_num_threads(threads)
    cfg = GlomConfig.from_dict(config)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=gen)
    fixed = Batch(images, images, torch.ones_like(images))
    trainers = [Trainer(Glom(cfg).to(device), build_rule(rule, **options), lambda u: fixed, updates=rounds + 1,
                        progress=False) for rule, options in rules]
    times = [[] for _ in rules]
    compiled, before = compiled or [False] * len(rules), settling_is_compiled()
    try:
        for u in range(rounds + 1):
            for trainer, spent, comp in zip(trainers, times, compiled):
                compile_settling(comp)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                trainer.step(u)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                if u:
                    spent.append(time.perf_counter() - t0)
    finally:
        compile_settling(before)
    return times


def _timed(run, repeats: int, device: str) -> tuple[float, int, int]:
    """``run(0)`` as a warm-up, then the median time of ``run(1) .. run(repeats)``, the peak
    memory they add over what was live after the warm-up (module docstring), and the whole
    peak while they ran (model, optimizer and data included)."""
    cuda = device.startswith("cuda")
    run(0)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _reset_peak_rss()
    times = []
    for u in range(1, repeats + 1):
        t0 = time.perf_counter()
        run(u)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    total = torch.cuda.max_memory_allocated() if cuda else _status_bytes("VmHWM")
    return sorted(times)[len(times) // 2], int(max(total - base, 0)), int(total)


@torch.no_grad()
def measure_settle_step(config: dict, *, batch: int = 1, repeats: int = 3, device: str = "cpu",
                        threads: int | None = None) -> dict:
    """Time (median of ``repeats``) and peak memory of one settling step (``settle_step``,
    the bottom-up pass and front end excluded) on random images, after one warm-up step."""
    from ..config import GlomConfig
    from ..consensus import consensus_weights
    from ..attention import beta_schedule
    from ..model import Glom, settle_step

    if threads:
        torch.set_num_threads(threads)
    cfg = GlomConfig.from_dict(config)
    model = Glom(cfg).to(device).eval()
    images = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    inputs = model.encode(images.to(device))
    state = model.bottom_up_pass(inputs)
    weights = consensus_weights(cfg, 0, 2).to(device)

    def step(_):
        return settle_step(model.nets, state, inputs, model.neighbourhood, beta_schedule(cfg, 0, 2), weights, cfg)[0]

    seconds, peak, total = _timed(step, repeats, device)
    return {"seconds_per_step": seconds, "peak_bytes": peak, "total_peak_bytes": total, "device": device}


def measure_build(config: dict) -> dict:
    """Peak memory of building a model (``Glom(cfg)``: weights, attention neighbourhood,
    position encodings) beside its estimate (:meth:`~bioglom.config.GlomConfig.memory_estimate`,
    ``weights + buffers``): the CPU's peak resident growth while it is built (Linux)."""
    from ..config import GlomConfig
    from ..model import Glom

    cfg = GlomConfig.from_dict(config)
    est = cfg.memory_estimate()
    base = _reset_peak_rss()
    model = Glom(cfg)
    peak = _status_bytes("VmHWM") - base
    del model
    return {"peak_bytes": int(peak), "estimate_bytes": int(est["weights"] + est["buffers"]), "device": "cpu"}


# glibc settings under which CPU memory returns to the system as soon as a tensor is freed,
# so the resident size follows live memory (without them the peak wanders by ~10 MB
# between runs of the same update); they slow allocation, so timings are taken without them
TIGHT_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_ARENA_MAX": "1"}


def measure_in_subprocess(spec: dict, *, for_memory: bool = True, timeout: float = 600) -> dict:
    """:func:`measure_update` (keyword arguments in ``spec``) in a fresh Python process.

    ``for_memory``: run under :data:`TIGHT_MALLOC`, for a peak that is reproducible to a
    fraction of a MB; use ``False`` for timings."""
    env = {**os.environ, **(TIGHT_MALLOC if for_memory else {})}
    res = subprocess.run([sys.executable, "-m", "bioglom.learning.profile", json.dumps(spec)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"profiling {spec.get('rule', spec.get('measure'))} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    measure = {"update": measure_update, "settle_step": measure_settle_step,
               "build": measure_build}[spec.pop("measure", "update")]
    print(json.dumps(measure(**spec)))
