import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from bioglom.analysis import Claim, adjusted_rand_index, claims_dataset, extract_islands, island_sizes, write_netcdf
from bioglom.analysis.recorder import format_claims


def test_ari_matches_scikit_learn():
    gen = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 4, (20, 50), generator=gen)
    pred = torch.where(torch.rand(20, 50, generator=gen) < 0.7, truth, torch.randint(0, 6, (20, 50), generator=gen))
    ours = adjusted_rand_index(truth, pred)
    ref = [adjusted_rand_score(t, p) for t, p in zip(truth.numpy(), pred.numpy())]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)
    perm = torch.tensor([3, 0, 2, 1])
    assert (adjusted_rand_index(truth, perm[truth]) == 1).all()  # invariant to renaming


def test_islands_recover_constructed_clusters_even_when_disconnected():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=gen)
    truth = torch.tensor([0, 1, 0, 2, 2, 1, 0, 0, 1, 2])  # clusters interleaved: islands need not be connected
    state = centres[truth] + 0.01 * torch.randn(10, 16, generator=gen)
    labels = extract_islands(state[None, None], threshold=0.95)[0, 0]
    assert adjusted_rand_index(truth, labels).item() == 1.0
    assert labels.tolist()[:4] == [0, 1, 0, 2]  # ids in order of their seeds
    torch.testing.assert_close(island_sizes(labels), torch.tensor(10 / 3, dtype=torch.float64))
    # identical vectors: one island; a threshold above every similarity: one island per column
    assert extract_islands(torch.ones(1, 5, 4), 0.99).max() == 0
    assert extract_islands(torch.eye(5)[None], 0.5)[0].tolist() == [0, 1, 2, 3, 4]


def test_claims_netcdf_round_trip(tmp_path):
    ds = claims_dataset([Claim("I1", 0.61, True, "ARI >= 0.5"), Claim("I2", 0.9, False, "sizes rise")])
    ds.attrs.update(config='{"a": 1}', seed=0)
    path = write_netcdf(ds, tmp_path / "c.nc")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        back = back.load()
    xr.testing.assert_identical(back, ds)
    assert back.claim_held.dtype == bool
    assert "not held" in format_claims([Claim("I2", 0.9, False, "sizes rise")])


def test_killed_write_leaves_no_partial_file(tmp_path):
    from bioglom.atomic import atomic_write

    class Boom(xr.Dataset):
        __slots__ = ()

        def to_netcdf(self, path=None, **kw):  # killed while the file is built (in memory)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_netcdf(Boom({"a": ("x", [1.0])}), tmp_path / "r.nc")

    def half(tmp):  # killed while the bytes are written
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "r.nc", half)
    assert list(tmp_path.iterdir()) == []


def test_linear_probe_scores_one_on_separable_toy_set():
    from bioglom.analysis import linear_probe

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 6, generator=g) * 5
    y = torch.arange(200) % 4
    x = centres[y] + 0.1 * torch.randn(200, 6, generator=g)
    assert linear_probe(x[:120], y[:120], x[120:], y[120:]) == 1.0
    shuffled = y[torch.randperm(200, generator=g)]  # labels unrelated to the features: near chance
    assert linear_probe(x[:120], shuffled[:120], x[120:], shuffled[120:]) < 0.6


def test_history_dataset_keeps_numbers_and_phase():
    from bioglom.analysis import history_dataset

    ds = history_dataset([{"update": 0, "phase": "both", "loss": 1.0, "alignment": torch.zeros(2)},
                          {"update": 1, "phase": "negative", "loss": 0.5, "alignment": torch.zeros(2)}])
    assert list(ds.data_vars) == ["loss"] and list(ds.phase.values) == ["both", "negative"]


