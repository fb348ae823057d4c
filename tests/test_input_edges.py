"""Bad input to the data and mask functions ends in one ConfigError naming the field,
never a numpy or torch traceback from inside (a table of cases, grown from the issue's)."""

import pytest
import torch

from bioglom.config import ConfigError
from bioglom.data import fill_removed, make_scenes, make_whole_scenes, mask_parts, mask_regions, masked_batch

IMAGES = torch.rand(2, 3, 8, 8)
ONE_PART = torch.zeros(2, 8, 8, dtype=torch.long)
BATCH = dict(batch=2, regions=1, min_size=1, max_size=2)

CASES = [
    ("seed", lambda: make_whole_scenes(2, seed=-1)),
    ("seed", lambda: make_whole_scenes(2, seed=2**63)),
    ("start", lambda: make_whole_scenes(2, start=-3)),
    ("scale", lambda: make_whole_scenes(2, scale=0.4)),
    ("objects", lambda: make_whole_scenes(2, objects=3)),
    ("min_gap", lambda: make_whole_scenes(2, min_gap=-1)),
    ("seed", lambda: make_scenes(2, seed=1.5)),
    ("objects", lambda: make_scenes(2, objects=(1,))),
    ("start", lambda: make_scenes(2, start=2**63)),
    ("images", lambda: mask_regions(torch.rand(3, 8, 8))),
    ("images", lambda: mask_regions(IMAGES.long())),
    ("regions", lambda: mask_regions(IMAGES, regions=1.5)),
    ("max_size", lambda: mask_regions(IMAGES, min_size=3, max_size=20)),
    ("parts", lambda: mask_parts(IMAGES, torch.zeros(2, 4, 4, dtype=torch.long))),
    ("parts", lambda: mask_parts(IMAGES, torch.full((2, 8, 8), -1))),
    ("parts", lambda: mask_parts(IMAGES, torch.zeros(2, 8, 8))),
    ("count", lambda: mask_parts(IMAGES, ONE_PART, count=-1)),
    ("keep", lambda: fill_removed(IMAGES, torch.ones(3, 1, 8, 8))),
    ("fill", lambda: fill_removed(IMAGES, torch.ones(2, 1, 8, 8), float("nan"))),
    ("fill", lambda: fill_removed(IMAGES, torch.ones(2, 1, 8, 8), "grey")),
    ("indices", lambda: masked_batch(IMAGES, [5], 0, seed=0, **BATCH)),
    ("indices", lambda: masked_batch(IMAGES, [], 0, seed=0, **BATCH)),
    ("update", lambda: masked_batch(IMAGES, [0], -1, seed=0, **BATCH)),
    ("seed", lambda: masked_batch(IMAGES, [0], 0, seed=-2, **BATCH)),
    ("batch", lambda: masked_batch(IMAGES, [0], 0, seed=0, **{**BATCH, "batch": 0})),
    # the surfaces added for motion, clips and the segment teacher (issue 37's audit)
    ("seed", lambda: _moving(2, seed=-1)),
    ("start", lambda: _moving(2, start=-1)),
    ("n", lambda: _moving(10**12)),  # refused with an estimate, before any work
    ("n", lambda: make_whole_scenes(10**12)),
    ("share", lambda: _moving(2, share=1.5)),
    ("video", lambda: _motion().motion_segments(torch.zeros(1, 2, 3, 0, 0), 2)),
    ("video", lambda: _motion().motion_segments(_nan(torch.rand(1, 2, 3, 8, 8)), 2)),
    ("video", lambda: _motion().motion_segments(torch.rand(1, 3, 8, 8), 2)),
    ("max_layers", lambda: _motion().motion_layers(torch.rand(1, 2, 3, 8, 8), max_layers=0)),
    ("levels", lambda: _motion().motion_batch(torch.rand(2, 2, 3, 8, 8), 2, 0, 1, torch.Generator())),
    ("levels", lambda: _motion().motion_batch(torch.rand(2, 2, 3, 8, 8), 2, 1, 1, torch.Generator())),
    ("images", lambda: _masking().mask_uniform(torch.rand(3, 8, 8), 1, torch.Generator())),
    ("images", lambda: _masking().uniform_regions(_nan(torch.rand(1, 3, 8, 8)))),
    ("min_pixels", lambda: _masking().uniform_regions(torch.rand(1, 3, 8, 8), min_pixels=0)),
    ("tol", lambda: _masking().uniform_regions(torch.rand(1, 3, 8, 8), tol=-1)),
    ("indices", lambda: _glyphs(indices=[0, 9])),
    ("images", lambda: _glyphs(images=_nan(torch.rand(5, 8, 8)).numpy())),
    ("images", lambda: _glyphs(images=torch.zeros(5, 0, 0).numpy())),
    # turn 3's leftovers
    ("image_size", lambda: _config(image_size=(8,))),
    ("radius", lambda: _config(radius="1")),
    ("init_perturbation", lambda: _config(init_perturbation=-1.0)),
    ("generator", lambda: _glom().settle(torch.rand(1, 1, 8, 8), 2, generator="abc")),
    ("measure_alignment", lambda: _rule(measure_alignment="no")),
    ("feedback_seed", lambda: _rule(feedback_seed=-1)),
    ("the batches", lambda: _trainer(lambda u: (torch.rand(2, 1, 8, 8),) * 3).run()),
]


