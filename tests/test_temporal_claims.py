"""T1-T3 values and verdicts on constructed measurements (bioglom.experiments.temporal_derivative.claims)."""

import numpy as np
import pytest
import xarray as xr

from bioglom.experiments.temporal_derivative import chosen_credit, memory_claim, temporal_claims

CONDITIONS = [("untrained", "untrained", "", ""), ("backprop", "backprop", "", "adam"),
              ("td lb", "temporal_derivative", "local_backprop", "adam"),
              ("td fa", "temporal_derivative", "feedback_alignment", "adam"),
              ("td fa sgd", "temporal_derivative", "feedback_alignment", "sgd")]


def constructed(acc, val=None, cosine=0.3, spread=0.3, settle=0.8, seeds=3, samples=400, batches=8, raw_acc=None,
                rng=0):
    """Measurements whose per-condition accuracy is ``acc[name]`` (Bernoulli draws), whose
    alignment entries are ``cosine`` +- ``spread`` (step 0 bottom-up: 1 and trivial), and
    whose decoding error after settling is ``settle`` times that at the bottom-up pass."""
    r = np.random.default_rng(rng)
    names = [c[0] for c in CONDITIONS]
    C = len(names)

    def draws(p):
        return np.stack([(r.random((seeds, samples)) < p[n]).astype(float) for n in names], 1)[:, None]

    correct, raw = draws(acc), draws(raw_acc or acc)
    val = val or acc
    val_acc = np.array([[val[n] for n in names]] * seeds, float)[:, None]
    start = r.uniform(0.5, 1.5, (seeds, 1, C, samples))
    err = np.stack([start, start * settle * r.uniform(0.9, 1.1, start.shape)], 3)  # seed col cond moment sample
    steps, L = 4, 2
    al = cosine + spread * r.uniform(-1, 1, (seeds, 1, C, batches, steps, 2, L))
    trivial = np.zeros(al.shape, bool)
    al[..., 0, 0, :], trivial[..., 0, 0, :] = 1.0, True
    al[..., 1, -1] = np.nan  # the top level has no top-down net
    dims = ("seed", "columns", "condition")
    return xr.Dataset(
        {"probe_correct": (dims + ("sample",), correct), "probe_correct_raw": (dims + ("sample",), raw),
         "val_accuracy": (dims, val_acc), "denoise_error": (dims + ("moment", "sample"), err),
         "alignment": (dims + ("batch", "step", "direction", "level"), al),
         "alignment_trivial": (dims + ("batch", "step", "direction", "level"), trivial)},
        coords={"condition": names, "columns": ["unshared"], "moment": ["bottom_up_pass", "settled"],
                "direction": ["bottom_up", "top_down"], "rule": ("condition", [c[1] for c in CONDITIONS]),
                "hidden_credit": ("condition", [c[2] for c in CONDITIONS]),
                "optimizer": ("condition", [c[3] for c in CONDITIONS])})


GOOD = {"untrained": 0.5, "backprop": 0.9, "td lb": 0.7, "td fa": 0.75, "td fa sgd": 0.65}


def claims(ds):
    return {c.id: c for c in temporal_claims(ds, "unshared", resamples=400)}


def test_every_t_claim_held_when_the_effects_are_large():
    c = claims(constructed(GOOD))
    assert [k for k in c] == ["T1", "T1 bottom_up", "T1 top_down", "T1p", "T2", "T2a", "T2b", "T2c", "T2d"]
    assert all(v.decided == "held" for v in c.values()), {k: v.decided for k, v in c.items()}
    assert c["T2a"].low <= c["T2a"].value <= c["T2a"].high
    assert c["T2a"].value == pytest.approx(0.25, abs=0.03)


def test_t1_leaves_out_the_entries_that_are_one_by_construction():
    """Non-trivial cosines average 0: T1 is undecided, not pulled up by the step-0 ones."""
    c = claims(constructed(GOOD, cosine=0.0, spread=0.5))
    assert abs(c["T1"].value) < 0.05 and c["T1"].decided != "held"
    assert abs(c["T1 bottom_up"].value) < 0.08  # where every step-0 entry is a trivial 1
    assert claims(constructed(GOOD, cosine=-0.4, spread=0.1))["T1"].decided == "not held"


