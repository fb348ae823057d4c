"""One subpackage per experiment: what it measures, its claims and its figures.

An experiment is its script in ``simulations/`` plus its subpackage here; the
instruments every experiment uses (islands and ARI, baselines, verdicts, the recorder,
names, figures) are in :mod:`bioglom.analysis`.
"""