def _moving(n, **kw):
    from bioglom.data import make_moving_scenes

    return make_moving_scenes(n, **kw)


def _motion():
    from bioglom.data import motion

    return motion


def _masking():
    from bioglom.data import masking

    return masking


def _nan(x):
    x = x.clone()
    x.view(-1)[0] = float("nan")
    return x


def _glyphs(images=None, indices=None):
    import numpy as np

    from bioglom.data.digits import moving_images

    images = np.random.default_rng(0).random((5, 8, 8)) if images is None else images
    return moving_images(images, np.arange(len(images)), 2, indices=None if indices is None else np.array(indices))


def _config(**kw):
    from bioglom import GlomConfig

    return GlomConfig(**{"levels": 2, "dim": 8, "image_size": 8, "patch_size": 2, "channels": 1, **kw})


def _glom():
    from bioglom import Glom

    return Glom(_config())


def _rule(**kw):
    from bioglom.learning import build_rule

    return build_rule("temporal_derivative", **kw)


def _trainer(batches):
    from bioglom.learning import Trainer, build_rule

    return Trainer(_glom(), build_rule("delta", steps=2), batches, updates=1)


@pytest.mark.parametrize("field,call", CASES, ids=[f"{i}-{f}" for i, (f, _) in enumerate(CASES)])
def test_bad_input_names_its_field_in_one_line(field, call):
    with pytest.raises(ConfigError) as e:
        call()
    message = str(e.value)
    assert message.startswith(field) or f"{field}=" in message or f"{field} " in message, message
    assert "\n" not in message


def test_good_input_still_works():
    scenes = make_whole_scenes(2, seed=3, start=5)
    corrupted, keep = mask_parts(scenes.images, scenes.parts, 1, torch.Generator().manual_seed(0))
    assert corrupted.shape == scenes.images.shape and keep.shape == (2, 1, 16, 16)
    chosen, _, keep = masked_batch(IMAGES, torch.tensor([0, 1]), 0, seed=0, **BATCH)
    assert chosen.shape == (2, 3, 8, 8) and keep.shape == (2, 1, 8, 8)


def test_toml_booleans_are_not_numbers(tmp_path, capsys):
    import dataclasses

    from bioglom.cli import option, parse_options

    @dataclasses.dataclass
    class Opts:
        seed: int = option(0, "seed")
        lr: float = option(0.1, "rate")

        def validate(self):
            pass

    for key in ("seed", "lr"):
        (tmp_path / "c.toml").write_text(f"{key} = true\n")
        with pytest.raises(SystemExit):
            parse_options(Opts, ["--config", str(tmp_path / "c.toml")])
        assert f"{key}=True is not allowed" in capsys.readouterr().err


def test_numpy_booleans_serialise():
    import json

    import numpy as np

    from bioglom import GlomConfig
    from bioglom.analysis import run_attrs

    cfg = GlomConfig(bu_location=np.bool_(True), channels=1)
    assert cfg.bu_location is True and json.loads(cfg.to_json())["bu_location"] is True
    attrs = run_attrs({"flag": np.bool_(True), "n": np.int64(3)}, 0, extra=np.bool_(False))
    assert json.loads(attrs["config"]) == {"flag": True, "n": 3} and attrs["extra"] == "false"


def test_a_video_of_no_frames_is_refused():
    from bioglom import Glom, GlomConfig

    model = Glom(GlomConfig(channels=1, image_size=8))
    with pytest.raises(ConfigError, match="0 frames"):
        model.settle(torch.rand(2, 0, 1, 8, 8), 2)


