"""Quality on the part-whole scenes (bioglom.data.scene_task, bioglom.analysis.scene_quality,
bioglom.learning.controls): the task's streams, the measures on a real model, and Q0-Q3's
values and verdicts on constructed measurements."""

import numpy as np
import pytest
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import MOMENTS, gain_fraction, scene_claims, scene_dataset, scene_quality
from bioglom.experiments.temporal_derivative import temporal_claims
from bioglom.analysis.scene_quality import fraction_table
from bioglom.config import ConfigError
from bioglom.data import MASK_TOKEN, SceneTask, make_whole_scenes
from bioglom.seeding import derived_seed
from bioglom.learning import build_rule
from bioglom.learning.controls import LABEL_TRAINED, POSITIVE_CONTROLS, control_options


def test_training_batches_are_the_islands_stream_with_one_part_removed():
    task = SceneTask()
    clean, corrupted, keep, labels, groups = task.batch(seed=2, u=3, size=8)
    assert torch.equal(clean, make_whole_scenes(8, seed=2, start=24).images)  # scenes 24..31 of stream 2
    removed = keep[:, 0] == 0  # b h w
    assert removed.flatten(1).any(1).all()  # every scene lost something
    token = torch.tensor(MASK_TOKEN)[:, None]
    assert torch.allclose(corrupted.permute(1, 0, 2, 3)[:, removed], token.expand(-1, int(removed.sum())))
    assert labels is None  # no label unless the label-trained control asks
    again = task.batch(seed=2, u=3, size=8)
    assert all(torch.equal(a, b) for a, b in zip((clean, corrupted, keep), again[:3]))


def test_videos_are_static_and_labels_come_only_when_asked():
    clean, corrupted, keep, labels, groups = SceneTask().batch(0, 0, 4, frames=3, labels_for=(2, 3))
    assert clean.shape == corrupted.shape == keep.shape == (4, 3, 3, 16, 16)
    assert torch.equal(corrupted[:, 0], corrupted[:, 2]) and torch.equal(clean[:, 1], clean[:, 2])
    assert labels.shape == (4, 3, 64) and groups is None  # groups only with grouping="motion"


def test_held_out_scenes_come_from_their_own_streams():
    task = SceneTask(val_scenes=5, test_scenes=6)
    held = task.held_out(1)
    assert torch.equal(held.val.images, make_whole_scenes(5, seed=derived_seed(1, "validation")).images)
    assert torch.equal(held.test.images, make_whole_scenes(6, seed=derived_seed(1, "test")).images)
    assert held.corrupted.shape == held.test.images.shape and (held.keep == 0).any()


@pytest.mark.parametrize("field, value", [("fill", "paint"), ("val_scenes", 0), ("kinds", ("tower", "blob")),
                                          ("image_size", 8)])
def test_bad_task_fields_are_named(field, value):
    with pytest.raises(ConfigError, match=field if field != "image_size" else "image_size=8"):
        SceneTask(**{field: value}).check()


def test_controls_are_the_islands_recipe_and_only_the_label_trained_one_reads_labels():
    free, labelled = (control_options(n, steps=4) for n in POSITIVE_CONTROLS)
    assert free["supervision"] == 0 and labelled["supervision"] > 0 and free["negatives"] == "both"
    assert {k: v for k, v in labelled.items() if k not in ("supervision", "recon")} == \
           {k: v for k, v in free.items() if k not in ("supervision", "recon")}
    build_rule("backprop", **labelled)
    with pytest.raises(ConfigError, match="control"):
        control_options("backprop supervised", 4)


def test_scene_quality_on_a_model():
    task = SceneTask(val_scenes=8, test_scenes=12)
    held = task.held_out(0)
    model = Glom(GlomConfig(levels=3, dim=8, hidden=16, image_size=16, patch_size=2, channels=3))
    q = scene_quality(model, 2, held)
    assert q["object_ari"].shape == q["part_ari"].shape == q["fill_error"].shape == (2, 12)
    assert q["raw_pixels_ari"].shape == q["baseline_ari"].shape == (12,) and np.isfinite(q["val_object_ari"])
    from bioglom.analysis import BASELINES

    # on these scenes, where objects touch, connected components of the foreground are the strongest on validation
    assert BASELINES[int(q["baseline_index"])] == "foreground_components" and q["val_baseline_ari"] > 0.3
    assert np.nanmax(q["object_ari"]) <= 1 and (q["fill_error"] >= 0).all()
    # the fill error is the squared error on the removed pixels only
    assert q["fill_error"][0].mean() > 0


def test_gain_fraction_closed_form():
    r, c, u = np.full((2, 5), 0.4), np.full((2, 5), 0.6), np.full((2, 5), 0.2)
    assert gain_fraction(r, c, u) == pytest.approx(0.5)
    assert gain_fraction(u, c, u) == pytest.approx(0.0)
    assert gain_fraction(c, c, u) == pytest.approx(1.0)


