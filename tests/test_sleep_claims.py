"""W0-W4 values and verdicts on constructed evaluation curves (bioglom.experiments.wake_sleep.claims)."""

import numpy as np
import pytest
import xarray as xr

from bioglom.experiments.wake_sleep.claims import final_window, sleep_claims

PRE, DEPRIVED, RECOVERY, UPDATES = 100, 300, 60, 300
SCHEDULES = [("interleaved", "interleaved", 0, 1, UPDATES), ("day-night-1", "day-night", 1, 2, UPDATES),
             ("day-night-10", "day-night", 10, 20, UPDATES), ("day-night-100", "day-night", 100, 200, UPDATES),
             ("deprivation", "deprivation", 0, 460, 460), ("sleep-first", "sleep-first", 10, 20, UPDATES),
             ("positive-only", "positive-only", 0, 1, UPDATES), ("sleep-only", "sleep-only", 0, 1, UPDATES)]


def deprivation_curve(u, ref=0.8, low=0.6, recover_at=30, shrink_to=0.3):
    """Accuracy and spread of the deprivation run: flat at ``ref`` while both phases run,
    falling to ``low`` and the spread to ``shrink_to`` over the wake-only stretch, back to
    ``ref`` ``recover_at`` sleep updates after it."""
    end = PRE + DEPRIVED
    frac = np.clip((u - PRE) / DEPRIVED, 0, 1)
    acc = np.where(u <= end, ref - (ref - low) * frac, np.minimum(ref, low + (ref - low) * (u - end) / recover_at))
    spread = np.where(u <= end, shrink_to + (1 - shrink_to) * np.exp(-10 * frac), 1.0)  # collapse comes early
    return acc, spread


