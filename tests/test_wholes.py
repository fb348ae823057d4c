"""Scenes where wholes matter (bioglom.data.wholes) and masking that removes information."""

import pytest
import torch

from bioglom import ConfigError
from bioglom.data import (APPEARANCES, BASIC_KINDS, MASK_TOKEN, WHOLE_KINDS, appearance_kinds, changed_fraction, column_kinds,
                          column_labels, make_whole_scenes, mask_parts, mask_regions, part_mask)


def test_every_appearance_occurs_in_at_least_two_kinds():
    kinds_of = appearance_kinds()
    assert set(kinds_of) == set(APPEARANCES)
    assert all(len(k) >= 2 for k in kinds_of.values()), kinds_of
    assert all(2 <= len(parts) <= 4 for parts in WHOLE_KINDS.values())
    assert len(WHOLE_KINDS) >= 12 and set(BASIC_KINDS) < set(WHOLE_KINDS)
    # no two kinds share an arrangement: the arrangement names the kind
    layouts = {tuple(sorted(unit for unit, _ in parts)) for parts in WHOLE_KINDS.values()}
    assert len(layouts) == len(WHOLE_KINDS)
    # and in the scenes themselves: every colour is drawn as a part of two or more kinds
    s = make_whole_scenes(300, seed=0, background="black", jitter=0.0, kinds=tuple(WHOLE_KINDS))
    seen = {}
    for b in range(len(s.images)):
        for o in range(s.kinds.shape[1]):
            kind = int(s.kinds[b, o])
            if kind < 0:
                continue
            for k in range(4):
                pix = s.parts[b] == 1 + 4 * o + k
                if pix.any():
                    colour = tuple(round(float(v), 2) for v in s.images[b][:, pix][:, 0])
                    seen.setdefault(colour, set()).add(kind)
    assert len(seen) == len(APPEARANCES) and all(len(v) >= 2 for v in seen.values())


def test_labels_nest_and_kinds_follow_objects():
    s = make_whole_scenes(64, seed=3)
    labels = column_labels(s, 2, 3)  # b l n
    for b in range(64):
        pairs = set(zip(labels[b, 0].tolist(), labels[b, 1].tolist()))
        assert len(pairs) == len({p[0] for p in pairs})  # a part lies in one object
    assert ((labels[:, 0] > 0) == (labels[:, 1] > 0)).all()
    kind = column_kinds(s, labels)
    assert ((kind >= 0) == (labels[:, 1] > 0)).all()
    for b in range(64):  # one kind per object, and distinct kinds within a scene
        per_object = {}
        for o, k in zip(labels[b, 1].tolist(), kind[b].tolist()):
            per_object.setdefault(o, set()).add(k)
        assert all(len(v) == 1 for v in per_object.values())
        present = s.kinds[b][s.kinds[b] >= 0].tolist()
        assert len(present) == len(set(present))
    # parts are finer than objects in nearly every scene (every kind has >= 2 parts)
    finer = [len(set(labels[b, 0].tolist())) > len(set(labels[b, 1].tolist())) for b in range(64)]
    assert sum(finer) >= 0.9 * 64


def test_reproducible_from_seed_and_index_and_background_is_noise():
    a, b = make_whole_scenes(8, seed=1), make_whole_scenes(8, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.parts, b.parts)
    assert not torch.equal(a.images, make_whole_scenes(8, seed=2).images)
    assert torch.equal(make_whole_scenes(4, seed=1, start=4).images, a.images[4:])
    bg = a.images.permute(1, 0, 2, 3)[:, a.parts == 0]  # c pixels
    assert bg.std() > 0.05 and bg.max() <= 0.45  # textured, and darker than every part colour
    black = make_whole_scenes(8, seed=1, background="black")
    assert black.images.permute(1, 0, 2, 3)[:, black.parts == 0].abs().max() == 0