@pytest.mark.parametrize("columns", ["shared", "unshared"])
def test_the_size_estimate_bounds_the_nets_and_refuses_what_cannot_fit(columns):
    from bioglom import Glom, GlomConfig

    cfg = GlomConfig(channels=1, image_size=8, columns=columns, consensus="precision")
    model = Glom(cfg)
    nets = sum(p.numel() for p in model.nets.parameters())
    loc = (2 * cfg.levels - 1) * (1 if columns == "shared" else cfg.n_columns) * 4 * cfg.location_frequencies * cfg.hidden
    assert nets <= cfg.weight_count() <= nets + loc + cfg.patch_size**2 * cfg.channels * cfg.dim
    with pytest.raises(ConfigError, match="GiB"):
        GlomConfig(channels=1, dim=10**9)


@pytest.mark.parametrize("neighbourhood,size", [("full", 32), ("window", 64), ("gaussian", 64), ("window", 16)])
def test_the_memory_estimate_covers_what_the_model_holds(neighbourhood, size):
    from bioglom import Glom, GlomConfig
    from bioglom.model import uses_sparse_attention

    cfg = GlomConfig(channels=1, image_size=size, patch_size=2, neighbourhood=neighbourhood, columns="shared")
    model = Glom(cfg)
    assert uses_sparse_attention(cfg) == (neighbourhood != "full" and size == 64)
    held = sum(b.numel() * b.element_size() for b in model.buffers())
    est = cfg.memory_estimate()
    assert held <= est["buffers"] <= 4 * held + 32 * cfg.n_columns**2
    assert sum(p.numel() * 4 for p in model.nets.parameters()) <= est["weights"]


@pytest.mark.parametrize("neighbourhood,size", [("window", 512), ("gaussian", 256), ("full", 128)])
def test_the_memory_estimate_is_near_the_peak_of_building_the_model(neighbourhood, size):
    """Against the process's real peak, not the formula: building each model in a fresh
    process (benchmarks/memory_estimate.py measured 0.84-1.11x). Below about 50 MB a fixed
    ~10 MB of first allocations, which the estimate leaves out, dominates the peak."""
    from bioglom import GlomConfig
    from bioglom.learning.profile import measure_in_subprocess

    cfg = GlomConfig(channels=1, image_size=size, patch_size=2, neighbourhood=neighbourhood, columns="shared")
    got = measure_in_subprocess({"measure": "build", "config": cfg.to_dict()})
    assert 0.5 <= got["estimate_bytes"] / got["peak_bytes"] <= 2, got


@pytest.mark.parametrize("kwargs,says", [
    (dict(image_size=1024, neighbourhood="full"), "every pair of columns"),
    (dict(image_size=8192, neighbourhood="gaussian"), "9 columns each"),
    (dict(image_size=4096, neighbourhood="window", dim=2048), "one image's settling step"),
])
def test_an_image_too_large_for_memory_is_refused_with_the_estimate(kwargs, says):
    from bioglom import GlomConfig

    with pytest.raises(ConfigError, match="GiB") as e:
        GlomConfig(channels=1, patch_size=2, columns="shared", **kwargs)
    assert says in str(e.value) and "image_size=" in str(e.value) and "\n" not in str(e.value)


def test_a_full_disk_ends_in_one_line_and_loses_nothing(tmp_path, monkeypatch, capsys):
    import errno

    import bioglom.atomic as atomic
    from bioglom.cli import run_script

    path = atomic.atomic_write_bytes(tmp_path / "r.nc", b"kept")

    def fails(tmp):  # a library that reports a full disk in its own words
        raise RuntimeError("HDF5: can't write data")

    monkeypatch.setattr(atomic, "_nearly_full", lambda folder, margin=1 << 20: True)
    with pytest.raises(OSError) as e:
        atomic.atomic_write(path, fails)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert path.read_bytes() == b"kept" and list(tmp_path.iterdir()) == [path]

    def main(argv):
        atomic.atomic_write(path, fails)

    assert run_script(main, []) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and str(path) in err and "--resume" in err


def test_a_truncated_cached_part_is_named(tmp_path):
    import dataclasses

    import xarray as xr

    from bioglom.experiment import cached

    @dataclasses.dataclass
    class Opts:
        resume: bool = True

    (tmp_path / "part.nc").write_bytes(b"cut sh")
    with pytest.raises(ConfigError, match="part.nc cannot be read"):
        cached(tmp_path / "part.nc", Opts(), lambda: xr.Dataset())


def test_a_distributed_partner_that_never_comes_ends_in_one_line():
    import os
    import subprocess
    import sys

    from bioglom.distributed import free_port

    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
           "BIOGLOM_DIST_TIMEOUT": "2"}
    code = ("from bioglom.distributed import init_from_environment\n"
            "from bioglom.config import ConfigError\n"
            "try:\n    init_from_environment('gloo')\nexcept ConfigError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "rank 0 of 2 waited 2 s" in done.stdout and "not every rank 0..1 joined" in done.stdout
