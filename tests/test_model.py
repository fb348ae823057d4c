import numpy as np
import pytest
import torch
import xarray as xr

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.analysis import write_netcdf


def test_shapes_and_top_level_has_no_top_down(small_cfg):
    traj = Glom(small_cfg).settle(torch.rand(2, 1, 8, 8), steps=5)
    assert traj.states.shape == (6, 2, 3, 16, 8)
    for name in ("bottom_up", "top_down", "previous", "lateral"):
        assert getattr(traj, name).shape == (5, 2, 3, 16, 8)
    assert (traj.top_down[:, :, -1] == 0).all()
    assert traj.top_down[:, :, 0].abs().sum() > 0
    torch.testing.assert_close(traj.previous, traj.states[:-1])


def test_step_is_the_normalised_consensus(small_cfg):
    """States follow docs/design.md §3 exactly: layer norm of the weighted mean of the contributions."""
    from bioglom.consensus import consensus_weights

    traj = Glom(small_cfg).double().settle(torch.rand(2, 1, 8, 8, dtype=torch.float64), steps=3)
    for t in range(3):
        a = consensus_weights(small_cfg, t, 3).double()
        c = torch.stack([traj.bottom_up[t], traj.top_down[t], traj.previous[t], traj.lateral[t]])
        mean = (a[:, None, :, None, None] * c).sum(0) / a.sum(0)[None, :, None, None]
        expected = torch.nn.functional.layer_norm(mean, (8,), eps=1e-5)
        torch.testing.assert_close(traj.states[t + 1], expected, rtol=1e-12, atol=1e-12)


def test_same_seed_same_trajectory_other_seed_differs(small_cfg):
    images = torch.rand(2, 1, 8, 8)
    a = Glom(small_cfg).settle(images, 3).states
    b = Glom(small_cfg).settle(images, 3).states
    c = Glom(small_cfg.replace(seed=1)).settle(images, 3).states
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_resampled_gaussian_neighbourhood_follows_generator(small_cfg):
    cfg = small_cfg.replace(neighbourhood="gaussian", gaussian_k=3, gaussian_resample=True)
    model = Glom(cfg)
    images = torch.rand(2, 1, 8, 8)
    run = lambda s: model.settle(images, 3, generator=torch.Generator().manual_seed(s)).states
    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_settle_leaves_input_unmodified(small_cfg):
    images = torch.rand(2, 1, 8, 8)
    copy = images.clone()
    Glom(small_cfg).settle(images, 2)
    assert torch.equal(images, copy)


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.rand(1, 8, 8), r"images has shape \(1, 8, 8\)"),
        (torch.rand(1, 3, 8, 8), "images has 3 channels"),
        (torch.rand(1, 1, 8, 10), "images is 8x10 pixels"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.long), "dtype"),
        (torch.full((1, 1, 8, 8), float("nan")), "non-finite"),
    ],
)
def test_bad_images_rejected_before_work(small_cfg, images, match):
    with pytest.raises(ConfigError, match=match):
        Glom(small_cfg).settle(images, 2)


def test_bad_steps(small_cfg):
    with pytest.raises(ConfigError, match="steps=0"):
        Glom(small_cfg).settle(torch.rand(1, 1, 8, 8), 0)


def test_video_frames_and_previous_state(small_cfg):
    cfg = small_cfg.replace(init_state="previous")
    model = Glom(cfg)
    video = torch.rand(2, 3, 1, 8, 8)
    traj = model.settle(video, steps=2)
    assert traj.states.shape[0] == 7
    assert traj.frame.tolist() == [0, 0, 1, 1, 2, 2]
    # frame 1 starts from the last state of frame 0
    torch.testing.assert_close(traj.previous[2], traj.states[2])
    # a static image is a video of identical frames with one frame
    static = model.settle(video[:, 0], steps=2)
    torch.testing.assert_close(static.states, traj.states[:3])


@pytest.mark.parametrize("frontend", ["linear", "conv"])
def test_frontend_and_decoder_shapes(small_cfg, frontend):
    model = Glom(small_cfg.replace(frontend=frontend, channels=3))
    images = torch.rand(2, 3, 8, 8)
    assert model.encode(images).shape == (2, 16, 8)
    assert model.decode(torch.randn(2, 16, 8)).shape == (2, 3, 8, 8)


def test_trajectory_to_xarray_round_trip(small_cfg, tmp_path):
    traj = Glom(small_cfg).settle(torch.rand(2, 1, 8, 8), steps=2)
    ds = traj.to_xarray(attrs={"config": small_cfg.to_json()})
    assert ds.state.dims == ("step", "sample", "level", "y", "x", "dim")
    assert ds.state.shape == (3, 2, 3, 4, 4, 8)
    np.testing.assert_allclose(ds.state.isel(step=1, level=0).values.reshape(2, 16, 8), traj.states[1, :, 0].detach().numpy(), rtol=1e-6)
    assert np.isnan(ds.bottom_up.isel(step=0)).all()
    path = write_netcdf(ds, tmp_path / "traj.nc")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_on_step_sees_every_step_and_record_false_keeps_ends(small_cfg):
    model = Glom(small_cfg)
    video = torch.rand(2, 3, 1, 8, 8)
    full = model.settle(video, 4)
    seen = []
    short = model.settle(video, 4, on_step=lambda rec: seen.append((rec.frame, rec.step, rec.new.clone())),
                         record=False)
    assert [(f, s) for f, s, _ in seen] == [(f, s) for f in range(3) for s in range(4)]
    for k, (_, _, new) in enumerate(seen):
        torch.testing.assert_close(new, full.states[k + 1])
    assert short.states.shape[0] == 2
    torch.testing.assert_close(short.states[0], full.states[0])
    torch.testing.assert_close(short.final, full.final)
    torch.testing.assert_close(short.lateral[0], full.lateral[-1])


def test_detach_cuts_graph_from_front_end_and_between_steps(small_cfg):
    model = Glom(small_cfg)
    traj = model.settle(torch.rand(2, 1, 8, 8), 3, detach=True)
    traj.states[-1].sum().backward()
    assert all(p.grad is None for p in model.frontend.parameters())
    assert model.nets.bu.w2.grad is not None


def test_init_perturbation_moves_every_weight_by_at_most_its_relative_size_reproducibly():
    from bioglom.config import ConfigError

    kw = dict(levels=3, dim=8, image_size=8, patch_size=2, channels=1, seed=3)
    base = Glom(GlomConfig(**kw))
    same = Glom(GlomConfig(**kw, init_perturbation=0.0))
    moved, again = (Glom(GlomConfig(**kw, init_perturbation=1e-7)) for _ in range(2))
    pairs = [tuple(p.detach() for p in ps)
             for ps in zip(base.parameters(), same.parameters(), moved.parameters(), again.parameters())]
    assert all(torch.equal(a, b) and torch.equal(c, d) for a, b, c, d in pairs)
    rel = max(float(((c - a).abs() / a.abs().clamp_min(1e-30)).max()) for a, _, c, _ in pairs)
    assert 0 < rel <= 1e-7 + 2**-23  # float32 rounds x (1 + e) to its nearest value
    assert sum(int((c != a).sum()) for a, _, c, _ in pairs) > 0.4 * sum(a.numel() for a, *_ in pairs)
    for bad in (-1e-7, 0.6, float("nan")):
        with pytest.raises(ConfigError, match="init_perturbation="):
            GlomConfig(**kw, init_perturbation=bad)