def constructed(ari, fill_gain, seeds=3, samples=200, noise=0.05, rng=0, baseline=None):
    """Per-scene measurements with mean settled object ARI ``ari[name]`` and a settled fill
    error ``1 - fill_gain[name]`` times that at the bottom-up pass; with ``baseline``, a
    model-free baseline (foreground components) of that mean on test and validation."""
    r = np.random.default_rng(rng)
    results = {}
    for s in range(seeds):
        for name in ari:
            settled = ari[name] + noise * r.standard_normal(samples)
            start = r.uniform(0.5, 1.5, samples)
            results[(s, name)] = {
                "object_ari": np.stack([settled - 0.1, settled]), "part_ari": np.stack([settled, settled]),
                "fill_error": np.stack([start, start * (1 - fill_gain[name]) * r.uniform(1 - noise, 1 + noise, samples)]),
                "raw_pixels_ari": np.full(samples, 0.25), "val_object_ari": ari[name]}
            if baseline is not None:
                results[(s, name)].update(baseline_ari=baseline + noise * r.standard_normal(samples),
                                          val_baseline_ari=baseline, baseline_index=2.0)
    keys = [(s, n) for s in range(seeds) for n in ari]
    return scene_dataset(results, ("seed", "condition"), keys)


def by_id(ds, control=LABEL_TRAINED):
    rows = scene_claims(ds, "condition", ["rule"], "untrained", control, resamples=400)
    return {c.id.split()[0]: c for c in rows}


def test_scene_dataset_is_self_describing():
    ds = constructed({"untrained": 0.2, "rule": 0.4, LABEL_TRAINED: 0.6}, {"untrained": 0, "rule": 0.2,
                                                                            LABEL_TRAINED: 0.4})
    assert ds.object_ari.dims == ("seed", "condition", "moment", "sample")
    assert list(ds.moment.values) == list(MOMENTS)
    assert all("long_name" in ds[v].attrs and "units" in ds[v].attrs for v in ds.data_vars)


def test_scene_quality_read_back_from_a_result_gives_the_same_claims():
    import xarray as xr

    from bioglom.analysis.scene_quality import scene_part
    from bioglom.config import ConfigError

    ds = constructed({"untrained": 0.2, "rule": 0.4, LABEL_TRAINED: 0.6},
                     {"untrained": 0, "rule": 0.2, LABEL_TRAINED: 0.4}, baseline=0.3)
    # a result holds it beside its own variables, its dims renamed where the result has its own "moment"
    other = xr.Dataset({"curve": (("seed", "moment"), np.zeros((3, 2)))}, coords={"moment": ["before", "after"]})
    result = xr.merge([other, ds.rename(moment="settling", condition="scene_run")], join="outer")
    back = scene_part(result, settling="moment", scene_run="condition")
    xr.testing.assert_identical(back, ds)
    assert [c.value for c in by_id(back).values()] == [c.value for c in by_id(ds).values()]
    with pytest.raises(ConfigError, match="no scene quality"):
        scene_part(other)


def test_q_claims_held():
    c = by_id(constructed({"untrained": 0.2, "rule": 0.5, LABEL_TRAINED: 0.6},
                          {"untrained": 0, "rule": 0.3, LABEL_TRAINED: 0.4}))
    assert [k for k in c] == ["Q0", "Q1", "Q2", "Q3"]
    assert all(v.decided == "held" for v in c.values()), {k: v.decided for k, v in c.items()}
    assert c["Q2"].value == pytest.approx(0.75, abs=0.05)


def test_q_claims_not_held():
    c = by_id(constructed({"untrained": 0.3, "rule": 0.2, LABEL_TRAINED: 0.6},
                          {"untrained": 0, "rule": -0.2, LABEL_TRAINED: 0.4}))
    assert c["Q0"].decided == "held"
    assert c["Q1"].decided == c["Q2"].decided == c["Q3"].decided == "not held"


def test_q_claims_undecided_within_noise():
    c = by_id(constructed({"untrained": 0.3, "rule": 0.3, LABEL_TRAINED: 0.6},
                          {"untrained": 0, "rule": 0.0, LABEL_TRAINED: 0.4}, noise=0.3, samples=30, rng=1))
    assert c["Q1"].decided == "undecided" and c["Q3"].decided == "undecided"


def test_q_claims_compare_with_the_stronger_reference():
    ari, fill = {"untrained": 0.2, "rule": 0.5, LABEL_TRAINED: 0.7}, {"untrained": 0, "rule": 0.3, LABEL_TRAINED: 0.4}
    weak = by_id(constructed(ari, fill, baseline=0.1))  # the untrained network is the stronger reference
    assert weak["Q1"].decided == "held" and "untrained network" in weak["Q1"].criterion
    strong = by_id(constructed(ari, fill, baseline=0.6))  # a model-free baseline above the rule
    assert strong["Q1"].decided == "not held" and "foreground_components" in strong["Q1"].criterion
    assert strong["Q0"].decided == "held" and strong["Q2"].value < 0