def test_representation_metrics_on_constructed_inputs():
    from bioglom.analysis import alignment, dimension_std, effective_rank, mean_norm, uniformity

    same = torch.tensor([[3.0, 4.0, 0.0]]).repeat(5, 1)
    assert effective_rank(same) == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(dimension_std(same), torch.zeros(3, dtype=torch.float64))
    assert mean_norm(same) == pytest.approx(5.0)
    eye = torch.eye(4)[:3] * 2.0  # 3 orthogonal rows of equal norm
    assert effective_rank(eye) == pytest.approx(3.0, abs=1e-9)
    assert alignment(same, same) == pytest.approx(0.0, abs=1e-12)
    assert alignment(torch.eye(2), -torch.eye(2)) == pytest.approx(4.0)  # antipodal: ||z - w||^2 = 4
    assert uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    assert uniformity(same) == pytest.approx(0.0, abs=1e-12)
    spread = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert effective_rank(spread) > 6 and (dimension_std(spread) > 0.2).all()


def test_centred_effective_rank_ignores_a_common_offset():
    from bioglom.analysis import effective_rank

    offset, direction = torch.tensor([5.0, 1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, -1.0, 0.5])
    rows = offset + torch.linspace(-1, 1, 9)[:, None] * direction  # differ only along one direction
    assert effective_rank(rows) > 1.2  # uncentred, the offset counts as a second dimension
    assert effective_rank(rows, centre=True) == pytest.approx(1.0, abs=1e-9)
    assert effective_rank(offset.repeat(5, 1), centre=True) == 0.0


def test_the_scale_sensitive_probe_sees_features_shrink():
    from bioglom.analysis import linear_probe

    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    x = torch.randn(300, 6, generator=g) * 0.3 + torch.nn.functional.one_hot(y, 6).float()
    train, test = slice(0, 200), slice(200, 300)
    for shrink in (1.0, 1e-2, 1e-4):
        standardised = linear_probe(x[train] * shrink, y[train], x[test] * shrink, y[test])
        assert standardised > 0.9  # standardising hides the shrinking: it cannot see collapse
    raw = [linear_probe(x[train] * s, y[train], x[test] * s, y[test], standardise=False) for s in (1.0, 1e-2, 1e-4)]
    assert raw[0] > 0.9
    assert raw[2] < raw[0] - 0.2  # shrunk toward zero, the fixed ridge swamps the read-out


def test_describe_fills_long_names_from_the_table_and_keeps_a_variables_own():
    import numpy as np
    import xarray as xr

    from bioglom.analysis.names import describe, lookup

    ds = xr.Dataset({"level_accuracy": (("u", "level"), np.zeros((2, 3))), "train_loss": ("u", np.zeros(2)),
                     "spread": ("u", np.zeros(2), {"long_name": "mine"}), "mystery": ("u", np.zeros(2)),
                     "image": (("channel", "py", "px"), np.zeros((1, 2, 2)))}, coords={"level": [0, 1, 2]})
    describe(ds)
    assert ds.level_accuracy.attrs["long_name"] == "linear-probe accuracy of each level on held-out digits"
    assert ds.level.attrs["long_name"].startswith("level of the part-whole hierarchy") and ds.level.attrs["units"] == "1"
    assert list(ds.px.values) == [0, 1] and ds.attrs["Conventions"] == "CF-1.10"
    assert ds.train_loss.attrs["units"] == "1" and "per training update" in ds.train_loss.attrs["long_name"]
    assert ds.spread.attrs["long_name"] == "mine" and ds.spread.attrs["units"] == "1"
    assert "long_name" not in ds.mystery.attrs and lookup("mystery") is None  # unknown names are not invented


def test_stack_datasets_nests_keys_into_dimensions_without_duplicates():
    import xarray as xr

    from bioglom.analysis import stack_datasets

    def part(v, n=3):
        return xr.Dataset({"x": ("update", np.full(n, float(v)))}, coords={"update": np.arange(n)})

    parts = {(0, "a"): part(1), (0, "b"): part(2), (1, "a"): part(3), (1, "b"): part(4, n=2)}
    ds = stack_datasets(parts, ("seed", "run"))
    assert ds.x.dims == ("seed", "run", "update") and list(ds.run.values) == ["a", "b"]
    assert list(ds.seed.values) == [0, 1] and float(ds.x.sel(seed=1, run="a", update=2)) == 3
    assert np.isnan(float(ds.x.sel(seed=1, run="b", update=2)))  # a shorter run is padded
