"""Scenes spliced along their grouping (bioglom.data.splice) and sleep on them
(bioglom.learning.wake_sleep, sleep_input="splice")."""

import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.data.splice import splice_segments
from bioglom.learning import Batch, build_rule
from bioglom.learning.schedule import preset
from bioglom.learning.wake_sleep import WakeSleepTrainer


def _scenes(b=3, levels=3, grid=(4, 4), patch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, grid[0] * patch, grid[1] * patch, generator=gen)
    groups = torch.randint(0, 3, (b, levels, grid[0] * grid[1]), generator=gen)
    groups[:, 0] = 0  # no part segments
    return images, groups


def test_splice_takes_the_partners_segments_with_their_pixels_and_new_ids():
    grid, patch = (4, 4), 2
    images, groups = _scenes(grid=grid, patch=patch)
    keep = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    out, new, kept = splice_segments(images, groups, patch, grid, keep)
    for i in range(3):  # a loop over scenes and columns, the reference
        j = (i - 1) % 3
        for n in range(16):
            y, x = divmod(n, 4)
            ys, xs = slice(y * patch, (y + 1) * patch), slice(x * patch, (x + 1) * patch)
            source = j if groups[j, -1, n] > 0 else i
            assert torch.equal(out[i, :, ys, xs], images[source, :, ys, xs])
            assert torch.equal(kept[i, :, ys, xs], keep[source, :, ys, xs])
            for level in range(3):
                g = int(groups[source, level, n])
                want = 0 if g == 0 else g + (int(groups[i, level].max()) if source == j else 0)
                assert int(new[i, level, n]) == want
    # no segment id is shared by columns of the two scenes
    for i in range(3):
        taken = groups[(i - 1) % 3, -1] > 0
        ids_own, ids_pasted = set(new[i, -1][~taken].tolist()) - {0}, set(new[i, -1][taken].tolist()) - {0}
        assert ids_pasted and not ids_own & ids_pasted
    assert torch.equal(splice_segments(images[:1], groups[:1], patch, grid)[0], images[:1])  # its own partner
    with pytest.raises(ConfigError, match="do not match grid"):
        splice_segments(images, groups, 4, grid)
    with pytest.raises(ConfigError, match="splicing takes still images"):
        splice_segments(images[:, None], groups, patch, grid)


def test_sleep_on_spliced_scenes_learns_the_push_and_needs_groups():
    cfg = GlomConfig(levels=3, dim=8, hidden=16, image_size=8, patch_size=2, channels=3, radius=(1, 2, 3))
    images, groups = _scenes()

    def batches(u):
        return Batch(images, images, torch.ones_like(images[:, :1]), None, groups)

    def trained(sleep_input, negative_island, batch_source=batches):
        torch.manual_seed(0)
        model = Glom(cfg)
        rule = build_rule("temporal_derivative", steps=2, teacher="island", negative_weight=0.0,
                          negative_island=negative_island)
        WakeSleepTrainer(model, rule, batch_source, schedule=preset("sleep-only"), sleep_input=sleep_input,
                         updates=2, progress=False).run()
        return torch.cat([p.detach().flatten() for p in model.nets.parameters()])

    start = trained("splice", 0.0)  # no hinge, no push: a sleep that learns nothing
    torch.manual_seed(0)
    torch.testing.assert_close(start, torch.cat([p.detach().flatten() for p in Glom(cfg).nets.parameters()]))
    assert not torch.equal(trained("splice", 1.0), start)
    with pytest.raises(ConfigError, match="sleep_input='splice' is not allowed with these batches"):
        trained("splice", 1.0, lambda u: Batch(images, images, torch.ones_like(images[:, :1])))
