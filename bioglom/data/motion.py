"""Motion segments from the pixels: which columns move together (no label, no model).

Paper section 7: a location "needs to decide which other locations its level-L embedding
should be similar to", and the trajectories of patches in video can decide it. Between
two consecutive frames ``prev`` and ``cur`` of a clip whose background is static:

1. **Block matching per pixel.** For every integer displacement ``v`` with
   ``max(|vy|, |vx|) <= max_shift``, the residual ``R_v(x) = max_c |cur(x) - prev(x - v)|``
   (infinite where ``x - v`` falls outside the image); ``v`` *explains* ``x`` when
   ``R_v(x) <= tol``. A static pixel is explained by ``v = 0``.
2. **Layers against the aperture problem.** Inside a uniform region many displacements
   explain a pixel, so single pixels cannot choose; regions vote instead. The pixels some
   nonzero ``v`` explains are moving (static noise is explained by ``v = 0`` alone), and
   they fall into connected regions: one per object where objects are apart. Within a
   region, the ``v`` that explains most of its pixels is a layer, the pixels it explains
   leave the vote, and the next layer of the region is found the same way while a ``v``
   explains at least ``min_pixels`` of what is left; a layer that explains nothing the
   region's other layers do not is dropped. A rigid object is explained whole by its own
   velocity only, since any other fails at its border with the background.
3. **Assignment.** A pixel joins the layer whose velocity alone explains it; where several
   layers' velocities explain it, it takes the label of a 4-neighbour whose velocity also
   explains it (region growing from the unambiguous pixels), and failing that the first
   (most supported) of them; where none does, it is static (label 0).
4. **Columns.** The label covering most of a column's patch (ties: static).

A rigidly moving object is explained, pixel for pixel, by its own velocity; background
noise by 0 only. So an object whose velocity differs from the others' becomes one segment,
a static object mostly merges with the background, and two touching objects with one
velocity share a segment. Not perfectly: a uniform interior fits nonzero shifts too, so on
the 16 px clips 7 % of the columns of a still object apart from the others, and more of
one touching a moving object (its interior joins the moving region), fall into a segment
(tests/test_motion.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..components import mask_components, renumber
from ..config import ConfigError, check_positive
from .scenes import patch_majority

__all__ = ["shifts", "motion_residuals", "motion_layers", "motion_segments", "part_and_object_segments", "motion_batch"]


def shifts(max_shift: int) -> torch.Tensor:
    """The displacements searched, ``[V, 2]`` int64 ``(vy, vx)``, row-major from
    ``(-max_shift, -max_shift)``; ``(0, 0)`` is at index ``V // 2``."""
    r = torch.arange(-max_shift, max_shift + 1)
    return torch.stack(torch.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)


def motion_residuals(prev: torch.Tensor, cur: torch.Tensor, max_shift: int = 2) -> torch.Tensor:
    """``R_v(x) = max_c |cur(x) - prev(x - v)|`` for every displacement of :func:`shifts`:
    ``[B, V, H, W]`` from frames ``[B, C, H, W]`` (infinite where ``x - v`` is outside)."""
    b, c, h, w = cur.shape
    m = max_shift
    padded = F.pad(prev, (m, m, m, m), value=float("nan"))  # b c (h+2m) (w+2m)
    out = []
    for vy, vx in shifts(m).tolist():  # (2m+1)^2 displacements, not columns
        moved = padded[:, :, m - vy:m - vy + h, m - vx:m - vx + w]  # prev(x - v)
        out.append((cur - moved).abs().amax(1))
    r = torch.stack(out, 1)  # b v h w
    return torch.nan_to_num(r, nan=float("inf"))


def _check(video, patch_size, max_shift, tol, min_pixels):
    from .masking import check_images

    check_images("video", video, "B, T, C, H, W")
    if video.shape[1] < 2:
        raise ConfigError(f"video has {video.shape[1]} frame (shape {tuple(video.shape)}); motion segments need "
                          "at least 2 frames")
    if patch_size is not None:
        check_positive("patch_size", patch_size, integer=True)
    check_positive("max_shift", max_shift, integer=True)
    check_positive("tol", tol, strict=False)
    check_positive("min_pixels", min_pixels, integer=True)


def _first_argmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x.argmax(dim)`` (the first maximum), taken along the last axis of a contiguous
    copy: ATen's argmax over an inner axis runs about 10x slower than over the last."""
    return x.movedim(dim, -1).contiguous().argmax(-1)


