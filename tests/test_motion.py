"""Moving scenes, motion segments from the pixels, and the label-free motion batch."""

import pytest
import torch

from bioglom import ConfigError
from bioglom.analysis import foreground_ari, objects_touch
from bioglom.data import (column_labels, make_moving_scenes, make_whole_scenes, motion_batch, motion_layers,
                          motion_segments, uniform_regions)
from bioglom.data.motion import _first_argmax, motion_residuals, shifts


def _object_ari(clips, segments):
    objects = column_labels(clips.frame(-1), 2, 2)[:, 1]
    return foreground_ari(objects, segments, objects > 0), objects


def test_clips_move_rigidly_and_reproduce():
    c = make_moving_scenes(32, frames=3, speed=2, seed=4)
    assert c.images.shape == (32, 3, 3, 16, 16) and c.parts.shape == (32, 3, 16, 16)
    again = make_moving_scenes(32, frames=3, speed=2, seed=4)
    assert torch.equal(c.images, again.images) and torch.equal(c.velocities, again.velocities)
    assert torch.equal(make_moving_scenes(4, frames=3, speed=2, seed=4, start=28).images, c.images[28:])
    assert not torch.equal(make_moving_scenes(32, frames=3, speed=2, seed=5).images, c.images)
    for b in range(32):
        present = (c.kinds[b] >= 0).nonzero()[:, 0].tolist()
        vel = [tuple(c.velocities[b, k].tolist()) for k in present]
        assert len(set(vel)) == len(vel) and all(v != (0, 0) and max(map(abs, v)) <= 2 for v in vel)
        for k, v in zip(present, vel):  # each object is its first frame moved by t * v, pixel for pixel
            ys, xs = (c.objects[b, 0] == k + 1).nonzero(as_tuple=True)
            for t in (1, 2):
                moved = c.objects[b, t][ys + t * v[0], xs + t * v[1]]
                assert (moved == k + 1).all()
                torch.testing.assert_close(c.images[b, t][:, ys + t * v[0], xs + t * v[1]], c.images[b, 0][:, ys, xs])
        background = (c.objects[b] == 0).all(0)  # the background never changes
        assert torch.equal(c.images[b, 0][:, background], c.images[b, -1][:, background])


def test_clip_bad_input():
    with pytest.raises(ConfigError, match="frames=1"):
        make_moving_scenes(2, frames=1)
    with pytest.raises(ConfigError, match="speed=4"):
        make_moving_scenes(2, frames=4, speed=4)  # 8-pixel objects moving 12 pixels leave a 16-pixel image
    with pytest.raises(ConfigError, match="min_gap=9"):
        make_moving_scenes(2, min_gap=9)
    with pytest.raises(ConfigError, match="video has 1 frame"):
        motion_segments(torch.rand(2, 1, 3, 16, 16), 2)


def test_min_gap_separates_columns_and_bad_gap():
    touching = make_whole_scenes(256, seed=2)
    apart = make_whole_scenes(256, seed=2, min_gap=2)
    grid = (8, 8)
    t = objects_touch(column_labels(touching, 2, 2)[:, 1], grid)
    a = objects_touch(column_labels(apart, 2, 2)[:, 1], grid)
    assert t.float().mean() > 0.3 and not a.any()
    assert apart.objects.amax((1, 2)).float().mean() >= 1.8  # still scenes of several objects
    with pytest.raises(ConfigError, match="min_gap=12"):
        make_whole_scenes(2, min_gap=12)
    with pytest.raises(ConfigError, match="min_gap=-1"):
        make_whole_scenes(2, min_gap=-1)


def test_residuals_against_a_loop():
    prev, cur = torch.rand(2, 3, 6, 7), torch.rand(2, 3, 6, 7)
    r = motion_residuals(prev, cur, 1)
    for i, (vy, vx) in enumerate(shifts(1).tolist()):
        for y in range(6):
            for x in range(7):
                sy, sx = y - vy, x - vx
                want = (cur[:, :, y, x] - prev[:, :, sy, sx]).abs().amax(1) if 0 <= sy < 6 and 0 <= sx < 7 \
                    else torch.full((2,), float("inf"))
                torch.testing.assert_close(r[:, i, y, x], want)


def test_motion_segments_recover_objects_of_known_velocities():
    c = make_moving_scenes(128, frames=2, speed=1, seed=11)
    seg = motion_segments(c.images, 2)
    ari, objects = _object_ari(c, seg)
    assert ari.nanmean() > 0.8  # measured 0.88 on such clips (0.97 where objects are apart)
    apart = ~objects_touch(objects, (8, 8))
    assert ari[apart].nanmean() > 0.93
    # pixel layers: one per object, never the static background
    layers = motion_layers(c.images)
    assert ((layers > 0) <= (c.objects[:, -1] > 0) | (c.images[:, -1] != c.images[:, -2]).any(1)).all()
    # objects apart: exactly the objects, up to their ids
    gap = make_moving_scenes(64, frames=2, speed=1, seed=12, min_gap=2)
    ari_gap, _ = _object_ari(gap, motion_segments(gap.images, 2))
    assert ari_gap.nanmean() > 0.99


