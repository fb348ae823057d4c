"""Does settling matter: consensus shares, the lateral-off twin; and the scene-contrast views."""

import numpy as np
import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.analysis import bottom_up_votes, consensus_shares, without_lateral
from bioglom.consensus import consensus_weights
from bioglom.data.augment import augment
from bioglom.learning import Batch, build_rule
from bioglom.learning.local import segment_mean


def _cfg(**kw):
    return GlomConfig(levels=3, dim=8, hidden=16, image_size=8, patch_size=2, channels=3, **kw)


def test_shares_of_the_weighted_mean_are_its_weights():
    cfg = _cfg()
    model = Glom(cfg)
    shares = consensus_shares(model, torch.rand(4, 3, 8, 8), steps=3)
    want = np.mean([(w / w.sum(0)).T.numpy() for w in (consensus_weights(cfg, t, 3) for t in range(3))], 0)
    np.testing.assert_allclose(shares, want, rtol=1e-6)
    np.testing.assert_allclose(shares.sum(1), 1.0, rtol=1e-9)


def test_shares_of_the_precision_consensus_follow_the_learned_precisions():
    model = Glom(_cfg(consensus="precision"))
    with torch.no_grad():  # a bottom-up net that is very sure of itself
        for name, p in model.nets.named_parameters():
            if "bu" in name and name.endswith("b2"):
                p[..., 8:] = 4.0  # the log-precision half of the output
    shares = consensus_shares(model, torch.rand(4, 3, 8, 8), steps=3)
    assert (shares[:, 0] > 0.8).all()  # the consensus is mostly bottom-up


def test_without_lateral_settles_as_a_model_whose_lateral_weight_is_zero():
    cfg = _cfg()
    model = Glom(cfg)
    twin = without_lateral(model)
    images = torch.rand(2, 3, 8, 8)
    plain = Glom(cfg.replace(weights_start=(1.0, 0.2, 1.0, 0.0), weights_end=(1.0, 1.0, 1.0, 0.0)))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(twin.settle(images, 4).final, plain.settle(images, 4).final)
        assert not torch.allclose(model.settle(images, 4).final, twin.settle(images, 4).final)
    assert model.cfg.weights_end[3] == 1.0 and twin.nets is model.nets  # the model itself is untouched


def test_bottom_up_votes_are_the_first_and_last_steps_of_the_trajectory():
    """In batches of 3, the votes equal those a whole recorded settling holds at steps 0 and
    S - 1, and they change over settling (the level below moves)."""
    model = Glom(_cfg())
    images = torch.rand(5, 3, 8, 8)
    votes = bottom_up_votes(model, images, steps=4, batch=3)
    with torch.no_grad():
        traj = model.settle(images, 4)
    assert votes.shape == (2, 5, 3, 16, 8)
    torch.testing.assert_close(votes, traj.bottom_up[[0, 3]])
    assert not torch.allclose(votes[0, :, 1:], votes[1, :, 1:])  # levels above 0 read a settling level


def test_augment_is_reproducible_and_keeps_the_range():
    images = torch.rand(5, 3, 8, 8)
    a = augment(images, torch.Generator().manual_seed(1))
    b = augment(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == images.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, augment(images, torch.Generator().manual_seed(2)))
    flat = torch.rand(1, 3, 1, 1).expand(2, 3, 8, 8)  # a one-colour image is unchanged up to the channel gains
    out = augment(flat, torch.Generator().manual_seed(0), gain=0.0)
    torch.testing.assert_close(out, flat)


def test_scene_contrast_and_grouping_terms():
    model = Glom(_cfg(consensus="oscillator", norm="groups", oscillator_group=4))
    images = torch.rand(4, 3, 8, 8)
    batch = Batch(images, images, torch.ones_like(images[:, :1]))
    rule = build_rule("backprop", steps=2, scene_contrast=1.0)
    out = rule.accumulate(model, batch, torch.Generator().manual_seed(0))
    assert np.isfinite(out.metrics["contrast"]) and out.metrics["contrast"] > 0
    assert all(p.grad is not None for p in model.nets.parameters())
    with pytest.raises(ConfigError, match="grouping=1.0 needs batch.groups"):
        build_rule("backprop", steps=2, grouping=1.0).accumulate(model, batch)
    groups = torch.tensor([1, 1, 2, 2] * 4)[None, None].expand(4, 3, 16)
    out = build_rule("backprop", steps=2, grouping=1.0).accumulate(model, batch._replace(groups=groups))
    assert out.metrics["grouped"] > 0