def _layers(explained: torch.Tensor, region: torch.Tensor, shift: torch.Tensor, min_pixels: int,
            max_layers: int) -> torch.Tensor:
    """Step 2: which pixels each layer's velocity explains, ``[B, K, H W]`` (all False for a
    layer a clip does not have).

    ``explained [B, V, H, W]`` over the nonzero displacements ``shift [V, 2]``;
    ``region [B, H, W]``: the connected region of moving pixels each pixel lies in (0:
    static). Within each region, a greedy cover: the displacement that explains most of the
    region's pixels not yet covered (ties: the smaller displacement) is a layer, while it
    covers at least ``min_pixels``; then a layer whose every pixel another layer of its
    region also explains is dropped (last found first), so a displacement that only fits
    uniform interiors does not stay."""
    b, v, h, w = explained.shape
    n = h * w
    flat = explained.reshape(b, v, n)
    comp = region.reshape(b, n)  # b n: ids 0..n
    prior = (2 * shift.abs().max() - shift.abs().sum(1)).to(flat.device)  # v: smaller displacements first
    uncovered = comp > 0
    layers = []  # per pass: b n, the pixels the chosen displacement of each pixel's region explains
    for _ in range(max_layers):  # one layer per region and pass, for every clip and region at once
        counts = torch.zeros(b, v, n + 1, dtype=torch.long, device=flat.device)
        counts.scatter_add_(2, comp[:, None].expand(b, v, n), (flat & uncovered[:, None]).long())  # b v region
        score = counts * (2 * int(prior.max()) + 1) + prior[None, :, None]
        best = _first_argmax(score, 1)  # b region
        ok = (counts.gather(1, best[:, None])[:, 0] >= min_pixels)  # b region
        ok[:, 0] = False  # region 0 is the static pixels
        if not ok.any():
            break
        choice, valid = best.gather(1, comp), ok.gather(1, comp)  # b n: per pixel, its region's choice
        layer = flat.gather(1, choice[:, None])[:, 0] & valid  # b n
        layers.append(layer)
        uncovered = uncovered & ~layer
    if not layers:
        return torch.zeros(b, 0, n, dtype=torch.bool, device=flat.device)
    cand = torch.stack(layers, 1)  # b k n
    for k in reversed(range(cand.shape[1])):  # reverse delete: drop layers their region's others cover
        others = torch.cat([cand[:, :k], cand[:, k + 1:]], 1).any(1)  # b n
        alone = torch.zeros(b, n + 1, dtype=torch.long, device=flat.device)
        alone.scatter_add_(1, comp, (cand[:, k] & ~others).long())  # b region: pixels only layer k explains
        present = torch.zeros_like(alone).scatter_add_(1, comp, cand[:, k].long()) > 0
        redundant = (present & (alone == 0)).gather(1, comp)  # b n
        cand[:, k] = cand[:, k] & ~redundant
    return cand


@torch.no_grad()
def motion_layers(video: torch.Tensor, *, max_shift: int = 2, tol: float = 1e-3, min_pixels: int = 2,
                  max_layers: int = 4) -> torch.Tensor:
    """Pixel labels of the last frame of ``video [B, T, C, H, W]``: ``[B, H, W]`` int64, 0
    static, ``1..K`` one per moving layer in row-major order of first appearance (module
    docstring, steps 1-3), from its last two frames."""
    _check(video, None, max_shift, tol, min_pixels)
    check_positive("max_layers", max_layers, integer=True)
    prev, cur = video[:, -2].float(), video[:, -1].float()
    b, _, h, w = cur.shape
    explained = motion_residuals(prev, cur, max_shift) <= tol  # b v h w
    zero = explained.shape[1] // 2
    nonzero = torch.arange(explained.shape[1]) != zero
    moving, shift = explained[:, nonzero], shifts(max_shift)[nonzero]  # b v' h w, v' 2
    region = mask_components(moving.any(1)).reshape(b, h * w)  # b n: connected regions a displacement explains
    # a region moves only where its pixels changed: a still uniform region fits any displacement
    changed = torch.zeros(b, h * w + 1, dtype=torch.long, device=video.device)
    changed.scatter_add_(1, region, (~explained[:, zero]).reshape(b, h * w).long())
    region = torch.where(changed.gather(1, region) >= min_pixels, region, torch.zeros_like(region)).reshape(b, h, w)
    cand = _layers(moving, region, shift, min_pixels, max_layers)  # b k n
    cand = cand & (region > 0).reshape(b, 1, h * w)
    k = cand.shape[1]
    if k == 0:
        return torch.zeros(b, h, w, dtype=torch.long, device=video.device)
    cand = cand.reshape(b, k, h, w)
    ids = torch.arange(1, k + 1, device=video.device)[None, :, None, None]
    count = cand.sum(1)  # b h w
    label = torch.where(count == 1, (cand * ids).sum(1), torch.zeros_like(count))
    label = torch.where(count > 1, torch.full_like(label, -1), label)  # -1: ambiguous
    for _ in range(h * w):  # region growing from the unambiguous pixels; stops when nothing changes
        amb = label < 0
        if not amb.any():
            break
        padded = F.pad(label[:, None].float(), (1, 1, 1, 1), value=0.0)[:, 0].long()  # b (h+2) (w+2)
        neigh = torch.stack([padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                             for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))], 1)  # b 4 h w
        # a neighbour's layer j is admissible where layer j's velocity explains the pixel
        admissible = ((neigh[:, :, None] == ids[:, None]) & cand[:, None]).any(1)  # b k h w
        first = torch.where(admissible.any(1), _first_argmax(admissible.float(), 1) + 1, torch.full_like(label, -1))
        new = torch.where(amb, first, label)
        if torch.equal(new, label):
            break
        label = new
    fallback = _first_argmax(cand.float(), 1) + 1  # the first layer found that explains the pixel
    label = torch.where(label < 0, fallback, label)
    # a layer is a (pass, region) pair: the pass's id alone would join regions of one pass
    layer = torch.where(label > 0, (label - 1) * (h * w + 1) + region, torch.zeros_like(label))
    return renumber(layer.reshape(b, h * w), keep_zero=True).reshape(b, h, w)