def test_motion_segments_empty_on_a_still_clip():
    scenes = make_whole_scenes(16, seed=1)
    still = scenes.images[:, None].expand(-1, 3, -1, -1, -1)
    assert (motion_segments(still, 2) == 0).all()
    assert (motion_layers(still) == 0).all()


def test_uniform_regions_are_the_parts_without_reading_them():
    scenes = make_whole_scenes(64, seed=7)
    regions = uniform_regions(scenes.images)
    from bioglom.analysis import adjusted_rand_index

    assert (adjusted_rand_index(scenes.parts.flatten(1), regions.flatten(1)) > 0.999).all()


@pytest.mark.parametrize("part_motion", [False, True])
def test_motion_batch_reads_no_label(part_motion):
    """The label-free batch is a function of the pixels alone: scrambling every label of
    the clips changes nothing, and training on it is bit-identical (with part motion too:
    swaying, patterned parts on clutter)."""
    from bioglom import Glom, GlomConfig
    from bioglom.learning import Batch, Trainer, build_rule

    c = (make_moving_scenes(6, frames=3, speed=1, seed=3, articulation=1.0, texture="patterned", background="clutter")
         if part_motion else make_moving_scenes(6, frames=2, speed=1, seed=3))
    scrambled = c._replace(parts=torch.randint(0, 9, c.parts.shape), objects=torch.randint(0, 4, c.objects.shape),
                           kinds=torch.randint(0, 6, c.kinds.shape), velocities=torch.randint(-2, 3, c.velocities.shape))

    def run(clips):
        def batches(u):
            clean, corrupted, keep, groups = motion_batch(clips.images, 2, 3, 1, torch.Generator().manual_seed(u),
                                                          part_motion=part_motion)
            return Batch(clean, corrupted, keep, groups=groups)

        model = Glom(GlomConfig(levels=3, dim=8, hidden=16, image_size=16, patch_size=2, channels=3))
        rule = build_rule("backprop", steps=2, grouping=3.0)
        Trainer(model, rule, batches, updates=3, lr=1e-2, progress=False).run()
        return model.state_dict()

    # one thread: with two, a float reduction of the training step may split its work
    # differently between otherwise identical runs (measured: 2-3 of 10 runs differed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first, second = run(c), run(scrambled)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(first[k], second[k]) for k in first)
    # and the grouping is not empty: the batch carries motion segments above level 0
    _, _, _, groups = motion_batch(c.images, 2, 3, 1, torch.Generator().manual_seed(0), part_motion=part_motion)
    assert (groups[:, 0] > 0).any() == part_motion and (groups[:, 1:] > 0).any()


@pytest.mark.parametrize("dtype", [torch.int64, torch.float32])
def test_first_argmax_is_argmax_with_ties_to_the_first(dtype):
    x = torch.randint(0, 3, (5, 7, 11, 4), generator=torch.Generator().manual_seed(0)).to(dtype)  # many ties
    for dim in range(4):
        assert torch.equal(_first_argmax(x, dim), x.argmax(dim))
    assert torch.equal(_first_argmax(torch.zeros(2, 3, 4), 1), torch.zeros(2, 4, dtype=torch.long))  # all tied: 0


