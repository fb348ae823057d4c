"""Label-free negatives from the same image (bioglom.learning.contrastive, backprop)."""

import pytest
import torch

from bioglom import Glom, GlomConfig
from bioglom.data import make_whole_scenes, mask_parts
from bioglom.learning import Batch, build_rule
from bioglom.learning.contrastive import repulsion_weights, same_image_hinge


def test_repulsion_weights_spare_the_island_and_repel_the_rest():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    target = torch.stack([a, a * 1.1, b, -a])  # n d: columns 0 and 1 agree
    v = repulsion_weights(target, beta=12.0)
    assert torch.all(v.diagonal() == 0)
    assert v[0, 1] == pytest.approx(0.0, abs=1e-6)  # the location attended most is not a negative
    assert v[0, 2] > 0.99 and v[0, 3] > 0.99


def test_same_image_hinge_matches_a_naive_loop_in_float64():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 3, 7, 5, generator=g, dtype=torch.float64)  # b l n d
    target = torch.randn(2, 3, 7, 5, generator=g, dtype=torch.float64)
    ours = same_image_hinge(pred, target, margin=1.5, beta=4.0)
    ref = torch.zeros(2, 3, 7, dtype=torch.float64)
    for b in range(2):
        for l in range(3):
            unit = torch.nn.functional.normalize(target[b, l], dim=-1)
            for n in range(7):
                cos = [float(unit[n] @ unit[m]) for m in range(7)]
                best = max(c for m, c in enumerate(cos) if m != n)
                num = den = 0.0
                for m in range(7):
                    if m == n:
                        continue
                    v = 1 - torch.exp(torch.tensor(4.0 * (cos[m] - best), dtype=torch.float64))
                    h = max(0.0, 1.5 - float(((pred[b, l, n] - target[b, l, m]) ** 2).sum()) / 5)
                    num, den = num + v * h, den + v
                ref[b, l, n] = num / den
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("negatives", ["same_image", "both"])
def test_training_runs_with_labels_absent(negatives):
    # a Batch carries images only: no part, object or kind label reaches a rule
    assert Batch._fields == ("clean", "corrupted", "keep")
    scenes = make_whole_scenes(4, seed=0)
    corrupted, keep = mask_parts(scenes.images, scenes.parts, 1, torch.Generator().manual_seed(0))
    batch = Batch(scenes.images.clone(), corrupted, keep)
    del scenes  # nothing below can read a label
    model = Glom(GlomConfig(levels=3, dim=16, hidden=16, image_size=16, patch_size=2, channels=3))
    rule = build_rule("backprop", steps=2, negatives=negatives, negative_weight=1.0, agreement_weight=0.0)
    out = rule.accumulate(model, batch, phase="negative")
    assert out.metrics["separate"] > 0
    grads = [p.grad for p in model.nets.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_unknown_negatives_is_refused():
    from bioglom import ConfigError

    with pytest.raises(ConfigError, match="negatives='labels'"):
        build_rule("backprop", negatives="labels")
