"""Columns sharded across processes by rows of the column grid (paper 12.1's "giant
distillery": one set of nets per location, too many for one device).

Process ``r`` of ``P`` holds the rows ``[r H/P, (r+1) H/P)`` of the ``H x W`` column grid:
those columns' states, inputs and, for unshared columns, their nets. Everything a column
computes is local except lateral attention, which reads the states of the columns in
its neighbourhood. So before each settling step every process receives, from the
processes that hold them, the rows its neighbourhoods reach (the halo):

- ``window``: the ``R = max(radius)`` rows above and below its own;
- ``gaussian``: the rows within the radius :func:`~bioglom.attention.gaussian_radius`
  inside which the sparse draw picks neighbours (any draw, so resampling each step needs
  no new plan); where a model keeps a dense Gaussian mask (small grids) a neighbour may be
  anywhere, and every row is gathered;
- ``full``: every row.

The exchange is point-to-point (``isend``/``irecv``: gloo on the CPU, NCCL on the GPU)
and its size is counted (:attr:`ShardedGlom.bytes_sent`). A local rule's update of
unshared nets needs no communication beyond these states: every term it sums is a
column's own. Shared nets sum their update over processes (:meth:`ShardedGlom.reduce_grads`).
The decoder, which reads the whole level 0, gathers it.

Launch with ``torchrun --nproc-per-node K script.py ...`` (one machine) or with
``--nnodes``/``--rdzv-endpoint`` (several); :func:`init_from_environment` reads the
rendezvous variables torchrun sets.
"""

from __future__ import annotations

import copy
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .attention import Neighbours, gaussian_mask, gaussian_neighbours, gaussian_radius, neighbours_from_mask
from .config import ConfigError, GlomConfig
from .learning.base import RuleOutput
from .model import Glom

__all__ = ["RENDEZVOUS", "init_from_environment", "join_local", "checkpoint_path", "RowShard", "plan_shard", "halo_rows", "ShardedGlom", "ShardedRule"]

