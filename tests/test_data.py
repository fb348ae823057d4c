import gzip

import numpy as np
import pytest
import torch

from bioglom import ConfigError
from bioglom.data import column_labels, load_digits, load_mnist, make_scenes, mask_regions, moving_digits, read_idx, write_idx


def test_scene_labels_nest_across_levels():
    scenes = make_scenes(64, seed=3)
    labels = column_labels(scenes, 2, 4)  # b l n
    assert labels.shape == (64, 4, 64)
    for l in range(3):
        lower, upper = labels[:, l], labels[:, l + 1]
        # every lower-level segment lies inside exactly one upper-level segment
        for b in range(64):
            pairs = set(zip(lower[b].tolist(), upper[b].tolist()))
            assert len(pairs) == len({p[0] for p in pairs})
    # pixel labels nest too: every part pixel lies in an object, background in none
    assert ((scenes.parts > 0) == (scenes.objects > 0)).all()
    # level 0 is strictly finer than level 1 in nearly every scene (objects have two parts)
    finer = [len(set(labels[b, 0].tolist())) > len(set(labels[b, 1].tolist())) for b in range(64)]
    assert sum(finer) >= 0.9 * 64


def test_scenes_reproducible_and_vary():
    a, b, c = make_scenes(8, seed=1), make_scenes(8, seed=1), make_scenes(8, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.parts, b.parts)
    assert not torch.equal(a.images, c.images)
    # scene i depends only on (seed, i): a later window of the stream matches
    tail = make_scenes(4, seed=1, start=4)
    assert torch.equal(tail.images, a.images[4:])
    # several objects of several kinds, positions and colours
    many = make_scenes(200, seed=0)
    assert (many.objects.amax((1, 2)) >= 2).float().mean() > 0.9
    assert len(set(many.kinds[many.kinds >= 0].tolist())) == 3
    assert many.images.amax() <= 1 and many.images.amin() >= 0


def test_scene_bad_input():
    with pytest.raises(ConfigError, match="objects="):
        make_scenes(2, objects=(3, 1))
    with pytest.raises(ConfigError, match="patch_size=3"):
        column_labels(make_scenes(1), 3, 2)


def test_digits_and_moving_digits():
    d = load_digits(16)
    assert d.images.shape == (1797, 1, 16, 16) and d.labels.max() == 9
    v = moving_digits(5, frames=6, size=16, speed=2.0, seed=0)
    assert v.images.shape == (5, 6, 1, 16, 16)
    mass = v.images.sum((2, 3, 4))
    torch.testing.assert_close(mass, mass[:, :1].expand_as(mass))  # the digit never leaves the canvas
    assert not torch.equal(v.images[:, 0], v.images[:, -1])  # and it moves
    assert torch.equal(moving_digits(5, 6, 16, speed=2.0, seed=0).images, v.images)
    with pytest.raises(ConfigError, match="size=6"):
        moving_digits(2, 3, 6)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip(tmp_path, suffix, dtype):
    arr = (np.random.default_rng(0).random((7, 5, 3)) * 100).astype(dtype)
    path = tmp_path / f"a-idx3-ubyte{suffix}"
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, arr)


def test_idx_header_bytes(tmp_path):
    """The on-disk layout is LeCun's: magic 0x00000803 for 3-d uint8, big-endian sizes."""
    write_idx(tmp_path / "x", np.zeros((2, 3, 4), np.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3]) and raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])


def test_load_mnist_from_folder_and_errors(tmp_path):
    with pytest.raises(ConfigError, match="is not a folder"):
        load_mnist(tmp_path / "nowhere")
    imgs = (np.arange(3 * 28 * 28) % 256).astype(np.uint8).reshape(3, 28, 28)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    with pytest.raises(ConfigError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2, 3], np.uint8))
    d = load_mnist(tmp_path)
    assert d.images.shape == (3, 1, 28, 28) and d.labels.tolist() == [1, 2, 3]
    assert d.images.max() == 1.0
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"garbage!")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1], np.uint8))
    with pytest.raises(ConfigError, match="not an IDX file"):
        load_mnist(tmp_path, "test")