def test_patterned_parts_and_clutter_leave_no_colour_or_brightness_threshold():
    import numpy as np

    from bioglom.data.masking import uniform_regions
    from bioglom.data.wholes import PATTERNS

    flat = make_whole_scenes(64, seed=1)
    patterned = make_whole_scenes(64, seed=1, texture="patterned")
    # a texture draws nothing: the same objects, parts and background, only the parts' pixels differ
    assert torch.equal(flat.parts, patterned.parts)
    assert torch.equal(flat.images.permute(1, 0, 2, 3)[:, flat.parts == 0],
                       patterned.images.permute(1, 0, 2, 3)[:, flat.parts == 0])
    for b in range(4):  # each part is its flat colour times its appearance's pattern, from the part's corner
        for p in flat.parts[b].unique()[1:].tolist():
            ys, xs = (flat.parts[b] == p).nonzero(as_tuple=True)
            kind = WHOLE_KINDS[flat.kind_names[int(flat.kinds[b, (p - 1) // 4])]]
            app = kind[(p - 1) % 4][1]
            y, x = (ys - ys.min()).numpy(), (xs - xs.min()).numpy()
            h, w = int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1
            expected = np.clip(flat.images[b][:, ys, xs].numpy() * PATTERNS[app](y, x, h, w)[None], 0, 1)
            np.testing.assert_allclose(patterned.images[b][:, ys, xs].numpy(), expected, rtol=1e-6, atol=1e-6)
    # one-colour regions were the parts; with patterns they are not
    def region_ari(scenes):
        from bioglom.analysis import foreground_ari

        return float(foreground_ari(scenes.parts.flatten(1), uniform_regions(scenes.images).flatten(1),
                                    scenes.parts.flatten(1) > 0).nanmean())

    assert region_ari(flat) > 0.95 and region_ari(patterned) < 0.3, (region_ari(flat), region_ari(patterned))
    clutter = make_whole_scenes(64, seed=1, background="clutter")
    bg = clutter.images.permute(1, 0, 2, 3)[:, clutter.parts == 0].amax(0)  # brightest channel per pixel
    assert (bg > 0.6).float().mean() > 0.1  # background as bright as parts: no threshold is the foreground


def test_default_streams_are_the_draws_before_more_kinds_and_occlusion_existed():
    import hashlib

    from bioglom.data.clips import make_moving_scenes

    def digest(s):
        return hashlib.sha256(s.images.numpy().tobytes() + s.parts.numpy().tobytes() + s.kinds.numpy().tobytes()).hexdigest()

    # as drawn at commit 068735b, before the six further kinds and the occlusion option
    assert digest(make_whole_scenes(64, seed=5)) == "f46191c1065acd1fc6896e292af2c80c1f4e4ea673e853b975346dd6b6d0018f"
    assert digest(make_whole_scenes(64, seed=5, texture="patterned", background="clutter")) == (
        "46de51b94c1a6d79512fc1fb3ab6dd5405ea57af24579d8e33dde1941b113cb1")
    assert digest(make_moving_scenes(32, seed=5, frames=3, articulation=1.0, share=0.1, still=0.05,
                                     texture="patterned", background="clutter")) == (
        "e4dde7e2b929b31b5308378c6cfee478d366cacb958744dcc9e4f265fe032bee")
    # and the occluding streams of the harder preset's kept run, as drawn at commit 677290a
    occluded = (make_moving_scenes(64, seed=4, frames=3, kinds=tuple(WHOLE_KINDS), occlusion=0.4, articulation=1.0).images,
                make_whole_scenes(64, seed=4, kinds=tuple(WHOLE_KINDS), occlusion=0.3).images)
    assert hashlib.sha256(b"".join(x.numpy().tobytes() for x in occluded)).hexdigest() == (
        "f753296b328a08cb424bd147561adde0d41dc031376c66eda7cda15cbcccafc4")


def test_occlusion_draws_objects_in_depth_order_and_keeps_each_in_view():
    import numpy as np

    from bioglom.data.scenes import part_slices
    from bioglom.data.wholes import _one_scene

    kinds = tuple(WHOLE_KINDS)
    for occlusion in (0.0, 0.5):
        hidden = objects = 0
        for i in range(200):
            rng = np.random.default_rng([7, i])
            _, parts, chosen, boxes = _one_scene(rng, (16, 16), kinds, 3, (0.35, 0.5), "noise", 0.05,
                                                 occlusion=occlusion)
            # each object's pixels as if it were alone, from its kind and box
            covers = np.zeros((len(boxes), 16, 16), bool)
            for o, (kind, box) in enumerate(zip(chosen, boxes)):
                for unit, _ in WHOLE_KINDS[kinds[kind]]:
                    ys, xs = part_slices(box, unit)
                    covers[o, ys, xs] = True
            obj = np.where(parts > 0, (parts - 1) // 4 + 1, 0)
            # depth order: a pixel shows the last placed object that covers it
            front = np.where(covers.any(0), len(boxes) - np.argmax(covers[::-1], 0), 0)
            assert (obj == front).all()
            visible = np.array([(obj == o + 1).sum() for o in range(len(boxes))])
            full = covers.sum((1, 2))
            assert (visible >= (1 - occlusion) * full).all() and (visible > 0).all()
            hidden += int((visible < full).sum())
            objects += len(boxes)
        if occlusion == 0:
            assert hidden == 0
        else:
            assert hidden >= 0.2 * objects, (hidden, objects)  # occlusion is common, not a corner case


def test_occluding_clips_keep_every_object_in_view_in_every_frame():
    from bioglom.data.clips import make_moving_scenes

    c = make_moving_scenes(128, frames=3, seed=4, kinds=tuple(WHOLE_KINDS), occlusion=0.4)
    obj = c.objects  # b t h w
    partly = 0
    for b in range(128):
        for o in range(1, int(obj[b].max()) + 1):
            counts = (obj[b] == o).flatten(1).sum(1)  # per frame; rigid motion keeps the object's own size
            assert (counts >= 0.6 * counts.max()).all(), (b, o, counts)
            partly += int(counts.min() < counts.max())
    assert partly >= 10  # objects pass in front of each other
    with pytest.raises(ConfigError, match="occlusion=0.3 is not allowed with min_gap=0, overlap=True"):
        make_moving_scenes(2, occlusion=0.3, overlap=True)


@pytest.mark.parametrize("kw, field", [
    (dict(occlusion=1.0), "occlusion=1.0"),
    (dict(occlusion=-0.1), "occlusion=-0.1"),
    (dict(occlusion=float("nan")), "occlusion=nan"),
    (dict(occlusion=0.3, min_gap=2), "occlusion=0.3 is not allowed with min_gap=2"),
    (dict(texture="wood"), "texture='wood'"),
    (dict(kinds=("tower", "blob")), "kinds contains 'blob'"),
    (dict(parts=(1, 3)), "parts=(1, 3)"),
    (dict(parts=(2, 5)), "parts=(2, 5)"),
    (dict(objects=(2, 9)), "objects=(2, 9)"),
    (dict(background="grass"), "background='grass'"),
])
def test_bad_scene_options(kw, field):
    with pytest.raises(ConfigError, match=field.replace("(", r"\(").replace(")", r"\)")):
        make_whole_scenes(2, **kw)


def test_part_mask_removes_whole_parts_and_the_stated_fraction():
    s = make_whole_scenes(32, seed=0)
    gen = torch.Generator().manual_seed(0)
    corrupted, keep = mask_parts(s.images, s.parts, 1, gen, fill="token")
    removed = keep[:, 0] == 0
    for b in range(32):
        ids = s.parts[b][removed[b]].unique()
        assert len(ids) == 1 and ids.item() > 0  # one part, never background
        assert (removed[b] == (s.parts[b] == ids)).all()  # all of it
    # the token is no scene colour, so every removed pixel changes: the fraction is exact
    assert changed_fraction(s.images, corrupted) == pytest.approx(float(removed.float().mean()))
    token = torch.tensor(MASK_TOKEN)
    assert torch.equal(corrupted.permute(0, 2, 3, 1)[removed], token.expand(int(removed.sum()), 3))
    # an image with fewer parts than asked loses them all
    assert (part_mask(s.parts[:1], 10)[0, 0] == (s.parts[0] == 0).float()).all()


def test_block_mask_fill_and_bad_size():
    img = torch.full((4, 3, 16, 16), 0.2)
    noisy, keep = mask_regions(img, 1, 4, 6, torch.Generator().manual_seed(1), fill="noise")
    assert changed_fraction(img, noisy) == pytest.approx(float(1 - keep.mean()))
    with pytest.raises(ConfigError, match="max_size=20"):
        mask_regions(img, 1, 4, 20)
    with pytest.raises(ConfigError, match="fill='paint'"):
        mask_regions(img, 1, 4, 6, fill="paint")
