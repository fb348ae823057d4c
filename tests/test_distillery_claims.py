"""D1-D5 values and verdicts on constructed measurements; the distillery metrics they read."""

import numpy as np
import pytest
import torch
import xarray as xr

from bioglom.analysis import verdict_within

from bioglom.experiments.distillery import dispersion, distillery_claims, object_ensemble_ratio
from bioglom.analysis.verdicts import Interval

RUNS = [("uniform", "shared", False), ("uniform", "unshared", False), ("uniform", "distilled", False),
        ("uniform", "distilled", True), ("foveated", "shared", False), ("foveated", "unshared", False)]
BASE = {"acc": {("uniform", "shared", False): 0.8, ("uniform", "unshared", False): 0.6,
                ("uniform", "distilled", False): 0.72, ("uniform", "distilled", True): 0.72,
                ("foveated", "shared", False): 0.6, ("foveated", "unshared", False): 0.55},
        "disp": {"distilled": (1.0, 0.6), "unshared": (1.0, 0.95), "shared": (0.0, 0.0)},
        "ratio": {"shared": 0.8, "distilled": 0.6, "unshared": 0.6}}


def constructed(acc=None, disp=None, ratio=None, seeds=3, samples=500, inputs=64, rng=0, start_ratio=None,
                spread=None):
    r = np.random.default_rng(rng)
    acc, disp, ratio = {**BASE["acc"], **(acc or {})}, {**BASE["disp"], **(disp or {})}, {**BASE["ratio"], **(ratio or {})}
    u = r.random((seeds, samples))  # one difficulty per digit: models that agree, as paired runs do
    correct = np.stack([(np.clip(u + 0.1 * r.standard_normal(u.shape), 0, 1) < acc[k]).astype(float) for k in RUNS], 1)
    d = np.stack([np.stack([disp[k[1]][m] * r.uniform(0.9, 1.1, (seeds, inputs)) for m in (0, 1)], 1) for k in RUNS], 1)
    start_ratio = start_ratio or {}
    er = np.stack([np.stack([start_ratio.get(k[1], 1.0) * r.uniform(0.8, 1.2, (seeds, samples)),
                             ratio[k[1]] * r.uniform(0.8, 1.2, (seeds, samples))], 1) for k in RUNS], 1)
    extra = {}
    if spread is not None:  # {condition: (start, end)}
        extra["feature_spread"] = (("seed", "run", "moment"),
                                   np.array([[spread.get(k[1], (1.0, 1.0)) for k in RUNS]] * seeds))
    return xr.Dataset(
        {**extra, "probe_correct": (("seed", "run", "sample"), correct),
         "dispersion_inputs": (("seed", "run", "moment", "input"), d),
         "ensemble_ratio": (("seed", "run", "moment", "sample"), er)},
        coords={"run": [" ".join(map(str, k)) for k in RUNS], "moment": ["start", "end"],
                "retina": ("run", [k[0] for k in RUNS]), "condition": ("run", [k[1] for k in RUNS]),
                "rule": ("run", ["temporal_derivative"] * len(RUNS)), "location": ("run", [k[2] for k in RUNS])})


def claims(ds):
    return {c.id: c for c in distillery_claims(ds, "temporal_derivative", resamples=400)}


def test_every_d_claim_held_when_the_effects_are_large():
    c = claims(constructed())
    assert list(c) == ["D1", "D1a", "D1b", "D2", "D3", "D3a", "D3b", "D4", "D5"]
    assert all(v.decided == "held" for v in c.values()), {k: v.decided for k, v in c.items()}
    assert c["D1a"].value == pytest.approx(0.4, abs=0.03) and c["D3b"].value == pytest.approx(0.12, abs=0.04)


@pytest.mark.parametrize("change, claim, verdict", [
    (dict(disp={"distilled": (1.0, 1.2)}), "D1a", "not held"),          # dispersion rises
    (dict(disp={"distilled": (1.0, 0.95)}), "D1b", "undecided"),        # falls, but no more than unshared's
    (dict(ratio={"distilled": 0.9}), "D2", "not held"),                 # one shared net gains more
    (dict(ratio={"distilled": 0.8}), "D2", "undecided"),
    (dict(acc={("uniform", "unshared", False): 0.85}), "D3a", "not held"),  # no gap to narrow
    (dict(acc={("uniform", "distilled", False): 0.6}), "D3b", "undecided"),
    (dict(acc={("foveated", "unshared", False): 0.3}), "D4", "not held"),
    (dict(acc={("uniform", "distilled", True): 0.9}), "D5", "not held"),    # location matters
    (dict(acc={("uniform", "distilled", True): 0.75}), "D5", "undecided"),  # within noise of the margin
])
def test_each_verdict_on_constructed_effects(change, claim, verdict):
    assert claims(constructed(**change))[claim].decided == verdict