RENDEZVOUS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init_from_environment(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` set up; return ``(rank, world size)``.

    Raises :class:`ConfigError` naming every missing rendezvous variable (a script run
    with ``--distributed`` but without torchrun). ``backend``: ``nccl`` where CUDA is
    available, else ``gloo``, unless given.
    """
    missing = [v for v in RENDEZVOUS if not os.environ.get(v)]
    if missing:
        raise ConfigError(f"distributed: the rendezvous variable(s) {', '.join(missing)} are not set; "
                          "launch with torchrun --nproc-per-node K (it sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)")
    if not dist.is_initialized():
        import datetime

        wait = float(os.environ.get("BIOGLOM_DIST_TIMEOUT", "120"))
        rank, world = os.environ["RANK"], os.environ["WORLD_SIZE"]
        try:
            dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"),
                                    timeout=datetime.timedelta(seconds=wait))
        except Exception as e:  # the store's timeout surfaces as one of several torch errors
            where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
            raise ConfigError(f"distributed: rank {rank} of {world} waited {wait:g} s at {where} and not every rank "
                              f"0..{int(world) - 1} joined ({type(e).__name__}); start the missing ranks, or set "
                              "BIOGLOM_DIST_TIMEOUT (seconds) to wait longer") from None
    return dist.get_rank(), dist.get_world_size()


def join_local(rank: int, world: int, port: int, backend: str = "gloo") -> tuple[int, int]:
    """Join a process group of ``world`` processes on this machine (rendezvous at
    127.0.0.1:``port``), as torchrun would set it up: for processes started with
    ``torch.multiprocessing`` (tests, benchmarks). Pick ``port`` with :func:`free_port`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    return init_from_environment(backend)


def free_port() -> int:
    """A TCP port free on this machine now, for :func:`join_local`'s rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkpoint_path(folder: Path, name: str, rank: int, world: int, distributed: bool, resume: bool) -> Path:
    """The checkpoint of run ``name`` for this process: ``NAME.pt``, or ``NAME.rankRofP.pt``
    when distributed (each process holds its own rows). With ``resume``, a checkpoint of
    the same run written under another process layout (single-process, or another number
    of processes) raises :class:`ConfigError` naming it, instead of a fresh start that
    would ignore ``--resume``."""
    mine = folder / (f"{name}.rank{rank}of{world}.pt" if distributed else f"{name}.pt")
    if resume and not mine.exists():
        others = sorted(p.name for p in folder.glob(f"{name}*.pt")
                        if p.name == f"{name}.pt" or p.name.startswith(f"{name}.rank"))
        if others:
            layout = f"--distributed with {world} processes" if distributed else "one process"
            raise ConfigError(f"resume=True: checkpoint(s) {', '.join(others)} in {folder} were written under another "
                              f"process layout than this run's ({layout}); resume with that layout or use another --out")
    return mine


def halo_rows(cfg: GlomConfig, dense: bool) -> int:
    """How many grid rows above and below its own a shard must receive (module docstring).
    ``dense``: the model holds its neighbourhood as an ``[L, N, N]`` mask."""
    h = cfg.grid[0]
    if cfg.neighbourhood == "window":
        return min(max(cfg.radii), h)
    if cfg.neighbourhood == "gaussian" and not dense:
        return min(max(gaussian_radius(cfg.grid, k, s) for k, s in zip(cfg.gaussian_ks, cfg.gaussian_sigmas)), h)
    return h


@dataclass(frozen=True)
class RowShard:
    """Rows ``[row0, row1)`` of a ``grid`` held by process ``rank`` of ``world``, and the
    rows ``[ctx0, ctx1)`` its lateral attention reads (its own plus the halo)."""

    rank: int
    world: int
    grid: tuple[int, int]
    halo: int

    @property
    def rows_per_shard(self) -> int:
        return self.grid[0] // self.world

    def rows(self, rank: int | None = None) -> tuple[int, int]:
        r = self.rank if rank is None else rank
        return r * self.rows_per_shard, (r + 1) * self.rows_per_shard

    def context(self, rank: int | None = None) -> tuple[int, int]:
        r0, r1 = self.rows(rank)
        return max(0, r0 - self.halo), min(self.grid[0], r1 + self.halo)

    @property
    def columns(self) -> slice:
        r0, r1 = self.rows()
        return slice(r0 * self.grid[1], r1 * self.grid[1])

    def exchange(self) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
        """``(send, receive)``: for every other process, the rows (absolute, ``[a, b)``) this
        one sends to it and receives from it; processes with nothing to exchange are left out."""
        send, receive = {}, {}
        for other in range(self.world):
            if other == self.rank:
                continue
            mine, theirs = self.rows(), self.rows(other)
            c0, c1 = self.context(other)
            a, b = max(mine[0], c0), min(mine[1], c1)
            if a < b:
                send[other] = (a, b)
            c0, c1 = self.context()
            a, b = max(theirs[0], c0), min(theirs[1], c1)
            if a < b:
                receive[other] = (a, b)
        return send, receive


def plan_shard(cfg: GlomConfig, rank: int, world: int, dense: bool = False) -> RowShard:
    """The rows of process ``rank`` of ``world``; :class:`ConfigError` naming the world size
    when it does not divide the grid's rows."""
    h = cfg.grid[0]
    if isinstance(world, bool) or not isinstance(world, int) or world < 1 or h % world:
        allowed = [p for p in range(1, h + 1) if h % p == 0]
        raise ConfigError(f"distributed: world size {world!r} does not divide the column grid's {h} rows "
                          f"(grid {cfg.grid}); allowed are {', '.join(map(str, allowed))} processes")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world:
        raise ConfigError(f"distributed: rank {rank!r} is not allowed; it must be an integer from 0 to {world - 1}")
    return RowShard(rank, world, cfg.grid, halo_rows(cfg, dense))


def _shard_nets(nets: nn.Module, columns: slice, n_columns: int) -> nn.Module:
    """A copy of ``ColumnNets`` holding only ``columns``: unshared weights (``[g, N, ...]``)
    and the location encoding are sliced; shared nets are copied whole."""
    mine = copy.deepcopy(nets)
    with torch.no_grad():
        for mlp in (mine.bu, mine.td):
            if mlp.shared:
                continue
            for name, p in list(mlp.named_parameters(recurse=False)):
                setattr(mlp, name, nn.Parameter(p[:, columns].clone()))
            mlp.columns = columns.stop - columns.start
            mlp.shard = (columns, n_columns)  # feedback matrices draw the whole grid's and keep these columns
    mine.location = nets.location[columns].clone()
    return mine


class ShardedGlom(Glom):
    """The part of a :class:`~bioglom.model.Glom` that process ``rank`` of ``world`` holds
    (module docstring): settles like the whole model, on its rows only.

    Build it on every process from the same model (same config and seed, or the same
    checkpoint): ``ShardedGlom(Glom(cfg), rank, world)``. :meth:`settle` returns states
    ``[.., b, L, N/P, D]`` of its own columns; :meth:`gather` joins a tensor of columns
    from all processes. Local rules train it unchanged (``rule.accumulate(sharded,
    batch)``), under ``torch.no_grad`` settling; backpropagation through time does not
    cross processes, and is refused.
    """

    def __init__(self, model: Glom, rank: int, world: int, group=None):
        nn.Module.__init__(self)
        cfg = model.cfg
        self.cfg, self.group = cfg, group
        self.shard = plan_shard(cfg, rank, world, dense=not model.sparse)
        cols = self.shard.columns
        self.frontend, self.decoder, self.retina = model.frontend, model.decoder, model.retina
        self.nets = _shard_nets(model.nets, cols, cfg.n_columns)
        self.sparse, self._dense_draw = True, not model.sparse
        full = model.neighbourhood if model.sparse else neighbours_from_mask(model.mask)
        index, valid = self._local(full)
        self.register_buffer("neighbour_index", index, persistent=True)
        self.register_buffer("neighbour_valid", valid, persistent=True)
        self.bytes_sent = 0  # by this process, in every settling step so far
        self.steps_exchanged = 0

    def _local(self, full: Neighbours) -> tuple[torch.Tensor, torch.Tensor]:
        """This shard's rows of a whole-grid neighbourhood, indexing its context (own rows and halo)."""
        offset = self.shard.context()[0] * self.cfg.grid[1]
        cols = self.shard.columns
        return (full.index[:, cols] - offset).contiguous(), full.valid[:, cols].contiguous()

    @property
    def rank(self) -> int:
        return self.shard.rank

    @property
    def world(self) -> int:
        return self.shard.world

    def step_neighbourhood(self, generator: torch.Generator | None = None):
        """As :meth:`Glom.step_neighbourhood`; a resampled Gaussian neighbourhood is drawn
        for the whole grid from the same generator on every process (so all draw alike)
        and this shard keeps its rows."""
        cfg = self.cfg
        if cfg.neighbourhood == "gaussian" and cfg.gaussian_resample:
            if self._dense_draw:
                full = neighbours_from_mask(gaussian_mask(cfg.grid, cfg.gaussian_ks, cfg.gaussian_sigmas, generator))
            else:
                full = gaussian_neighbours(cfg.grid, cfg.gaussian_ks, cfg.gaussian_sigmas, generator)
            return Neighbours(*self._local(full)).to(self.device)
        return self.neighbourhood

    def lateral_context(self, state: torch.Tensor) -> torch.Tensor:
        """``state [b, L, N/P, D]`` of this shard with the halo rows received from the others
        (module docstring): ``[b, L, columns of rows ctx0..ctx1, D]``."""
        if state.requires_grad:
            raise ConfigError("distributed: backpropagation through settling does not cross processes; "
                              "settle a ShardedGlom under torch.no_grad (local rules do)")
        w = self.cfg.grid[1]
        r0, r1 = self.shard.rows()
        c0, c1 = self.shard.context()
        send, receive = self.shard.exchange()
        ops, parts = [], {}
        for other, (a, b) in send.items():
            chunk = state[:, :, (a - r0) * w:(b - r0) * w].contiguous()
            self.bytes_sent += chunk.numel() * chunk.element_size()
            ops.append(dist.P2POp(dist.isend, chunk, other, self.group))
        for other, (a, b) in receive.items():
            parts[a] = state.new_empty(state.shape[0], state.shape[1], (b - a) * w, state.shape[3])
            ops.append(dist.P2POp(dist.irecv, parts[a], other, self.group))
        if ops:
            for request in dist.batch_isend_irecv(ops):
                request.wait()
        self.steps_exchanged += 1
        parts[r0] = state
        rows = sorted(parts)
        context = torch.cat([parts[a] for a in rows], dim=2)
        assert rows[0] == c0 and context.shape[2] == (c1 - c0) * w, "halo rows do not tile the context"
        return context

    def bytes_per_step(self) -> float:
        """Bytes all processes together sent per settling step so far (a collective: every
        process calls it); 0 before the first step."""
        total = torch.tensor([float(self.bytes_sent)], dtype=torch.float64, device=self.device)
        dist.all_reduce(total, group=self.group)
        return float(total) / max(self.steps_exchanged, 1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The front end's output for this shard's columns, ``[b, N/P, D]`` (every process
        runs the shared front end on the whole image)."""
        return super().encode(images)[:, self.shard.columns]

    def gather(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Join ``x``, this shard's columns along ``dim``, with every other shard's, in grid order."""
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.contiguous(), group=self.group)
        return torch.cat(parts, dim=dim)

    def decode(self, level0: torch.Tensor) -> torch.Tensor:
        """The decoder on the whole grid's level 0: ``level0`` is this shard's columns
        (gathered from every shard first) or already the whole grid's (the front end's output)."""
        if level0.shape[1] != self.cfg.n_columns:
            level0 = self.gather(level0, dim=1)
        return self.decoder(level0)

    def reduce_grads(self) -> None:
        """Sum the update of shared column nets over processes (each computed its columns'
        part). Unshared nets, and the front end and decoder (which every process trains
        alike on the whole image), need nothing."""
        for mlp in (self.nets.bu, self.nets.td):
            if not mlp.shared:
                continue
            for p in mlp.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad, group=self.group)

    @torch.no_grad()
    def assemble(self, into: Glom) -> Glom:
        """Copy the whole model, every shard's columns gathered, into ``into`` (a
        :class:`Glom` of the same config; on every process, as every process must take
        part): for evaluations that read the whole grid. Returns ``into``."""
        for name, mine in self.nets.named_parameters():
            theirs = into.nets.get_parameter(name)
            mlp = self.nets.get_submodule(name.rsplit(".", 1)[0])
            theirs.copy_(mine if mlp.shared else self.gather(mine, dim=1))
        if into.frontend is not self.frontend:
            into.frontend.load_state_dict(self.frontend.state_dict())
            into.decoder.load_state_dict(self.decoder.state_dict())
        return into


class ShardedRule:
    """A learning rule run on a :class:`ShardedGlom`: the rule's own update of this shard,
    the shared nets' update summed over processes, and its scalar metrics averaged over
    processes (shards hold equally many columns, so the average is the whole grid's)."""

    def __init__(self, rule):
        if getattr(rule, "name", "") == "backprop":
            raise ConfigError("distributed: rule='backprop' is not allowed; backpropagation through time does not "
                              "cross processes: use a local rule (delta, temporal_derivative)")
        terms = getattr(rule, "variance_weight", 0) > 0 or getattr(rule, "decorrelation_weight", 0) > 0
        if terms and getattr(rule, "stats_per", "column") == "level":
            # a shard would take its unit statistics over its own columns only, not the grid's
            raise ConfigError("distributed: stats_per='level' is not allowed with the anti-collapse terms on; each "
                              "process sees only its rows of columns, so use stats_per='column' (each column's own "
                              "statistics) or variance_weight=0 and decorrelation_weight=0")
        self.rule = rule

    def __getattr__(self, name):
        return getattr(self.rule, name)

    def accumulate(self, model: ShardedGlom, batch, generator=None, phase: str = "both") -> RuleOutput:
        out = self.rule.accumulate(model, batch, generator, phase)
        model.reduce_grads()
        names = [k for k, v in out.metrics.items() if isinstance(v, float)]
        values = torch.tensor([float(out.loss)] + [out.metrics[k] for k in names], dtype=torch.float64,
                              device=model.device)
        dist.all_reduce(values, group=model.group)
        values = (values / model.world).tolist()
        metrics = {**out.metrics, **dict(zip(names, values[1:]))}
        return RuleOutput(torch.tensor(values[0]), metrics, out.trajectory)