def motion_segments(video: torch.Tensor, patch_size: int, *, max_shift: int = 2, tol: float = 1e-3,
                    min_pixels: int = 2) -> torch.Tensor:
    """Column labels of the last frame of ``video [B, T, C, H, W]`` from motion alone:
    ``[B, N]`` int64, 0 for static columns, one id per moving layer (module docstring).

    Parameters
    ----------
    video : clips of at least 2 frames; only the last two are read.
    patch_size : pixels per column side.
    max_shift : largest displacement component searched, in pixels per frame.
    tol : largest residual that still counts as explained (0 for exact copies).
    min_pixels : fewest changed pixels a velocity must explain to become a layer.
    """
    _check(video, patch_size, max_shift, tol, min_pixels)
    return patch_majority(motion_layers(video, max_shift=max_shift, tol=tol, min_pixels=min_pixels), patch_size)


def part_and_object_segments(video: torch.Tensor, patch_size: int, *, max_shift: int = 2, tol: float = 1e-3,
                             min_pixels: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Motion segments of the last frame of ``video [B, T, C, H, W]`` (``T >= 3``) at two
    time scales (hierarchical common fate, paper section 7): ``(parts, objects)``, each
    ``[B, N]`` int64 as :func:`motion_segments` gives them.

    - ``parts``: from the last two frames, where a part that sways relative to its object
      (:func:`~bioglom.data.clips.make_moving_scenes`' ``articulation``) moves unlike the
      rest of it;
    - ``objects``: from the last frame and the one two before it, where a sway that
      returns every other frame has cancelled and every part of an object moved alike
      (displacements up to ``2 max_shift``).
    """
    _check(video, patch_size, max_shift, tol, min_pixels)
    if video.shape[1] < 3:
        raise ConfigError(f"video has {video.shape[1]} frames; motion at two time scales needs at least 3")
    parts = motion_segments(video[:, -2:], patch_size, max_shift=max_shift, tol=tol, min_pixels=min_pixels)
    objects = motion_segments(video[:, [-3, -1]], patch_size, max_shift=2 * max_shift, tol=tol, min_pixels=min_pixels)
    return parts, objects


def motion_batch(video: torch.Tensor, patch_size: int, levels: int, mask_count: int, generator: torch.Generator,
                 fill="token", max_shift: int = 2, colour_parts: bool = False, part_motion: bool = False):
    """A label-free training batch from clips ``video [B, T, C, H, W]``, read from the pixels
    alone: ``(clean, corrupted, keep, groups)``.

    The last frame is the still image the model learns on (``clean``); ``corrupted`` loses
    ``mask_count`` one-colour regions (:func:`~bioglom.data.masking.mask_uniform`, the
    parts, found without the parts map); ``groups [B, levels, N]`` holds the motion segments
    (:func:`motion_segments`) at every level above 0 and, at level 0, whose segments would
    be parts that motion does not tell apart, 0 (no group) or with ``colour_parts`` the
    one-colour regions of the clean frame (:func:`~bioglom.data.masking.uniform_regions`,
    column by column). With ``part_motion`` (clips of at least 3 frames) level 0 holds the
    part-scale segments and the levels above the object-scale ones
    (:func:`part_and_object_segments`). Nothing but ``video`` is read, so no ground-truth
    label can enter.
    """
    from .masking import mask_uniform, uniform_regions

    check_positive("levels", levels, integer=True)
    if levels < 2:
        raise ConfigError(f"levels={levels!r} is not allowed; groups are for a model of at least 2 levels")
    clean = video[:, -1]
    corrupted, keep = mask_uniform(clean, mask_count, generator, fill=fill)
    if colour_parts and part_motion:
        raise ConfigError("colour_parts=True is not allowed with part_motion=True; level 0 learns from one of them")
    if part_motion:
        level0, seg = part_and_object_segments(video, patch_size, max_shift=max_shift)
    else:
        seg = motion_segments(video, patch_size, max_shift=max_shift)  # b n
        level0 = patch_majority(uniform_regions(clean), patch_size) if colour_parts else torch.zeros_like(seg)
    groups = torch.stack([level0] + [seg] * (levels - 1), 1)  # b l n
    return clean, corrupted, keep, groups
