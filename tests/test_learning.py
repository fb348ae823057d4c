import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.data import make_scenes, mask_regions
from bioglom.learning import Batch, NonFiniteError, Trainer, build_rule


def tiny_cfg(**kw):
    return GlomConfig(levels=2, dim=8, image_size=8, patch_size=2, channels=3, hidden=16, radius=(1, 3), **kw)


def batches(u):
    scenes = make_scenes(4, image_size=8, objects=(1, 2), scale=(0.3, 0.5), seed=0, start=4 * u)
    corrupted, keep = mask_regions(scenes.images, 1, 2, 3, torch.Generator().manual_seed(u))
    return Batch(scenes.images, corrupted, keep)


def test_unknown_rule_and_bad_options():
    with pytest.raises(ConfigError, match="rule='hebb'"):
        build_rule("hebb")
    with pytest.raises(ConfigError, match="margin=-1"):
        build_rule("backprop", margin=-1.0)


@pytest.mark.parametrize("neighbourhood", ["window", "gaussian"])
def test_resume_continues_exactly(tmp_path, neighbourhood):
    cfg = tiny_cfg(neighbourhood=neighbourhood, gaussian_k=3, gaussian_resample=True)
    rule = build_rule("backprop", steps=2)
    straight = Trainer(Glom(cfg), rule, batches, updates=6, seed=3, progress=False)
    straight.run()

    ckpt = tmp_path / "ckpt.pt"
    first = Trainer(Glom(cfg), rule, batches, updates=6, seed=3, checkpoint=ckpt, checkpoint_every=2, progress=False)
    first.run(stop_after=3)  # "killed" after 3 updates; the checkpoint is at 3 (end of the partial run)
    second = Trainer(Glom(cfg), rule, batches, updates=6, seed=3, checkpoint=ckpt, progress=False)
    second.run(resume=True)
    assert second.update == 6 and len(second.history) == 6
    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in second.history]


def test_a_cosine_learning_rate_follows_its_closed_form_resumes_exactly_and_is_part_of_the_checkpoint(tmp_path):
    import math

    from bioglom.learning.trainer import lr_factor

    assert [lr_factor("cosine", u, 4) for u in range(5)] == pytest.approx(
        [(1 + math.cos(math.pi * u / 4)) / 2 for u in range(5)])
    assert lr_factor("constant", 3, 4) == 1.0
    rule = build_rule("backprop", steps=2)
    seen = []

    class Recording(Trainer):
        def step(self, u, source=None):
            out = super().step(u, source)
            seen.append(self.optimizer.param_groups[0]["lr"])
            return out

    straight = Recording(Glom(tiny_cfg()), rule, batches, updates=4, lr=1e-3, seed=3, progress=False,
                         lr_schedule="cosine")
    straight.run()
    assert seen == pytest.approx([1e-3 * lr_factor("cosine", u, 4) for u in range(4)])
    ckpt = tmp_path / "ckpt.pt"
    Trainer(Glom(tiny_cfg()), rule, batches, updates=4, lr=1e-3, seed=3, checkpoint=ckpt, progress=False,
            lr_schedule="cosine").run(stop_after=2)
    second = Trainer(Glom(tiny_cfg()), rule, batches, updates=4, lr=1e-3, seed=3, checkpoint=ckpt, progress=False,
                     lr_schedule="cosine")
    second.run(resume=True)
    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ConfigError, match="settings"):  # a checkpoint of another schedule is not resumed
        Trainer(Glom(tiny_cfg()), rule, batches, updates=4, lr=1e-3, seed=3, checkpoint=ckpt, progress=False).run(
            resume=True)
    with pytest.raises(ConfigError, match="lr_schedule='step'"):
        Trainer(Glom(tiny_cfg()), rule, batches, updates=4, lr_schedule="step")


def test_keep_best_restores_the_weights_of_the_best_scored_evaluation_and_survives_a_resume(tmp_path):
    rule = build_rule("backprop", steps=2)
    scores = {0: 0.1, 2: 0.5, 4: 0.5, 6: float("nan"), 8: 0.3}  # a tie and a NaN do not replace the best
    seen = {}

    def evaluate(trainer):
        def at(u):
            seen[u] = {k: v.clone() for k, v in trainer.model.state_dict().items()}
            return {"score": scores[u]}
        return at

    def new(**kw):
        return Trainer(Glom(tiny_cfg()), rule, batches, updates=8, seed=3, progress=False,
                       keep_best=lambda m: m["score"], **kw)

    straight = new()
    straight.run(evaluate=evaluate(straight), evaluate_every=2)
    last = {k: v.clone() for k, v in straight.model.state_dict().items()}
    assert straight.restore_best() == 2
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, seen[2][name]), name
    assert any(not torch.equal(last[k], seen[2][k]) for k in last)  # the restore changed the weights
    # killed after 3 updates, resumed in a new process: the same best, at the same update
    ckpt = tmp_path / "ckpt.pt"
    first = new(checkpoint=ckpt)
    first.run(stop_after=3, evaluate=evaluate(first), evaluate_every=2)
    second = new(checkpoint=ckpt)
    second.run(resume=True, evaluate=evaluate(second), evaluate_every=2)
    assert second.restore_best() == 2
    for name, value in second.model.state_dict().items():
        assert torch.equal(value, seen[2][name]), name
    # without keep_best nothing is kept and the weights stay the last update's
    plain = Trainer(Glom(tiny_cfg()), rule, batches, updates=2, seed=3, progress=False)
    plain.run()
    before = {k: v.clone() for k, v in plain.model.state_dict().items()}
    assert plain.restore_best() == 2 and all(torch.equal(before[k], v) for k, v in plain.model.state_dict().items())
    with pytest.raises(ConfigError, match="keep_best=3"):
        Trainer(Glom(tiny_cfg()), rule, batches, updates=2, keep_best=3)


def test_non_finite_stops_with_step_and_level(tmp_path):
    model = Glom(tiny_cfg(norm="none"))
    ckpt = tmp_path / "c.pt"
    trainer = Trainer(model, build_rule("backprop", steps=3), batches, updates=4, checkpoint=ckpt,
                      checkpoint_every=1, progress=False)
    trainer.run(stop_after=1)
    with torch.no_grad():
        model.nets.td.b2[0] = float("inf")  # level 0's top-down net breaks
    with pytest.raises(NonFiniteError, match=r"update 1, settling step 1, level 0"):
        trainer.run()
    assert torch.load(ckpt, weights_only=False)["update"] == 1  # the last good checkpoint stays


def test_backprop_lowers_its_loss():
    torch.manual_seed(0)
    model = Glom(tiny_cfg())
    rule = build_rule("backprop", steps=2)
    fixed = batches(0)
    with torch.no_grad():
        start = rule.loss(model, fixed).loss.item()
    Trainer(model, rule, lambda u: fixed, updates=60, lr=3e-3, progress=False).run()
    with torch.no_grad():
        end = rule.loss(model, fixed).loss.item()
    assert end < 0.5 * start