def test_shared_and_still_velocities_occur_at_the_stated_rates_and_merge_segments():
    n = 600
    c = make_moving_scenes(n, frames=2, speed=1, seed=21, share=0.3, still=0.2)
    present = c.kinds >= 0
    still = (c.velocities == 0).all(-1) & present
    # every object stands still with probability 0.2 (seeded counts: 95 % band of a binomial)
    objects = int(present.sum())
    rate = float(still.sum()) / objects
    assert abs(rate - 0.2) < 3 * (0.2 * 0.8 / objects) ** 0.5
    # an object after the first that moves shares an earlier object's velocity with probability 0.3
    shared, eligible = 0, 0
    for b in range(n):  # clips, not columns
        seen = []
        for k in present[b].nonzero()[:, 0].tolist():
            v = tuple(c.velocities[b, k].tolist())
            if v != (0, 0) and seen:
                eligible += 1
                shared += v in seen
            if v != (0, 0):
                seen.append(v)
    # P(shared | moving, after a moving one) = 0.3 / (0.3 + 0.7) of those not still: ~0.3
    assert abs(shared / eligible - 0.3) < 3 * (0.3 * 0.7 / eligible) ** 0.5 + 0.02
    # motion segments then merge touching objects that share a velocity (one region, one
    # velocity: one layer) and leave still objects out
    seg = motion_segments(c.images, 2).reshape(n, 8, 8)
    objects_cols = column_labels(c.frame(-1), 2, 2)[:, 1].reshape(n, 8, 8)
    merged, still_moving, still_total, moving_moving, moving_total = 0, 0, 0, 0, 0
    for b in range(n):
        v = c.velocities[b]
        ids = present[b].nonzero()[:, 0].tolist()
        for i in ids:
            mask_i = objects_cols[b] == i + 1
            others = (objects_cols[b] > 0) & ~mask_i
            near = (mask_i[:, :-1] & others[:, 1:]).any() | (others[:, :-1] & mask_i[:, 1:]).any() | \
                (mask_i[:-1] & others[1:]).any() | (others[:-1] & mask_i[1:]).any()
            if (v[i] == 0).all() and not near:  # a still object apart from the others is (nearly) static
                still_moving += int((mask_i & (seg[b] > 0)).sum())
                still_total += int(mask_i.sum())
            elif (v[i] != 0).any() and not near:
                moving_moving += int((mask_i & (seg[b] > 0)).sum())
                moving_total += int(mask_i.sum())
            for j in ids:
                mask_j = objects_cols[b] == j + 1
                right = (mask_i[:, :-1] & mask_j[:, 1:]) | (mask_j[:, :-1] & mask_i[:, 1:])
                down = (mask_i[:-1] & mask_j[1:]) | (mask_j[:-1] & mask_i[1:])
                if j > i and torch.equal(v[i], v[j]) and (v[i] != 0).any() and (right.any() or down.any()):
                    moving_i, moving_j = seg[b][mask_i], seg[b][mask_j]
                    assert set(moving_i[moving_i > 0].tolist()) & set(moving_j[moving_j > 0].tolist())
                    merged += 1
    assert merged >= 10
    # measured: 7 % of an apart still object's columns (a uniform interior fits a shift),
    # 100 % of an apart moving one's
    assert still_total > 100 and still_moving / still_total < 0.15
    assert moving_moving / moving_total > 0.85


def test_without_the_mix_clips_are_the_draws_they_were():
    plain = make_moving_scenes(16, frames=2, speed=1, seed=3)
    zero = make_moving_scenes(16, frames=2, speed=1, seed=3, share=0.0, still=0.0)
    assert torch.equal(plain.images, zero.images)
    mixed = make_moving_scenes(16, frames=2, speed=1, seed=3, share=0.5, still=0.5)
    assert not torch.equal(plain.images, mixed.images)
    for field, value in (("share", 1.5), ("still", -0.1), ("share", float("nan"))):
        with pytest.raises(ConfigError, match=f"{field}="):
            make_moving_scenes(2, **{field: value})


def test_articulation_sways_parts_in_odd_frames_and_leaves_the_stream_as_it_was_without_it():
    import hashlib

    plain = make_moving_scenes(16, frames=3, seed=3, share=0.1, still=0.05, articulation=0.0)
    # the clips of this stream as drawn before the option existed (commit eb1dbf6)
    digest = hashlib.sha256(plain.images.numpy().tobytes() + plain.parts.numpy().tobytes()).hexdigest()
    assert digest == "b84977f8e20ece5ae90d5a3294778c01668b0ed66c77114d0af7da3d3940cff7"
    c = make_moving_scenes(64, frames=3, speed=1, seed=2, articulation=1.0)
    swayed = 0
    for b in range(64):
        for k in (c.kinds[b] >= 0).nonzero()[:, 0].tolist():
            v = c.velocities[b, k].tolist()
            ys, xs = (c.objects[b, 0] == k + 1).nonzero(as_tuple=True)
            # over two frames every part of an object moved by 2 v, pixel for pixel: the sway returned
            assert (c.objects[b, 2][ys + 2 * v[0], xs + 2 * v[1]] == k + 1).all()
            torch.testing.assert_close(c.images[b, 2][:, ys + 2 * v[0], xs + 2 * v[1]], c.images[b, 0][:, ys, xs])
            assert torch.equal(c.parts[b, 2][ys + 2 * v[0], xs + 2 * v[1]], c.parts[b, 0][ys, xs])
            # in the odd frame some part is not where the object's motion alone puts it
            ok = (ys + v[0] < 16) & (xs + v[1] < 16) & (ys + v[0] >= 0) & (xs + v[1] >= 0)
            swayed += int(not torch.equal(c.parts[b, 1][ys[ok] + v[0], xs[ok] + v[1]], c.parts[b, 0][ys[ok], xs[ok]]))
    assert swayed > 64  # most objects (2-3 a clip) have a swaying part
    with pytest.raises(ConfigError, match="articulation=1.5"):
        make_moving_scenes(2, articulation=1.5)


