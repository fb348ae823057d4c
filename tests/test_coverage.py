"""The interval every claim uses covers at its nominal level on a synthetic with known seed
and sample variance (bioglom.analysis.coverage); the hierarchical bootstrap it replaced
does not, at 3 seeds, when seeds differ more than samples."""

import pytest

from bioglom.analysis.coverage import STATISTICS, coverage


@pytest.mark.parametrize("statistic", STATISTICS)
@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("sd_seed,sd_sample", [(0.1, 0.1), (0.02, 0.3)])
def test_t_interval_over_seeds_covers(statistic, seeds, sd_seed, sd_sample):
    c = coverage("t over seeds", statistic, seeds, 50, sd_seed, sd_sample, trials=1500, seed=seeds)
    assert c >= 0.93, c


def test_hierarchical_bootstrap_under_covers_when_seeds_dominate():
    # the measure can fail a method: the percentile bootstrap over 3 seeds
    c = coverage("hierarchical bootstrap", "mean", 3, 30, 0.1, 0.1, trials=300, resamples=300)
    assert c < 0.9, c