def test_local_rules_refuse_oscillators():
    model = Glom(_cfg(consensus="mean", norm="groups", oscillator_group=4))
    images = torch.rand(2, 3, 8, 8)
    with pytest.raises(ConfigError, match="norm='groups' is not allowed with rule='delta'"):
        build_rule("delta", steps=2).accumulate(model, Batch(images, images, torch.ones_like(images[:, :1])))


def test_segment_mean_against_a_loop():
    gen = torch.Generator().manual_seed(3)
    states = torch.randn(2, 3, 10, 4, generator=gen, dtype=torch.float64)
    groups = torch.randint(0, 4, (2, 3, 10), generator=gen)
    got = segment_mean(states, groups)
    want = states.clone()
    for b in range(2):
        for lev in range(3):
            for n in range(10):
                g = int(groups[b, lev, n])
                if g > 0:
                    want[b, lev, n] = states[b, lev][groups[b, lev] == g].mean(0)
    torch.testing.assert_close(got, want)


def test_segment_teacher_reads_the_groups_and_nothing_else():
    model = Glom(_cfg())
    images = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    batch = Batch(images, images, torch.ones_like(images[:, :1]))
    rule = build_rule("delta", steps=2, teacher="segment")
    with pytest.raises(ConfigError, match="teacher='segment' needs batch.groups"):
        rule.accumulate(model, batch)
    groups = torch.tensor([1, 1, 2, 2] * 4)[None, None].expand(4, 3, 16)

    def grads(b):
        model.zero_grad(set_to_none=True)
        rule.accumulate(model, b)
        return [p.grad.clone() for p in model.nets.parameters()]

    with_groups = grads(batch._replace(groups=groups))
    labelled = grads(batch._replace(groups=groups, labels=torch.randint(0, 5, (4, 3, 16))))
    assert all(torch.equal(a, b) for a, b in zip(with_groups, labelled))  # labels never enter
    full = build_rule("delta", steps=2)
    model.zero_grad(set_to_none=True)
    full.accumulate(model, batch)
    assert any(not torch.equal(a, p.grad) for a, p in zip(with_groups, model.nets.parameters()))  # groups do
    video = torch.rand(4, 2, 3, 8, 8)
    with pytest.raises(ConfigError, match="not allowed with videos"):
        rule.accumulate(model, Batch(video, video, torch.ones_like(video[:, :, :1]), None, groups))


def test_normalised_votes_make_the_consensus_blind_to_a_vote_s_norm():
    """With normalise_votes a net's output enters the consensus at the state's scale, so
    scaling a net's output layer leaves settling unchanged; without it the larger vote takes
    over the consensus."""
    images = torch.rand(2, 3, 8, 8)
    for normalised in (True, False):
        model = Glom(_cfg(normalise_votes=normalised))
        with torch.no_grad():
            before = model.settle(images, 3).final
            for name in ("w2", "b2"):
                getattr(model.nets.bu, name).mul_(10.0)  # ten times the bottom-up votes' norm
            after = model.settle(images, 3).final
        if normalised:  # up to layer norm's eps, which weighs less in a vote 10x larger (measured 3e-4)
            torch.testing.assert_close(after, before, rtol=0, atol=2e-3)
        else:
            assert (after - before).abs().max() > 0.1


def test_local_rules_read_the_raw_votes_when_votes_are_normalised():
    """The local update of a model whose votes the consensus normalises equals the update of
    the same nets read through their raw outputs: the record carries them."""
    model = Glom(_cfg(normalise_votes=True))
    images = torch.rand(2, 3, 8, 8)
    seen = []
    with torch.no_grad():
        model.settle(images, 2, on_step=seen.append, detach=True, record=False)
    rec = seen[0]
    assert rec.raw_votes is not None
    from bioglom.consensus import normalise

    torch.testing.assert_close(normalise(rec.raw_votes[0], "layer"), rec.contributions.bottom_up)
    assert not torch.allclose(rec.raw_votes[0], rec.contributions.bottom_up)
    out = build_rule("temporal_derivative", steps=2).accumulate(model, Batch(images, images, torch.ones_like(images[:, :1])))
    assert torch.isfinite(out.loss) and all(torch.isfinite(p.grad).all() for p in model.nets.parameters())
