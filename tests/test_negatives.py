"""Label-free negatives from the same image (bioglom.learning.contrastive, backprop)."""

import pytest
import torch

from bioglom import Glom, GlomConfig
from bioglom.data import make_whole_scenes, mask_parts
from bioglom.learning import Batch, build_rule
from bioglom.data import column_labels
from bioglom.learning.contrastive import island_supervision, repulsion_weights, same_image_hinge, same_image_hinge_pairwise


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


@pytest.mark.parametrize("allowed", [False, True])
def test_same_image_hinge_gradient_is_autograds_in_float64(allowed):
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(2, 3, 4, 9, 5, generator=g, dtype=torch.float64)  # s b l n d, as agreement_terms passes it
    target = torch.randn(2, 3, 4, 9, 5, generator=g, dtype=torch.float64)
    mask = torch.rand(4, 9, 9, generator=g) > 0.3 if allowed else None  # l n m, broadcast over s b
    weights = torch.randn(2, 3, 4, 9, generator=g, dtype=torch.float64)  # an arbitrary upstream gradient
    grads = []
    for f in (same_image_hinge, same_image_hinge_pairwise):
        p = pred.clone().requires_grad_()
        out = f(p, target, 1.5, 4.0, mask)
        (out * weights).sum().backward()
        grads.append((out.detach(), p.grad))
    inside = ((pred[..., :, None, :] - target[..., None, :, :]) ** 2).mean(-1) < 1.5
    assert 0.2 < inside.double().mean() < 0.8  # both sides of the hinge's kink are exercised
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda p: same_image_hinge(p, target, 1.5, 4.0, mask), pred[0, 0].clone().requires_grad_())


