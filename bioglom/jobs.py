"""Seeds as parallel processes on one machine (``--jobs N``): each seed of a run is the
same simulation run with ``--seed S --seeds 1`` into ``OUT/seeds/seedS``, at most ``N`` at
a time, each with ``cores / N`` threads; their results are then merged along ``seed``
with their claims recomputed (:mod:`bioglom.claims`), which is the one-process run's
result up to float32 summation order. A killed run goes on with ``--resume``: each seed
resumes from its own checkpoints, and a seed already finished is not run again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["run_jobs", "run_seeds_as_jobs", "job_argv", "resolve_jobs", "check_jobs", "JOBS_HELP"]

# options the parent decides for each job (the rest of its command line passes through)
OWN = ("--jobs", "--seed", "--seeds", "--out", "--progress", "--no-progress", "--overwrite", "--no-overwrite")


JOBS_HELP = ("run the seeds as this many parallel processes (each with cores / jobs threads) and merge their "
             "results (python -m bioglom.claims); 0 (the default): one process per seed; 1: one process")


def resolve_jobs(opts, allowed: bool = True) -> None:
    """``jobs=0`` (the default) becomes one process per seed where seeds can run as jobs
    (``allowed``), else one process: seeds side by side, one thread each on two cores,
    did 1.17-1.26x the updates per second of one process on both cores
    (``benchmarks/jobs.py``), and give the same result as one process of one thread."""
    if opts.jobs == 0:
        opts.jobs = opts.seeds if allowed and opts.seeds > 1 else 1


def check_jobs(opts, refused: str = "", instead: str = "") -> None:
    """``--jobs`` is a count of processes; more than one is refused where ``refused`` names
    what this run has that seeds as jobs cannot merge (e.g. ``"data='scenes'"``), saying
    what to do ``instead``."""
    from .config import ConfigError, check_positive

    check_positive("jobs", opts.jobs, integer=True)
    if opts.jobs > 1 and refused:
        raise ConfigError(f"jobs={opts.jobs} is not allowed with {refused}; "
                          + (instead or "its claims are computed from per-seed state in one process, so run the "
                             "seeds in one process (--jobs 1)"))


def job_argv(argv: list[str], seed: int, out: Path, resume: bool, progress: bool = True) -> list[str]:
    """The command line of seed ``seed``'s job: ``argv`` without the options the parent
    decides, then ``--seed seed --seeds 1 --out out``, ``--no-progress`` where the
    simulation has a progress bar (``progress``), and ``--overwrite`` unless resuming (the
    parent's folder check already ran)."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in OWN:
            skip = "=" not in a and name in ("--jobs", "--seed", "--seeds", "--out")
            continue
        kept.append(a)
    return [*kept, "--seed", str(seed), "--seeds", "1", "--out", str(out), *(("--no-progress",) if progress else ()),
            *(() if resume else ("--overwrite",))]


def run_jobs(script: Path, simulation: str, opts, argv: list[str], out: Path) -> int:
    """Run each seed of ``opts`` as a process of ``script`` into ``out/seeds/seedS``, at most
    ``opts.jobs`` at a time, each with ``cores / jobs`` threads (with ``--resume``, a seed
    whose result is complete is not run again). Returns 0, or the exit code of the first
    job that failed (after the others ended). A Ctrl-C ends the jobs and removes their locks."""
    from .cli import result_complete
    from .experiment import seeds_of

    seeds = seeds_of(opts)
    folders = {s: out / "seeds" / f"seed{s}" for s in seeds}
    threads = max(1, (os.cpu_count() or 1) // opts.jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    todo = [s for s in seeds if not (opts.resume and result_complete(folders[s] / f"{simulation}.nc"))]
    running: dict[int, subprocess.Popen] = {}
    failed = 0
    print(f"{len(todo)} of {len(seeds)} seeds as {min(opts.jobs, len(todo))} parallel jobs of {threads} "
          f"thread(s); logs in {out / 'seeds'}", file=sys.stderr)
    try:
        while todo or running:
            while todo and len(running) < opts.jobs:
                s = todo.pop(0)
                folders[s].mkdir(parents=True, exist_ok=True)
                log = open(folders[s] / "log.txt", "a")
                running[s] = subprocess.Popen([sys.executable, str(script),
                                               *job_argv(argv, s, folders[s], opts.resume, hasattr(opts, "progress"))],
                                              stdout=log, stderr=subprocess.STDOUT, env=env)
                log.close()
            for s, p in list(running.items()):
                if p.poll() is not None:
                    del running[s]
                    print(f"seed {s}: {'done' if p.returncode == 0 else f'failed (exit {p.returncode})'}",
                          file=sys.stderr)
                    failed = failed or p.returncode
            time.sleep(0.2)
    except KeyboardInterrupt:
        for p in running.values():
            p.terminate()
        for s, p in running.items():  # a terminated job runs no exit handler: its lock is ours to remove
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            _remove_lock(folders[s] / ".lock", p.pid)
        raise
    if failed:
        print(f"error: a seed's job failed; its log is in {out / 'seeds'}; run the same command with --resume "
              "to go on", file=sys.stderr)
    return failed


def run_seeds_as_jobs(script: Path, simulation: str, opts, argv: list[str], out: Path, summarise=None) -> int:
    """Run the seeds of ``opts`` as ``opts.jobs`` parallel processes of ``script``
    (:func:`run_jobs`) and write the merged result to ``out/SIMULATION.nc``; print the
    claims, then call ``summarise`` with the merged result as written (the table and
    pictures one process would print and draw). Returns the exit code."""
    from .claims import merge_results
    from .experiment import report, seeds_of, write_result

    failed = run_jobs(script, simulation, opts, argv, out)
    if failed:
        return failed
    seeds = seeds_of(opts)
    ds, claims, attrs = merge_results(simulation, [out / "seeds" / f"seed{s}" / f"{simulation}.nc" for s in seeds])
    path = write_result(ds, claims, out / f"{simulation}.nc", {**attrs, "jobs": int(opts.jobs)})
    code = report(f"{simulation}: {len(seeds)} seeds run as {opts.jobs} parallel jobs, merged", claims=claims, path=path)
    if summarise is not None:
        import xarray as xr

        with xr.open_dataset(path, engine="h5netcdf") as merged:
            summarise(merged.load())
    return code


def _remove_lock(lock: Path, pid: int) -> None:
    """Remove ``lock`` if the process ``pid`` (now ended) still holds it."""
    try:
        if lock.read_text().strip() == str(pid):
            lock.unlink()
    except OSError:
        pass