def test_d2_counts_only_what_training_adds():
    """Unshared nets differ from the start, so distilled columns have a lower ensemble ratio
    than one shared net before any training: D2 holds only if training widens that gap."""
    same = dict(start_ratio={"shared": 0.8, "distilled": 0.6, "unshared": 0.6})
    assert claims(constructed(**same))["D2"].decided != "held"
    assert claims(constructed(start_ratio={"shared": 0.8, "distilled": 0.8, "unshared": 0.8}))["D2"].decided == "held"


def test_collapsed_features_make_probe_claims_undecided():
    healthy = claims(constructed(spread={"shared": (1.0, 0.9), "unshared": (1.0, 0.8), "distilled": (1.0, 0.7)}))
    assert healthy["D3"].decided == "held"
    c = claims(constructed(spread={"shared": (1.0, 0.9), "unshared": (1.0, 0.8), "distilled": (1.0, 0.05)}))
    assert c["D3b"].decided == "undecided" and "collapsed" in c["D3b"].criterion
    assert c["D3a"].decided == "held" and c["D3"].decided == "undecided"
    assert c["D5"].decided == "undecided"  # distilled runs on both sides


def test_d5_says_when_its_interval_cannot_resolve_the_margin():
    c = claims(constructed(samples=40))
    assert c["D5"].decided == "undecided" and "not decidable at this budget" in c["D5"].criterion


def test_missing_runs_are_named_and_undecided():
    ds = constructed()
    c = claims(ds.isel(run=[0, 1, 2, 3]))  # no foveated runs
    assert c["D4"].decided == "undecided" and "foveated" in c["D4"].criterion
    assert c["D3"].decided == "held"


def test_verdict_within_is_an_equivalence():
    assert verdict_within(Interval(0.0, -0.02, 0.02), 0.03) == "held"
    assert verdict_within(Interval(0.05, 0.04, 0.06), 0.03) == "not held"
    assert verdict_within(Interval(-0.05, -0.06, -0.04), 0.03) == "not held"
    assert verdict_within(Interval(0.02, -0.01, 0.05), 0.03) == "undecided"
    assert verdict_within(Interval(0.0, float("nan"), 0.01), 0.03) == "undecided"


def test_per_input_dispersion_pools_to_the_pooled_one():
    y = torch.randn(5, 2, 7, 3, dtype=torch.float64)
    per = dispersion(y, per_input=True)  # p g
    assert per.shape == (5, 2)
    spread = (y - y.mean(2, keepdim=True)).pow(2).sum(-1).mean(2)  # p g
    norm = y.norm(dim=-1).mean(2)
    torch.testing.assert_close(per, spread.sqrt() / norm)
    assert (dispersion(y[:, :, :1].expand(-1, -1, 7, -1), per_input=True) < 1e-12).all()


def test_object_ensemble_ratio_on_constructed_predictions():
    """Ratio 1 when every member predicts the same, (||mean err||^2 / mean ||err||^2) in
    general, NaN for an object of fewer than two columns; background columns ignored."""
    states = torch.zeros(2, 1, 4, 2, dtype=torch.float64)
    objects = torch.tensor([[True, True, True, False], [True, False, False, False]])
    same = torch.ones(2, 1, 4, 2, dtype=torch.float64)
    r = object_ensemble_ratio(same, states, objects)
    assert r[0, 0] == pytest.approx(1.0) and torch.isnan(r[1, 0])
    opposite = torch.tensor([[1.0, 0], [-1.0, 0], [0, 0], [50, 50]], dtype=torch.float64)[None, None].expand(2, 1, 4, 2)
    r = object_ensemble_ratio(opposite, states, objects)
    assert r[0, 0] == pytest.approx(0.0)  # the members' errors cancel
    noisy = states + torch.randn(2, 1, 4, 2, dtype=torch.float64)
    assert object_ensemble_ratio(noisy, states, objects)[0, 0] <= 1  # Jensen


def test_d5_is_not_held_where_nothing_learned():
    ds = constructed()
    learned = ds.assign(probe_correct_start=ds.probe_correct * 0)
    assert claims(learned)["D5"].decided == "held"
    c = claims(ds.assign(probe_correct_start=ds.probe_correct))  # training changed nothing
    assert c["D5"].decided == "undecided" and "nothing learns" in c["D5"].criterion