def constructed(final=None, dep=None, seeds=3, samples=400, rng=0):
    """Accuracy curves: every schedule starts at 0.5 and rises to ``final[name]`` by update
    50; day-night-100 swings with its phase (0.1 lower during wake blocks), so a single
    reading would depend on where it falls."""
    final = {"interleaved": 0.8, "day-night-1": 0.8, "day-night-10": 0.8, "day-night-100": 0.85, "sleep-first": 0.8,
             "positive-only": 0.6, "sleep-only": 0.55, **(final or {})}
    r = np.random.default_rng(rng)
    u = np.arange(0, 461, 10)
    difficulty = r.random((seeds, 1, samples))
    acc = np.zeros((len(SCHEDULES), len(u)))
    spread = np.ones_like(acc)
    for i, (name, kind, block, cycle, length) in enumerate(SCHEDULES):
        if kind == "deprivation":
            acc[i], spread[i] = deprivation_curve(u, **(dep or {}))
            continue
        acc[i] = 0.5 + (final[name] - 0.5) * np.clip(u / 50, 0, 1)
        if name == "day-night-100":
            acc[i] -= 0.1 * ((u - 1) // 100 % 2 == 0) * (u > 0)
        acc[i, u > length] = np.nan
    correct = (difficulty[:, None] < acc[None, :, :, None]).astype(float)  # seed schedule update sample
    norm = spread[None, :, :, None] * r.uniform(0.8, 1.2, correct.shape)
    return xr.Dataset(
        {"probe_correct": (("seed", "schedule", "update", "sample"), correct),
         "centred_norm": (("seed", "schedule", "update", "sample"), norm)},
        coords={"schedule": [s[0] for s in SCHEDULES], "update": u, "kind": ("schedule", [s[1] for s in SCHEDULES]),
                "block": ("schedule", [s[2] for s in SCHEDULES]), "cycle": ("schedule", [s[3] for s in SCHEDULES]),
                "length": ("schedule", [s[4] for s in SCHEDULES])})


def claims(ds):
    return {c.id: c for c in sleep_claims(ds, pre=PRE, deprived=DEPRIVED, recovery=RECOVERY, resamples=400)}


def test_final_window_is_a_full_cycle_or_a_tenth_of_the_run():
    assert final_window(300, 1) == 30 and final_window(300, 200) == 200 and final_window(460, 460) == 460


def test_every_w_claim_held_on_a_healthy_run():
    c = claims(constructed())
    assert list(c) == ["W0", "W0a", "W0b", "W0c", "W1", "W1 block 1", "W1 block 10", "W1 block 100", "W2", "W2a",
                       "W2b", "W3", "W3a", "W3b", "W4"]
    assert all(v.decided == "held" for v in c.values()), {k: v.decided for k, v in c.items()}


def test_the_final_read_out_averages_a_whole_cycle():
    """day-night-100 reads 0.85 in its sleep blocks and 0.75 in its wake blocks: the mean
    over its last cycle is 0.80, as interleaved's, where the last reading alone (the end of
    a wake block) would put it 0.05 short and fail W1."""
    c = claims(constructed())
    assert c["W1 block 100"].value == pytest.approx(0.0, abs=0.02) and c["W1 block 100"].decided == "held"
    c = claims(constructed(final={"day-night-100": 0.8}))
    assert c["W1 block 100"].value == pytest.approx(0.05, abs=0.02) and c["W1 block 100"].decided == "not held"


@pytest.mark.parametrize("change, claim, verdict", [
    (dict(final={"interleaved": 0.5}), "W0a", "not held"),
    (dict(final={"positive-only": 0.8}), "W0b", "not held"),    # positive learning alone does as well
    (dict(final={"sleep-only": 0.9}), "W0c", "not held"),
    (dict(final={"day-night-10": 0.6}), "W1", "not held"),
    (dict(final={"day-night-10": 0.77}), "W1", "undecided"),
    (dict(dep=dict(shrink_to=0.8)), "W2a", "not held"),          # no collapse
    (dict(dep=dict(low=0.0)), "W2b", "not held"),                # accuracy falls as fast as the spread
    (dict(dep=dict(low=0.79)), "W3a", "not held"),               # nothing degrades
    (dict(dep=dict(recover_at=200)), "W3b", "not held"),         # recovery too slow
    (dict(final={"sleep-first": 0.6}), "W4", "not held"),
    (dict(final={"sleep-only": 0.9}), "W1", "held"),              # W0 fails: stated beside W1's own verdict
    (dict(final={"day-night-10": 0.6, "sleep-only": 0.9}), "W1", "not held"),  # which can still fail
])
def test_each_verdict_on_constructed_curves(change, claim, verdict):
    assert claims(constructed(**change))[claim].decided == verdict


def test_missing_schedules_are_named_and_undecided():
    ds = constructed()
    c = claims(ds.sel(schedule=[s for s in ds.schedule.values if s not in ("sleep-only", "deprivation")]))
    assert c["W0c"].decided == "undecided" and "sleep-only" in c["W0c"].criterion
    assert c["W2"].decided == "undecided" and c["W3"].decided == "undecided"
    assert c["W0"].decided == "undecided"


def test_w1_to_w4_state_w0_without_taking_its_verdict():
    c = claims(constructed(final={"sleep-only": 0.9}))
    assert c["W0"].decided == "not held" and "W0 is not held" in c["W1"].criterion
    assert "W0 is" not in claims(constructed())["W1"].criterion


def test_w0a_compares_with_raw_pixels_when_they_are_recorded():
    ds = constructed()
    r = np.random.default_rng(3)
    for raw, verdict in ((0.6, "held"), (0.9, "not held")):
        pixels = (r.random((ds.sizes["seed"], ds.sizes["sample"])) < raw).astype(float)
        c = claims(ds.assign(raw_pixels_correct=(("seed", "sample"), pixels)))
        assert "raw pixels" in c["W0a"].criterion and c["W0a"].decided == verdict


def test_collapse_makes_the_probe_claims_of_the_deprivation_run_undecided():
    """The spread falls to 5 % of its start in the wake-only stretch: W2a measures the fall
    (held), but the standardised probe that W2b and W3a read cannot see collapse."""
    healthy = claims(constructed())
    assert healthy["W2"].decided == "held"
    c = claims(constructed(dep=dict(shrink_to=0.05)))
    assert c["W2a"].decided == "held" and c["W2b"].decided == "undecided" and "collapsed" in c["W2b"].criterion
    assert c["W2"].decided == "undecided" and c["W3a"].decided == "undecided"
    assert c["W1"].decided == "held"  # the other schedules did not collapse


def test_as_good_as_interleaved_is_not_held_where_nothing_learns():
    """Every schedule at the untrained accuracy: W1 and W4's differences are 0, within their
    margin, but they say nothing; they are undecided, not held."""
    flat = {k: 0.5 for k in ("interleaved", "day-night-1", "day-night-10", "day-night-100", "sleep-first",
                             "positive-only", "sleep-only")}
    c = claims(constructed(final=flat))
    assert c["W0a"].decided == "not held"
    assert c["W1 block 10"].decided == "undecided" and "nothing learns" in c["W1 block 10"].criterion
    assert c["W4"].decided == "undecided"