def test_t1_needs_both_directions():
    """Bottom-up cosines of +0.5 and top-down ones of -0.3 average to a positive number,
    but the top-down nets' updates point against the local gradient: T1 is not held."""
    ds = constructed(GOOD)
    al = ds.alignment.values
    al[..., 0, :] = np.where(np.isnan(al[..., 0, :]), np.nan, 0.5)
    al[..., 1, :] = np.where(np.isnan(al[..., 1, :]), np.nan, -0.3)
    al[..., 0, 0, :] = 1.0  # the trivial entries stay 1
    c = claims(ds.assign(alignment=(ds.alignment.dims, al)))
    assert c["T1"].value > 0 and c["T1 bottom_up"].decided == "held"
    assert c["T1 top_down"].decided == "not held" and c["T1"].decided == "not held"


def test_t1_precondition_sees_settling_that_does_not_help():
    assert claims(constructed(GOOD, settle=1.3))["T1p"].decided == "not held"
    assert claims(constructed(GOOD, settle=1.0))["T1p"].decided == "undecided"


def test_t2_verdicts_and_their_combination():
    no_gain = dict(GOOD, **{"td lb": 0.5, "td fa": 0.5})
    c = claims(constructed(no_gain))
    assert c["T2a"].decided == "undecided" and c["T2"].decided == "undecided"
    worse = dict(GOOD, **{"td lb": 0.3, "td fa": 0.3})
    assert claims(constructed(worse))["T2a"].decided == "not held"
    beats_backprop = dict(GOOD, backprop=0.5)
    c = claims(constructed(beats_backprop))
    assert c["T2b"].decided == "not held" and c["T2"].decided == "not held"
    collapsed = dict(GOOD, **{"td lb": 0.2, "td fa": 0.2})  # the scale-sensitive probe sees it
    assert claims(constructed(GOOD, raw_acc=collapsed))["T2d"].decided == "not held"
    sgd_fails = dict(GOOD, **{"td fa sgd": 0.4})
    assert claims(constructed(sgd_fails))["T2c"].decided == "not held"


def test_hidden_credit_is_chosen_on_validation_not_test():
    """Test accuracy favours local_backprop; validation favours feedback_alignment, which is chosen."""
    test = dict(GOOD, **{"td lb": 0.85, "td fa": 0.55})
    val = dict(GOOD, **{"td lb": 0.6, "td fa": 0.7})
    ds = constructed(test, val=val)
    assert (chosen_credit(ds.sel(columns="unshared"), "adam") == "td fa").all()
    assert claims(ds)["T2a"].value == pytest.approx(0.05, abs=0.04)
    assert chosen_credit(ds.sel(columns="unshared"), "rmsprop") is None


def test_missing_conditions_are_undecided_and_named():
    ds = constructed(GOOD).drop_sel(condition=["backprop", "td fa sgd"])
    c = claims(ds)
    assert c["T2b"].decided == "undecided" and "backprop" in c["T2b"].criterion
    assert c["T2c"].decided == "undecided" and c["T2"].decided == "undecided"


def test_memory_claim_verdicts():
    def peak(local, bptt):
        values = np.array([[[100.0, 100.0 * bptt]], [[100.0, 100.0 * local]]])
        return xr.DataArray(values, dims=("memory_rule", "columns", "memory_steps"),
                            coords={"memory_rule": ["backprop", "delta"], "memory_steps": [4, 32]})

    assert memory_claim(peak(1.0, 7.0)).decided == "held"
    assert memory_claim(peak(1.5, 7.0)).decided == "not held"  # local memory grows
    assert memory_claim(peak(1.0, 1.1)).decided == "not held"  # so does nothing else: no contrast
    assert memory_claim(peak(1.1, 7.0)).value == pytest.approx(1.1)


def test_memory_claim_is_undecided_when_the_peaks_are_the_size_of_their_resolution():
    def peak(fewest, most):  # backprop grows 1.5x; the local rule stays the same
        values = np.array([[[fewest, 1.5 * most]], [[fewest, most]]])
        return xr.DataArray(values, dims=("memory_rule", "columns", "memory_steps"),
                            coords={"memory_rule": ["backprop", "delta"], "memory_steps": [4, 32]})

    r = 2**19
    small = memory_claim(peak(2**20, 2**20), resolution=r)  # 1 MB peaks, known to +-512 KiB
    assert small.decided == "undecided" and small.low < 1.0 < small.high and small.value == pytest.approx(1.0)
    large = memory_claim(peak(2**26, 2**26), resolution=r)  # 64 MB peaks: the same ratios decide
    assert large.decided == "held" and large.low == pytest.approx(63.5 / 64.5) and large.high == pytest.approx(64.5 / 63.5)
    assert memory_claim(peak(2**26, 1.3 * 2**26), resolution=r).decided == "not held"  # the local rule grows
    exact = memory_claim(peak(100.0, 100.0))  # resolution 0 (CUDA): the measurement is the value
    assert exact.decided == "held" and exact.low == exact.high == pytest.approx(1.0)


