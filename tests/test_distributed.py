"""Columns sharded across processes (bioglom.distributed): two gloo processes on the CPU
settle and learn exactly as one process does, in float64."""

from __future__ import annotations


import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.distributed import ShardedGlom, checkpoint_path, free_port, init_from_environment, join_local, plan_shard
from bioglom.learning import Batch, build_rule

BASE = dict(levels=3, dim=8, hidden=16, image_size=16, patch_size=2, channels=1)
CASES = {  # name: (config, rule, rule options)
    # sparse window (K = 9 <= N / 4), unshared, the decoder reading the gathered level 0
    "window unshared": (dict(radius=(1, 1, 1), columns="unshared", column_init="independent"),
                        "temporal_derivative", dict(hidden_credit="local_backprop")),
    # sparse Gaussian redrawn every step, feedback matrices sliced from the whole grid's
    "gaussian resampled": (dict(neighbourhood="gaussian", gaussian_k=3, gaussian_sigma=0.5, gaussian_resample=True,
                                columns="unshared", column_init="independent", td_location=True),
                           "delta", dict(hidden_credit="feedback_alignment", frontend="fixed")),
    # the anti-collapse terms with each column's own unit statistics: local to a shard
    "window unshared, LPL per column": (dict(radius=(1, 1, 1), columns="unshared", column_init="independent"),
                                        "temporal_derivative", dict(hidden_credit="local_backprop", variance_weight=0.1,
                                                                    decorrelation_weight=1.0, stats_per="column")),
    # a dense mask (K = 49 > N / 4) and shared nets, whose update is summed over processes
    "window shared dense": (dict(radius=(1, 2, 3), columns="shared"), "temporal_derivative", {}),
}


def _images(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 16, 16, generator=gen, dtype=torch.float64)
    return Batch(x, x * (torch.rand(x.shape, generator=gen, dtype=torch.float64) > 0.2), torch.ones_like(x))


def _run(model, batch):
    """Settle 4 steps and take one local update; what the comparison reads."""
    with torch.no_grad():
        traj = model.settle(batch.corrupted, 4, generator=torch.Generator().manual_seed(5), detach=True)
    return traj.states


def _worker(rank, world, port, out):
    torch.set_num_threads(1)
    join_local(rank, world, port)
    results = {}
    for name, (cfg_kw, rule, opts) in CASES.items():
        shard = ShardedGlom(Glom(GlomConfig(**BASE, **cfg_kw)).double(), rank, world)
        batch = _images()
        states = shard.gather(_run(shard, batch), dim=3)
        sent = shard.bytes_sent
        shard.zero_grad(set_to_none=True)
        build_rule(rule, steps=3, **opts).accumulate(shard, batch, generator=torch.Generator().manual_seed(6))
        shard.reduce_grads()
        grads = {}
        for k, p in shard.named_parameters():
            if p.grad is None:
                continue
            unshared = k.startswith("nets.") and not getattr(shard.nets, k.split(".")[1]).shared
            grads[k] = shard.gather(p.grad, dim=1) if unshared else p.grad
        results[name] = (states, grads, sent, shard.shard.halo)
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def test_two_processes_settle_and_learn_as_one(tmp_path):
    """Two gloo processes, each holding half the rows of the column grid, give the
    single-process states after 4 settling steps and the single-process local update
    (rtol 1e-10, float64), for a sparse window, a resampled sparse Gaussian with feedback
    alignment, and a dense mask with shared nets; and each step sends exactly the halo."""
    out = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    results = torch.load(out)
    for name, (cfg_kw, rule, opts) in CASES.items():
        states, grads, sent, halo = results[name]
        model = Glom(GlomConfig(**BASE, **cfg_kw)).double()
        batch = _images()
        torch.testing.assert_close(states, _run(model, batch), rtol=1e-10, atol=1e-12, msg=name)
        model.zero_grad(set_to_none=True)
        build_rule(rule, steps=3, **opts).accumulate(model, batch, generator=torch.Generator().manual_seed(6))
        want = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
        assert set(grads) == set(want), name
        for k in want:
            torch.testing.assert_close(grads[k], want[k], rtol=1e-10, atol=1e-13, msg=f"{name}: {k}")
        # rank 0 sends its last `halo` rows (8 columns each) of 3 images x 3 levels x 8 dims per step
        assert sent == 4 * halo * 8 * 3 * 3 * 8 * 8, name


def test_bad_distributed_setups_name_the_problem(monkeypatch):
    cfg = GlomConfig(**BASE, radius=1)
    with pytest.raises(ConfigError, match=r"world size 3 does not divide the column grid's 8 rows.*1, 2, 4, 8"):
        plan_shard(cfg, 0, 3)
    with pytest.raises(ConfigError, match="rank 2 is not allowed"):
        plan_shard(cfg, 2, 2)
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="WORLD_SIZE, MASTER_ADDR, MASTER_PORT are not set; launch with torchrun"):
        init_from_environment()
    from bioglom.distributed import ShardedRule
    with pytest.raises(ConfigError, match="stats_per='level' is not allowed with the anti-collapse terms on"):
        ShardedRule(build_rule("temporal_derivative", variance_weight=0.1, stats_per="level"))
    ShardedRule(build_rule("temporal_derivative", stats_per="level"))  # no terms: nothing to share


def test_halo_rows_follow_the_neighbourhood():
    assert plan_shard(GlomConfig(**BASE, radius=(1, 2, 3)), 0, 2).halo == 3
    assert plan_shard(GlomConfig(**BASE, neighbourhood="gaussian", gaussian_k=3, gaussian_sigma=0.5), 0, 2).halo == 2
    assert plan_shard(GlomConfig(**BASE, neighbourhood="gaussian", gaussian_k=3), 0, 2, dense=True).halo == 8
    assert plan_shard(GlomConfig(**BASE, neighbourhood="full"), 0, 2).halo == 8
    shard = plan_shard(GlomConfig(**BASE, radius=(1, 2, 3)), 1, 4)  # rows 2..4 read rows 0..7
    assert shard.exchange() == ({0: (2, 4), 2: (2, 4), 3: (3, 4)}, {0: (0, 2), 2: (4, 6), 3: (6, 7)})


def test_resume_refuses_a_checkpoint_of_another_process_layout(tmp_path):
    """--resume with another number of processes (or none) than the checkpoints were written
    with names them instead of starting afresh; the same layout, or no checkpoint, is fine."""
    (tmp_path / "seed0-run.pt").write_bytes(b"")
    assert checkpoint_path(tmp_path, "seed0-run", 0, 1, False, True) == tmp_path / "seed0-run.pt"
    with pytest.raises(ConfigError, match=r"seed0-run.pt .*another process layout.*--distributed with 2 processes"):
        checkpoint_path(tmp_path, "seed0-run", 1, 2, True, True)
    assert checkpoint_path(tmp_path, "seed0-run", 1, 2, True, False).name == "seed0-run.rank1of2.pt"
    (tmp_path / "seed0-other.rank0of4.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"seed0-other.rank0of4.pt .*one process"):
        checkpoint_path(tmp_path, "seed0-other", 0, 1, False, True)
    assert checkpoint_path(tmp_path, "seed0-new", 0, 2, True, True).name == "seed0-new.rank0of2.pt"