def test_q2_needs_a_control_that_gains():
    ds = constructed({"untrained": 0.3, "rule": 0.5, LABEL_TRAINED: 0.3},
                     {"untrained": 0, "rule": 0.3, LABEL_TRAINED: 0.4})
    c = by_id(ds)
    assert c["Q0"].decided != "held"
    assert c["Q2"].decided == "undecided" and np.isnan(c["Q2"].value)  # a fraction of no gain says nothing
    assert "no control gain" in fraction_table(ds, "condition", "untrained", [LABEL_TRAINED], resamples=100)
    assert "Q0" not in by_id(ds, control=None) and np.isnan(by_id(ds, control=None)["Q2"].value)


def test_t2_reads_the_settled_object_ari_on_scenes():
    ds = constructed({"untrained": 0.2, "backprop": 0.5, "td": 0.4}, {k: 0.1 for k in ("untrained", "backprop", "td")})
    ds = ds.expand_dims(columns=["unshared"], axis=1).assign_coords(
        rule=("condition", ["untrained", "backprop", "temporal_derivative"]), hidden_credit=("condition", ["", "", "fa"]),
        optimizer=("condition", ["", "adam", "adam"]))
    ds["val_accuracy"] = ds.val_object_ari
    ds["alignment"] = xr.DataArray(np.full((3, 1, 3, 2, 2, 2, 2), np.nan), dims=(
        "seed", "columns", "condition", "batch", "step", "direction", "level"))  # no T1 measurements here
    ds["alignment_trivial"] = ds.alignment.notnull()
    ds["denoise_error"] = ds.fill_error
    rows = {c.id: c for c in temporal_claims(ds, "unshared", resamples=300, quality="object_ari", quality_raw=None)}
    assert rows["T2a"].decided == "held" and rows["T2a"].value == pytest.approx(0.2, abs=0.03)  # settled, not step 0
    assert rows["T2b"].decided == "held" and "object ARI" in rows["T2a"].criterion
    assert np.isnan(rows["T2d"].value) and rows["T2d"].decided == "undecided"


def test_with_the_motion_grouping_the_same_signal_baseline_is_among_the_scene_baselines():
    from bioglom.analysis import BASELINES
    from bioglom.analysis.pair_statistics import count_pairs
    from bioglom.analysis.parse_eval import baseline_islands
    from bioglom.data.motion import motion_segments

    task = SceneTask(val_scenes=16, test_scenes=12, grouping="motion")
    held = task.held_out(0, patch_size=2, signal_clips=300)
    assert held.signal_images.shape == (300, 3, 16, 16) and held.signal_segments.shape == (300, 64)
    # the training clips themselves: batch u of the stream is clips u * size ...
    clips = task.clips(8, 0, 0)
    assert torch.equal(held.signal_images[:8], clips.frame(-1).images)
    assert torch.equal(held.signal_segments[:8], motion_segments(clips.images, 2))
    assert SceneTask(grouping="motion").held_out(0).signal_images is None  # no patch size, no signal
    with pytest.raises(ConfigError, match="signal_clips=-1"):
        task.held_out(0, patch_size=2, signal_clips=-1)
    model = Glom(GlomConfig(levels=3, dim=8, hidden=16, image_size=16, patch_size=2, channels=3))
    q = scene_quality(model, 2, held)
    base = baseline_islands(held.val, held.test, 2, 3, (8, 8),
                            pairs=count_pairs(held.signal_images, held.signal_segments, (8, 8), 2))
    assert "motion_pairs" in base
    best = max(base, key=lambda k: base[k][1])
    assert BASELINES[int(q["baseline_index"])] == best and q["val_baseline_ari"] == base[best][1]


def test_the_scene_table_gives_each_run_beside_the_untrained_network():
    """The table's 'minus untrained' cell is the paired difference of settled object ARI
    (constructed: the rule 0.2 above), and its step-0 column is the bottom-up pass."""
    ds = constructed({"untrained": 0.3, "rule": 0.5, LABEL_TRAINED: 0.6},
                     {"untrained": 0, "rule": 0.2, LABEL_TRAINED: 0.4}, noise=0.01)
    lines = {line.split()[0]: line for line in fraction_table(ds, "condition", "untrained", [LABEL_TRAINED],
                                                                resamples=100).splitlines()[1:-1]}
    cells = lines["rule"].split()
    assert float(cells[1]) == pytest.approx(0.5, abs=0.01) and float(cells[2]) == pytest.approx(0.4, abs=0.01)
    assert float(cells[3]) == pytest.approx(0.2, abs=0.01)  # minus the untrained network, paired
    low, high = float(cells[4].strip("[,")), float(cells[5].strip("]"))
    assert low < float(cells[3]) < high and high - low < 0.01
    assert "[" not in lines["untrained"]  # no difference with itself