def _with(ds, spread=None, raw_pixels=None, raw_val=None):
    """``ds`` with per-condition feature spreads and a pixel-probe reference of accuracy ``raw_pixels``."""
    seeds, samples = ds.sizes["seed"], ds.sizes["sample"]
    if spread is not None:
        ds = ds.assign(spread=(("seed", "columns", "condition"),
                               np.array([[[spread[n] for n in ds.condition.values]]] * seeds)))
    if raw_pixels is not None:
        r = np.random.default_rng(5)
        correct = (r.random((seeds, 1, 1, samples)) < raw_pixels).astype(float).repeat(ds.sizes["condition"], 2)
        ds = ds.assign(raw_pixels_correct=(("seed", "columns", "condition", "sample"), correct),
                       raw_pixels_val_accuracy=(("seed", "columns", "condition"),
                                                np.full((seeds, 1, ds.sizes["condition"]), raw_val or raw_pixels)))
    return ds


def test_t2_compares_with_raw_pixels_where_they_are_stronger_on_validation():
    c = claims(_with(constructed(GOOD), raw_pixels=0.8))
    assert "raw pixels" in c["T2a"].criterion and c["T2a"].decided != "held"
    assert c["T2c"].decided == "not held"  # 0.65 against 0.8
    # weaker pixels: the untrained network is the reference, named in the row
    c = claims(_with(constructed(GOOD), raw_pixels=0.3))
    assert "the untrained network" in c["T2a"].criterion and c["T2a"].decided == "held"


def test_collapsed_features_make_standardised_probe_claims_undecided():
    healthy = {n: 0.08 for n in GOOD}
    c = claims(_with(constructed(GOOD), spread=healthy))
    assert c["T2a"].decided == "held"
    collapsed = dict(healthy, **{"td lb": 0.006, "td fa": 0.006})
    c = claims(_with(constructed(GOOD), spread=collapsed))
    assert c["T2a"].decided == "undecided" and "collapsed" in c["T2a"].criterion and "measured: held" in c["T2a"].criterion
    assert c["T2b"].decided == "undecided" and c["T2"].decided == "undecided"
    assert c["T2d"].decided == "held"  # the scale-sensitive probe is not gated


def test_backprop_is_chosen_on_validation_among_its_learning_rates():
    from bioglom.experiments.temporal_derivative.claims import chosen_backprop

    names = ["untrained", "backprop", "backprop lr x2", "backprop label-trained"]
    ds = xr.Dataset({"val_accuracy": (("seed", "condition"), [[0.1, 0.5, 0.6, 0.9], [0.1, 0.7, 0.6, 0.9]])},
                    coords={"condition": names, "rule": ("condition", ["untrained", "backprop", "backprop", "backprop"])})
    # per seed the better learning rate; never the label-trained control, whatever its score
    assert list(chosen_backprop(ds).values) == ["backprop lr x2", "backprop"]


def test_t2e_reads_the_few_label_probe_against_the_same_reference():
    """With a few-label probe recorded, T2e compares temporal_derivative's few-label accuracy
    with the untrained network's (the reference T2a takes here): held when the learned
    features help where labels are few, not held when they hurt."""
    ds = constructed(GOOD)
    few_good = constructed({"untrained": 0.3, "backprop": 0.6, "td lb": 0.5, "td fa": 0.55, "td fa sgd": 0.5}, rng=3)
    few_bad = constructed({"untrained": 0.5, "backprop": 0.6, "td lb": 0.3, "td fa": 0.3, "td fa sgd": 0.3}, rng=4)
    for few, verdict in ((few_good, "held"), (few_bad, "not held")):
        c = claims(ds.assign(probe_few_correct=few.probe_correct))
        assert c["T2e"].decided == verdict and "few-label" in c["T2e"].criterion
        assert "T2a-T2e" in c["T2"].criterion
    assert "T2e" not in claims(ds)  # not measured: no row