def test_mask_regions():
    images = torch.rand(4, 3, 16, 16)
    copy = images.clone()
    out, keep = mask_regions(images, 2, 3, 5, torch.Generator().manual_seed(0))
    assert torch.equal(images, copy)
    assert keep.shape == (4, 1, 16, 16)
    removed = (1 - keep).sum((1, 2, 3))
    assert (removed >= 9).all() and (removed <= 50).all()
    assert (out[keep.expand_as(out) == 0] == 0).all()
    assert torch.equal(out[keep.expand_as(out) == 1], images[keep.expand_as(out) == 1])
    with pytest.raises(ConfigError, match="max_size=20"):
        mask_regions(images, 1, 3, 20)


def _mnist_folder(tmp_path, n=5, gz=False, images=None, labels=None):
    import numpy as np

    ext = ".gz" if gz else ""
    imgs = np.zeros((n, 28, 28), np.uint8) if images is None else images
    labs = (np.arange(n) % 10).astype(np.uint8) if labels is None else labels
    for split, (img_name, lab_name) in {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}.items():
        write_idx(tmp_path / (img_name + ext), imgs)
        write_idx(tmp_path / (lab_name + ext), labs)
    return tmp_path


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncate_data":
        path.write_bytes(data[:-7])
    elif how == "truncate_header":
        path.write_bytes(data[:6])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"\x89PNG not idx at all")
    elif how == "bad_gzip":
        path.write_bytes(b"\x1f\x8b\x08\x00garbage-after-gzip-magic")
    elif how == "truncated_gzip":
        path.write_bytes(data[: len(data) // 2])
    elif how == "gzip_of_garbage":
        path.write_bytes(gzip.compress(b"hello"))
    elif how == "extra_bytes":
        path.write_bytes(data + b"\x00\x00")


@pytest.mark.parametrize("gz, how", [
    (False, "truncate_data"), (False, "truncate_header"), (False, "empty"), (False, "garbage"), (False, "extra_bytes"),
    (True, "bad_gzip"), (True, "truncated_gzip"), (True, "gzip_of_garbage"), (True, "empty"),
])
@pytest.mark.parametrize("which", ["images", "labels"])
def test_corrupt_mnist_files_are_named(tmp_path, gz, how, which):
    from bioglom import ConfigError

    folder = _mnist_folder(tmp_path, gz=gz)
    name = ("train-images-idx3-ubyte" if which == "images" else "train-labels-idx1-ubyte") + (".gz" if gz else "")
    _damage(folder / name, how)
    with pytest.raises(ConfigError) as e:
        load_mnist(folder, "train")
    assert name in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("labels, images, message", [
    ("big", None, "MNIST labels are integers 0-9"),
    ("float", None, "MNIST labels are integers 0-9"),
    (None, "float", "MNIST images are uint8"),
    (None, "nan", "MNIST images are uint8"),
    ("short", None, "5 images in train-images-idx3-ubyte but 4 labels"),
])
def test_mnist_contents_are_checked(tmp_path, labels, images, message):
    import numpy as np

    from bioglom import ConfigError

    labs = {"big": np.array([0, 1, 200, 3, 4], np.uint8), "float": np.arange(5, dtype=np.float64),
            "short": np.arange(4, dtype=np.uint8), None: None}[labels]
    imgs = {"float": np.full((5, 28, 28), 1e300), "nan": np.full((5, 28, 28), np.nan), None: None}[images]
    folder = _mnist_folder(tmp_path, images=imgs, labels=labs)
    with pytest.raises(ConfigError, match=message):
        load_mnist(folder, "train")


def test_mnist_sizes_are_read_from_the_headers(tmp_path):
    from bioglom.data import mnist_sizes

    assert mnist_sizes(_mnist_folder(tmp_path, n=7)) == {"train": 7, "test": 7}
