"""Islands: groups of near-identical embeddings at one level (the nodes of the parse, paper 1).

Two kinds are extracted: threshold islands, which need not be spatially connected (two
columns are in the same island when their vectors agree, wherever they are), and
connected islands, which must also be joined by a path of adjacent columns of the same
island, as the paper's islands of agreement are drawn.
"""

from __future__ import annotations

import torch

__all__ = ["extract_islands", "connected_islands", "adjusted_rand_index", "island_sizes", "island_counts", "island_scores",
           "foreground_ari", "raw_pixel_islands", "threshold_sweep", "choose_thresholds", "THRESHOLDS",
           "PAIR_ELEMENTS", "pair_rows"]

# cosine thresholds searched when an island threshold is chosen on validation scenes
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def extract_islands(state: torch.Tensor, threshold=0.9, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Greedy cosine-threshold islands, per sample and level, all at once.

    For ``state [..., N, D]``, repeatedly take the first column (in row-major order) not yet
    in an island as a seed and put every unassigned column whose cosine similarity to the
    seed is at least ``threshold`` into the seed's island. ``threshold`` is a number, or a
    tensor broadcastable to the leading axes (one threshold per level, say). Returns ``[..., N]`` int64
    island ids ``0, 1, ...`` in order of their seeds. Deterministic: no random projection.

    With ``grid = (H, W)`` (``N = H W``, row-major) the islands must also be spatially
    connected, as the paper draws them: each threshold island is split into its
    4-connected pieces on the column grid (:func:`connected_islands`).
    """
    unit = torch.nn.functional.normalize(state.detach().double(), dim=-1, eps=1e-12)
    lead, n = unit.shape[:-2], unit.shape[-2]
    threshold = torch.as_tensor(threshold, dtype=torch.float64, device=unit.device)
    threshold = threshold.expand(lead).reshape(-1, 1) if threshold.dim() else threshold.reshape(1, 1)
    unit = unit.reshape(-1, n, unit.shape[-1])
    threshold = threshold.expand(len(unit), 1)
    step = pair_rows(len(unit), n * n)  # the [rows, n, n] similarities a chunk at a time: large grids fit
    chunks = [_greedy(unit[i:i + step], threshold[i:i + step]) for i in range(0, len(unit), step)]
    labels = torch.cat(chunks).reshape(*lead, n) if chunks else unit.new_empty(*lead, n, dtype=torch.long)
    if grid is not None:
        return connected_islands(labels, grid)
    # renumber so that ids are 0..count-1 within each sample and level
    return _renumber(labels)


# elements of the [rows, n, n] pair tensors an analysis holds at once (256 MB in float64); below it, one chunk
PAIR_ELEMENTS = 2**25


def pair_rows(rows: int, per_row: int) -> int:
    """How many of ``rows`` leading rows to take at a time when each holds ``per_row`` pair
    elements: all of them where they fit in :data:`PAIR_ELEMENTS` (the result is then
    computed as one tensor), else as many as fit, at least one."""
    return max(1, min(rows, PAIR_ELEMENTS // max(per_row, 1)))


def _greedy(unit: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Greedy threshold islands of unit states ``[r, n, d]`` with thresholds ``[r, 1]``:
    ``[r, n]`` ids numbered by pass (see :func:`extract_islands`)."""
    n = unit.shape[-2]
    labels = torch.full(unit.shape[:-1], -1, dtype=torch.long, device=unit.device)
    sims = unit @ unit.transpose(-1, -2)  # r n m
    for k in range(n):  # one island per pass, for every row in parallel; at most N passes
        free = labels < 0
        if not free.any():
            break
        seed = free.float().argmax(-1, keepdim=True)  # r 1: first unassigned column
        sim_to_seed = torch.gather(sims, -2, seed[..., None].expand(*seed.shape, n)).squeeze(-2)  # r m
        join = free & (sim_to_seed >= threshold) & free.any(-1, keepdim=True)
        join.scatter_(-1, seed, free.gather(-1, seed))  # the seed joins even if its own similarity rounds below
        labels = torch.where(join, torch.full_like(labels, k), labels)
    return labels


def connected_islands(labels: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Split every island of ``labels [..., N]`` into its 4-connected pieces on the column
    grid ``(H, W)``: two columns stay in one island only when a path of 4-adjacent columns
    of that island joins them. Ids ``0, 1, ...`` in row-major order of first appearance."""
    from ..components import grid_components, renumber

    h, w = grid
    if labels.shape[-1] != h * w:
        raise ValueError(f"labels have {labels.shape[-1]} columns; grid {grid} has {h * w}")
    g = labels.reshape(*labels.shape[:-1], h, w)
    comp = grid_components(torch.ones_like(g, dtype=torch.bool), g[..., :, :-1] == g[..., :, 1:],
                           g[..., :-1, :] == g[..., 1:, :])
    return renumber(comp.reshape(labels.shape))


def _renumber(labels: torch.Tensor) -> torch.Tensor:
    flat = labels.reshape(-1, labels.shape[-1])
    present = torch.zeros(flat.shape[0], int(flat.max()) + 1, dtype=torch.long, device=flat.device)
    present.scatter_(1, flat, 1)
    rank = present.cumsum(1) - 1
    return rank.gather(1, flat).reshape(labels.shape)


def adjusted_rand_index(truth: torch.Tensor, pred: torch.Tensor, include: torch.Tensor | None = None) -> torch.Tensor:
    """Adjusted Rand index (Hubert & Arabie 1985) of two labelings ``[..., N]``, per leading index.

    ``ARI = (sum_ij C(n_ij, 2) - E) / ((sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2 - E)`` with
    ``E = sum_i C(a_i, 2) sum_j C(b_j, 2) / C(n, 2)``, ``n_ij`` the contingency table and
    ``a, b`` its margins. Two single-cluster labelings score 1 (as scikit-learn does).

    ``include`` (bool, broadcastable to ``[..., N]``): count only those columns, so ``n``
    is their number; where fewer than 2 columns are included the ARI is NaN (undefined).
    """
    t = truth.reshape(-1, truth.shape[-1]).long()
    p = pred.reshape(-1, pred.shape[-1]).long()
    m, n = t.shape
    if include is None:
        w = torch.ones_like(t, dtype=torch.float64)
    else:
        w = include.expand(truth.shape).reshape(m, n).to(torch.float64)
    kt, kp = int(t.max()) + 1, int(p.max()) + 1
    cont = torch.zeros(m, kt * kp, dtype=torch.float64, device=t.device)
    cont.scatter_add_(1, t * kp + p, w)
    cont = cont.view(m, kt, kp)

    def comb2(x):
        return x * (x - 1) / 2

    index = comb2(cont).sum((1, 2))
    a, b = comb2(cont.sum(2)).sum(1), comb2(cont.sum(1)).sum(1)
    expected = a * b / comb2(w.sum(1)).clamp_min(1.0)
    max_index = (a + b) / 2
    denom = max_index - expected
    ari = torch.where(denom == 0, torch.ones_like(denom), (index - expected) / torch.where(denom == 0, 1.0, denom))
    ari = torch.where(w.sum(1) < 2, torch.full_like(ari, float("nan")), ari)
    return ari.reshape(truth.shape[:-1])


def foreground_ari(truth: torch.Tensor, pred: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """ARI over foreground columns only: :func:`adjusted_rand_index` with ``include =
    foreground``. Background is most of a scene, and any foreground/background split
    scores high on it, so the parse is scored where the objects are. NaN for a scene with
    fewer than 2 foreground columns."""
    return adjusted_rand_index(truth, pred, foreground.bool())


def raw_pixel_islands(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The model-free baseline: columns grouped by identical input patches, ``[B, N]``.

    Two columns share an island exactly when their ``patch_size x patch_size`` patches
    are equal in every pixel and channel. Ids are numbered in order of first appearance
    (row-major), as :func:`extract_islands` numbers them.
    """
    from ..frontend import patchify

    patches = patchify(images, patch_size)  # b n (c py px)
    out = []
    for img in patches:  # per image: torch.unique has no batched form
        _, inverse = torch.unique(img, dim=0, return_inverse=True)
        out.append(inverse)
    return _by_first_appearance(torch.stack(out))


def _by_first_appearance(labels: torch.Tensor) -> torch.Tensor:
    """Renumber ``[b, n]`` ids so that they count up in order of first appearance."""
    b, n = labels.shape
    pos = torch.arange(n, device=labels.device).expand(b, n)
    first = torch.full((b, int(labels.max()) + 1), n, dtype=torch.long, device=labels.device)
    first.scatter_reduce_(1, labels, pos, reduce="amin")  # b k: first column of each id
    rank = first.argsort(1).argsort(1)  # b k: order of first appearance
    return rank.gather(1, labels)


def threshold_sweep(states: torch.Tensor, truth: torch.Tensor, foreground: torch.Tensor,
                    thresholds=THRESHOLDS, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Foreground ARI of :func:`extract_islands` at each threshold: ``[T, ...]`` for
    ``states [..., N, D]``, ``truth`` and ``foreground`` broadcastable to ``[..., N]``
    (``grid``: connected islands)."""
    return torch.stack([foreground_ari(truth.expand(states.shape[:-1]), extract_islands(states, th, grid),
                                       foreground.expand(states.shape[:-1])) for th in thresholds])


def choose_thresholds(states: torch.Tensor, truth: torch.Tensor, foreground: torch.Tensor,
                      thresholds=THRESHOLDS, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """The threshold with the highest mean foreground ARI on validation scenes, per level.

    ``states [B, L, N, D]``, ``truth [B, L, N]``, ``foreground [B, N]`` or ``[B, L, N]``.
    Returns ``[L]`` thresholds, to be applied to other (test) scenes, so the island
    extraction does not hinge on one fixed threshold nor on the test set. ``grid``: for
    connected islands (:func:`extract_islands`).
    """
    fg = foreground if foreground.dim() == 3 else foreground[:, None].expand(truth.shape)
    sweep = threshold_sweep(states, truth, fg, thresholds, grid)  # t b l
    best = sweep.nanmean(1).argmax(0)  # l
    return torch.tensor(thresholds, dtype=torch.float64)[best]


def island_counts(labels: torch.Tensor) -> torch.Tensor:
    """Number of islands per leading index of ``labels [..., N]`` (ids 0..k-1)."""
    return labels.amax(-1) + 1


def island_sizes(labels: torch.Tensor) -> torch.Tensor:
    """Mean island size in columns, ``N / count``, per leading index."""
    return labels.shape[-1] / island_counts(labels).double()


def island_scores(states: torch.Tensor, truth: torch.Tensor, threshold: float = 0.9):
    """Islands of every state in a trajectory scored against ground truth.

    Parameters
    ----------
    states : ``[S+1, B, L, N, D]`` (``Trajectory.states``).
    truth : ``[B, L, N]`` ground-truth segment ids per level.
    threshold : cosine threshold of :func:`extract_islands`.

    Returns
    -------
    islands ``[S+1, B, L, N]``, ari ``[S+1, B, L]`` and island counts ``[S+1, B, L]``.
    """
    islands = extract_islands(states, threshold)
    ari = adjusted_rand_index(truth.expand(islands.shape[0], *truth.shape).to(islands.device), islands)
    return islands, ari, island_counts(islands)