@pytest.mark.parametrize("scope", ["image", "outside_neighbourhood"])
def test_agreement_terms_same_image_negatives_are_the_hinge_of_each_direction(scope):
    # agreement_terms shares the repulsion weights of the two directions; each must equal
    # the hinge computed on its own, from its own predictions and targets
    from bioglom.learning.backprop import agreement_terms
    from bioglom.model import Trajectory

    g = torch.Generator().manual_seed(5)
    s, b, L, n, d = 3, 2, 3, 9, 5
    states = torch.randn(s + 1, b, L, n, d, generator=g, dtype=torch.float64)
    bu, td = (torch.randn(s, b, L, n, d, generator=g, dtype=torch.float64) for _ in range(2))
    traj = Trajectory(states, bu, td, states[:-1], states[:-1], torch.zeros(s), (3, 3))
    outside = torch.rand(L, n, n, generator=g) > 0.4 if scope == "outside_neighbourhood" else None
    _, separate = agreement_terms(traj, 1.5, "same_image", 4.0, outside)
    target = states[1:]
    each = [same_image_hinge(bu, target, 1.5, 4.0, outside),
            same_image_hinge(td[:, :, :-1], target[:, :, :-1], 1.5, 4.0, None if outside is None else outside[:-1])]
    torch.testing.assert_close(separate, torch.cat([e.flatten() for e in each]).mean(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("negatives", ["same_image", "both"])
def test_training_runs_with_labels_absent(negatives):
    # the batch carries images only (labels=None): no part, object or kind label reaches the rule
    scenes = make_whole_scenes(4, seed=0)
    corrupted, keep = mask_parts(scenes.images, scenes.parts, 1, torch.Generator().manual_seed(0))
    batch = Batch(scenes.images.clone(), corrupted, keep)
    assert batch.labels is None
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


def test_label_free_loss_is_the_same_with_or_without_labels():
    scenes = make_whole_scenes(4, seed=1)
    corrupted, keep = mask_parts(scenes.images, scenes.parts, 1, torch.Generator().manual_seed(0))
    labels = column_labels(scenes, 2, 3)
    model = Glom(GlomConfig(levels=3, dim=16, hidden=16, image_size=16, patch_size=2, channels=3))
    rule = build_rule("backprop", steps=2, negatives="both")
    without = rule.loss(model, Batch(scenes.images, corrupted, keep)).loss.item()
    with_labels = rule.loss(model, Batch(scenes.images, corrupted, keep, labels)).loss.item()
    assert without == with_labels
    supervised = build_rule("backprop", steps=2, negatives="both", supervision=1.0)
    assert supervised.loss(model, Batch(scenes.images, corrupted, keep, labels)).loss.item() > without


def test_supervision_without_labels_is_refused():
    from bioglom import ConfigError

    scenes = make_whole_scenes(2, seed=0)
    model = Glom(GlomConfig(levels=3, dim=16, hidden=16, image_size=16, patch_size=2, channels=3))
    rule = build_rule("backprop", steps=1, supervision=0.5)
    with pytest.raises(ConfigError, match="supervision=0.5 needs batch.labels"):
        rule.loss(model, Batch(scenes.images, scenes.images, torch.ones_like(scenes.images)))


def test_island_supervision_matches_a_naive_loop_in_float64():
    g = torch.Generator().manual_seed(3)
    states = torch.randn(2, 2, 6, 4, generator=g, dtype=torch.float64)  # b l n d
    labels = torch.tensor([[[0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 1, 3]], [[1, 1, 0, 0, 2, 2], [4, 4, 4, 4, 0, 0]]])
    ours = island_supervision(states, labels, beta=3.0)
    ref = torch.zeros(2, dtype=torch.float64)
    count = [0, 0]
    for b in range(2):
        for l in range(2):
            unit = torch.nn.functional.normalize(states[b, l], dim=-1)
            for n in range(6):
                partners = [m for m in range(6) if m != n and labels[b, l, m] == labels[b, l, n]]
                if labels[b, l, n] == 0 or not partners:
                    continue
                e = {m: float(torch.exp(3.0 * unit[n] @ unit[m])) for m in range(6) if m != n}
                ref[l] += -torch.log(torch.tensor(sum(e[m] for m in partners) / sum(e.values()), dtype=torch.float64))
                count[l] += 1
    torch.testing.assert_close(ours, ref / torch.tensor(count, dtype=torch.float64), rtol=1e-10, atol=1e-12)


def test_island_supervision_is_small_for_islands_that_are_the_labels():
    labels = torch.tensor([[[1, 1, 1, 2, 2, 2, 0, 0]]])  # b l n
    basis = torch.eye(4)
    islands = basis[torch.tensor([[[0, 0, 0, 1, 1, 1, 2, 3]]])]  # one vector per island
    wrong = basis[torch.tensor([[[0, 1, 2, 0, 1, 2, 3, 3]]])]
    assert float(island_supervision(islands, labels, beta=12.0)) < 1e-4
    assert float(island_supervision(wrong, labels, beta=12.0)) > 5.0


def test_balanced_reconstruction_weighs_removed_and_kept_pixels_equally():
    from bioglom.learning.backprop import reconstruction_error

    clean = torch.zeros(1, 3, 4, 4)
    keep = torch.ones(1, 1, 4, 4).expand(1, 3, 4, 4).clone()
    keep[..., :1, :1] = 0  # one removed pixel of 16
    recon = clean.clone()
    recon[..., 0, 0] = 2.0  # wrong only where removed
    assert reconstruction_error(recon, clean, keep, "pixels").item() == pytest.approx(4.0 / 16)
    assert reconstruction_error(recon, clean, keep, "balanced").item() == pytest.approx(4.0)
    recon[..., 3, 3] = 1.0  # and one kept pixel wrong by 1
    assert reconstruction_error(recon, clean, keep, "balanced").item() == pytest.approx(4.0 + 1.0 / 15)


def test_field_prediction_matches_a_naive_loop_in_float64():
    from bioglom.attention import lateral_attention
    from bioglom.learning.backprop import field_prediction

    torch.manual_seed(0)
    model = Glom(GlomConfig(levels=3, dim=8, hidden=8, image_size=8, patch_size=2, channels=3, radius=(1, 1, 2))).double()
    final = torch.randn(2, 3, 16, 8, dtype=torch.float64)  # b l n d
    ours = field_prediction(model, final)
    _, w = lateral_attention(final[:, 2:], model.attention_mask[2:], model.cfg.beta_end, "cosine")
    total = 0.0
    for b in range(2):
        for n in range(16):
            # column n's top-level vector placed in every column: the top-down net reads it with each location
            src = final[b, 2, n].expand(1, 1, 16, 8)
            pred = model.nets.top_down(src, slice(1, 2)).mean
            for m in range(16):
                err = float(((pred[0, 0, m] - final[b, 1, m]) ** 2).sum().detach()) / 8
                total += float(w[b, 0, n, m]) * err
    assert ours.item() == pytest.approx(total / 32, rel=1e-10)