def test_part_and_object_segments_follow_motion_at_two_time_scales():
    from bioglom.data.motion import part_and_object_segments

    c = make_moving_scenes(128, frames=3, speed=1, seed=5, articulation=1.0)
    parts_seg, objects_seg = part_and_object_segments(c.images, 2)
    labels = column_labels(c.frame(-1), 2, 2)
    parts, objects = labels[:, 0], labels[:, 1]
    ari = {(name, truth_name): float(foreground_ari(truth, seg, truth > 0).nanmean())
           for name, seg in (("part-scale", parts_seg), ("object-scale", objects_seg))
           for truth_name, truth in (("parts", parts), ("objects", objects))}
    # the object scale finds the objects as the two-frame segments do without sway
    assert ari["object-scale", "objects"] > 0.8, ari
    # the part scale splits objects where parts sway (closer to the parts, further from the objects)
    assert ari["part-scale", "parts"] > ari["object-scale", "parts"] + 0.02, ari
    assert ari["part-scale", "objects"] < ari["object-scale", "objects"] - 0.2, ari
    g = torch.Generator().manual_seed(0)
    *_, groups = motion_batch(c.images, 2, 3, 1, g, part_motion=True)
    assert torch.equal(groups[:, 0], parts_seg) and torch.equal(groups[:, 1], objects_seg)
    assert torch.equal(groups[:, 2], objects_seg)
    with pytest.raises(ConfigError, match="at least 3"):
        part_and_object_segments(c.images[:, 1:], 2)
    with pytest.raises(ConfigError, match="colour_parts=True is not allowed with part_motion=True"):
        motion_batch(c.images, 2, 3, 1, g, part_motion=True, colour_parts=True)


def test_patterns_move_with_their_parts_over_a_still_clutter():
    c = make_moving_scenes(16, frames=3, speed=1, seed=7, texture="patterned", background="clutter")
    for b in range(16):
        for k in (c.kinds[b] >= 0).nonzero()[:, 0].tolist():
            v = c.velocities[b, k].tolist()
            ys, xs = (c.objects[b, 0] == k + 1).nonzero(as_tuple=True)
            for t in (1, 2):  # the patterned object is its first frame moved by t * v, pixel for pixel
                torch.testing.assert_close(c.images[b, t][:, ys + t * v[0], xs + t * v[1]], c.images[b, 0][:, ys, xs])
        background = (c.objects[b] == 0).all(0)
        assert torch.equal(c.images[b, 0][:, background], c.images[b, -1][:, background])
    # motion still finds the objects there (no colour threshold does)
    segments = motion_segments(c.images, 2)
    ari, _ = _object_ari(c, segments)
    assert float(ari.nanmean()) > 0.7


def test_part_scale_segments_recover_the_parts_of_a_clip_with_known_part_motions():
    """One object of two randomly textured parts moving right by one pixel a frame, its lower
    part swaying one pixel left in the middle frame: from the last two frames the parts move
    by 1 and 2 pixels (two part segments), over the whole clip both by 2 (one object)."""
    from bioglom.data.motion import part_and_object_segments

    rng = torch.Generator().manual_seed(0)
    background = 0.4 * torch.rand(3, 16, 16, generator=rng)
    upper, lower = 0.5 + 0.5 * torch.rand(3, 4, 8, generator=rng), 0.5 + 0.5 * torch.rand(3, 4, 8, generator=rng)
    frames, truth = [], torch.zeros(16, 16, dtype=torch.long)
    for t, sway in ((0, 0), (1, -1), (2, 0)):
        f = background.clone()
        f[:, 4:8, 2 + t:10 + t] = upper
        f[:, 8:12, 2 + t + sway:10 + t + sway] = lower
        frames.append(f)
    truth[4:8, 4:12], truth[8:12, 4:12] = 1, 2  # the last frame's parts
    video = torch.stack(frames)[None]
    parts, objects = part_and_object_segments(video, 2)
    from bioglom.data.scenes import patch_majority

    cols = patch_majority(truth[None], 2)
    assert float(foreground_ari(cols, parts, cols > 0)) == 1.0
    assert len(objects[0][cols[0] > 0].unique()) == 1 and (objects[0][cols[0] > 0] > 0).all()
    assert (parts[0][cols[0] == 0] == 0).all() and (objects[0][cols[0] == 0] == 0).all()
