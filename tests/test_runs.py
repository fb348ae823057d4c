"""Runs you can trust: resume refuses other settings, output folders are locked, files are
readable under the umask, stale temporaries go, results carry their provenance."""

import os
import subprocess
import sys

import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.analysis import run_attrs
from bioglom.atomic import atomic_write_bytes, file_mode, remove_stale_temporaries
from bioglom.cli import lock_output_folder
from bioglom.data import make_scenes, mask_regions
from bioglom.learning import Batch, Trainer, build_rule


def cfg(**kw):
    return GlomConfig(**{**dict(levels=2, dim=8, image_size=8, patch_size=2, channels=3, hidden=16, radius=(1, 3)), **kw})


def batches(u):
    scenes = make_scenes(4, image_size=8, objects=(1, 2), scale=(0.3, 0.5), seed=0, start=4 * u)
    corrupted, keep = mask_regions(scenes.images, 1, 2, 3, torch.Generator().manual_seed(u))
    return Batch(scenes.images, corrupted, keep)


def first_run(ckpt):
    t = Trainer(Glom(cfg()), build_rule("backprop", steps=1), batches, updates=4, lr=1e-3, seed=0, checkpoint=ckpt,
                checkpoint_every=1, progress=False, data={"scenes": "plain"})
    t.run(stop_after=2)


@pytest.mark.parametrize("change, field", [
    (dict(seed=1), "seed"),
    (dict(lr=0.5), "settings.lr"),
    (dict(optimizer="sgd"), "settings.optimizer"),
    (dict(rule=("delta", {})), "rule"),
    (dict(rule=("backprop", {"margin": 2.0})), "rule_options.margin"),
    (dict(model=dict(dim=16)), "config.dim"),
    (dict(data={"scenes": "wholes"}), "data.scenes"),
])
def test_resume_with_other_settings_refuses_and_leaves_the_folder(tmp_path, change, field):
    ckpt = tmp_path / "c.pt"
    first_run(ckpt)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    rule_name, rule_opts = change.get("rule", ("backprop", {}))
    rule_opts = {"steps": 1, **rule_opts}
    t = Trainer(Glom(cfg(**change.get("model", {}))), build_rule(rule_name, **rule_opts), batches, updates=4,
                lr=change.get("lr", 1e-3), seed=change.get("seed", 0), checkpoint=ckpt, progress=False,
                optimizer=change.get("optimizer", "adam"), data=change.get("data", {"scenes": "plain"}))
    with pytest.raises(ConfigError, match=rf"resume=True: .* other .*{field.replace('.', '[.]')}"):
        t.run(resume=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert t.update == 0


def test_resume_with_the_same_settings_goes_on(tmp_path):
    ckpt = tmp_path / "c.pt"
    first_run(ckpt)
    t = Trainer(Glom(cfg()), build_rule("backprop", steps=1), batches, updates=4, lr=1e-3, seed=0, checkpoint=ckpt,
                progress=False, data={"scenes": "plain"})
    t.run(resume=True)
    assert t.update == 4 and len(t.history) == 4


def test_a_corrupt_checkpoint_is_named(tmp_path):
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"not a checkpoint")
    t = Trainer(Glom(cfg()), build_rule("backprop", steps=1), batches, updates=2, checkpoint=ckpt, progress=False)
    with pytest.raises(ConfigError, match="c.pt' cannot be read as a bioglom checkpoint"):
        t.run(resume=True)


def test_a_locked_folder_refuses_a_second_run(tmp_path, capsys):
    lock = tmp_path / ".lock"
    lock.write_text(str(os.getppid()))  # a live process other than this one holds it
    with pytest.raises(SystemExit) as e:
        lock_output_folder(tmp_path)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is being written by another run" in err[0] and str(os.getppid()) in err[0]


def test_a_lock_left_by_a_dead_run_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(dead.stdout.strip())
    assert lock_output_folder(tmp_path).read_text() == str(os.getpid())


def test_two_processes_on_one_folder(tmp_path):
    # the real thing: a second process on a folder a live run holds stops with one line, exit 2
    code = ("import sys, time; from pathlib import Path; from bioglom.cli import lock_output_folder; "
            "lock_output_folder(Path(sys.argv[1])); print('locked', flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "is being written by another run" in second.stderr and "Traceback" not in second.stderr
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_have_the_mode_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write_bytes(tmp_path / "r.nc", b"data")
        assert file_mode() == 0o666 & ~umask
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    stale = [tmp_path / "islands.nc.abc123.tmp", tmp_path / "checkpoints" / "seed0.pt.x9.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    keep = tmp_path / "islands.nc"
    keep.write_bytes(b"whole")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert keep.exists() and not any(p.exists() for p in stale)


def test_results_carry_their_provenance():
    attrs = run_attrs({"lr": 0.1}, 3)
    for key in ("git_commit", "python_version", "torch_version", "numpy_version", "xarray_version", "brian2_version"):
        assert attrs[key] and attrs[key] != "not installed", key
    assert attrs["torch_version"] == torch.__version__.split("+")[0] or attrs["torch_version"] == torch.__version__
    # the machine, which moves float32 sums as the threads do
    assert attrs["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert attrs["cpu_model"] and attrs["blas"] and attrs["blas_threads"] >= 1


# ---- adversarial inputs: one clear error naming the field, before any work ----------
import numpy as np  # noqa: E402

from bioglom import NonFiniteError  # noqa: E402

BAD_CONFIGS = [
    (dict(gaussian_resample="no"), "gaussian_resample='no' is not allowed; it must be True or False"),
    (dict(td_location="no"), "td_location='no' is not allowed; it must be True, False or None"),
    (dict(bu_location=1), "bu_location=1 is not allowed"),
    (dict(seed="zero"), "seed='zero' is not allowed"),
    (dict(seed=1.5), "seed=1.5 is not allowed"),
    (dict(seed=2**70), "seed=1180591620717411303424 is not allowed"),
    (dict(seed=-1), "seed=-1 is not allowed"),
    (dict(levels=10**6), "levels=1000000 is not allowed; give 2 to 32 levels"),
    (dict(levels=1), "levels=1 is not allowed"),
]


@pytest.mark.parametrize("change, message", BAD_CONFIGS)
def test_bad_config_values_get_one_clear_error(change, message):
    with pytest.raises(ConfigError) as e:
        cfg(**change)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_numpy_integers_are_accepted_and_serialise():
    c = cfg(dim=np.int64(8), hidden=np.int32(16), beta_end=np.float32(10.0), radius=(np.int64(1), 3))
    assert c.dim == 8 and type(c.dim) is int and type(c.radius[0]) is int
    c.to_json()
    Glom(c)


@pytest.mark.parametrize("images, kw, message", [
    (torch.rand(0, 3, 8, 8), {}, "an empty batch"),
    (torch.rand(2, 3, 8, 8, dtype=torch.float64), {}, "images has dtype torch.float64; the model's parameters are torch.float32"),
    (torch.rand(2, 3, 8, 8, dtype=torch.float16), {}, "images has dtype torch.float16"),
    (torch.rand(2, 3, 8, 8), {"on_step": 5}, "on_step=5 is not allowed"),
])
def test_bad_settle_inputs_get_one_clear_error(images, kw, message):
    with pytest.raises(ConfigError, match=message):
        Glom(cfg()).settle(images, 2, **kw)


def test_non_finite_settling_raises_instead_of_returning_nan():
    model = Glom(cfg())  # layer norm of a 1e30-scale vector overflows its variance
    with pytest.raises(NonFiniteError, match=r"settling step \d+, level \d+: a non-finite embedding"):
        model.settle(torch.rand(2, 3, 8, 8) * 1e30, 2)


def test_progress_to_a_pipe_stays_short(tmp_path):
    code = ("import torch; from tests.test_runs import cfg, batches; from bioglom import Glom; "
            "from bioglom.learning import Trainer, build_rule; "
            "Trainer(Glom(cfg()), build_rule('delta', steps=1), batches, updates=40, label='run-a').run()")
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [l for l in (out.stdout + out.stderr).splitlines() if l.strip()]
    assert 1 <= len(lines) <= 11, lines
    assert all(l.startswith("run-a: update ") for l in lines), lines


@pytest.mark.parametrize("script", ["islands", "wake_sleep", "distillery", "temporal_derivative", "stdp_spiking"])
def test_help_shows_each_default_once_and_the_choices(script):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, f"simulations/{script}.py", "--help"], capture_output=True, text=True,
                         cwd=root, timeout=300, env={**os.environ, "COLUMNS": "400"})
    assert out.returncode == 0, out.stderr
    options = [l for l in out.stdout.splitlines() if l.lstrip().startswith("--") and "--help" not in l]
    assert options
    for line in options:
        assert line.count("(default:") <= 1, line
    assert "--device {auto,cpu,cuda}" in out.stdout


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_an_unusable_output_folder_is_refused_up_front(tmp_path, kind):
    if kind == "file":
        out = tmp_path / "taken"
        out.write_text("x")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        out = tmp_path / "ro"
        (out / "checkpoints").mkdir(parents=True)
        out.chmod(0o555)
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "simulations/islands.py", "--quick", "--out", str(out)], capture_output=True,
                       text=True, cwd=root, timeout=300)
    out.chmod(0o755) if kind != "file" else None
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: out=") and "Traceback" not in r.stderr


def test_an_empty_output_folder_name_is_refused(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "simulations" / "islands.py"), "--quick", "--out", ""],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == "error: out='' is not allowed; give an output folder"
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


def test_a_divergence_before_the_first_checkpoint_names_none(tmp_path):
    from bioglom import NonFiniteError

    model = Glom(cfg(norm="none"))
    with torch.no_grad():
        model.nets.td.b2[0] = float("inf")
    t = Trainer(model, build_rule("backprop", steps=2), batches, updates=3, checkpoint=tmp_path / "c.pt",
                progress=False)
    with pytest.raises(NonFiniteError, match=r"the last good checkpoint is \(none written yet\)"):
        t.run()


@pytest.mark.parametrize("rule_name", ["delta", "temporal_derivative"])
def test_sgd_applies_exactly_minus_lr_times_the_rules_update(rule_name):
    # the local rule's own change, scaled by one learning rate: no Adam normalisation in between
    torch.manual_seed(0)
    model = Glom(cfg())
    rule = build_rule(rule_name, steps=2)
    probe = Glom(cfg())
    probe.load_state_dict(model.state_dict())
    rule.accumulate(probe, batches(0), None)
    update = {k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for k, p in probe.named_parameters()}
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    t = Trainer(model, rule, batches, updates=1, lr=0.05, optimizer="sgd", progress=False)
    t.run()
    changed = 0
    for k, p in model.named_parameters():
        if not k.startswith("nets."):  # the front end and decoder learn by their own gradient, with Adam
            assert not torch.equal(p.detach(), before[k]), k
            continue
        # float32 rounding only: SGD adds alpha * g in one fused step, the reference in two
        torch.testing.assert_close(p.detach(), before[k] - 0.05 * update[k], rtol=2.4e-7, atol=1e-9)
        changed += int(update[k].abs().sum() > 0)
    assert changed >= 4


@pytest.mark.parametrize("script, argv, message", [
    ("islands", ["--seed", "-1"], "seed=-1 is not allowed"),
    ("islands", ["--seed", "1e20"], "seed='1e20' is not allowed"),
    ("islands", ["--seed", str(2**70)], f"seed={2**70} is not allowed"),
    ("wake_sleep", ["--blocks", ""], "blocks='' is not allowed; give at least one value"),
    ("temporal_derivative", ["--rules", ""], "rules='' is not allowed; give at least one value"),
    ("distillery", ["--conditions", ""], "conditions='' is not allowed; give at least one value"),
])
def test_bad_command_lines_stop_with_one_line_before_work(tmp_path, script, argv, message):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, f"simulations/{script}.py", "--quick", "--out", str(tmp_path / "o"), *argv],
                       capture_output=True, text=True, cwd=root, timeout=300)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "o").exists()  # before any work: not even the output folder


def test_changed_fields_names_nested_changes_and_tolerates_later_defaults():
    from bioglom.config import changed_fields

    saved = {"lr": 0.1, "radius": [1, 2], "rule": {"margin": 1.0, "steps": 2}}
    assert changed_fields(saved, {"lr": 0.1, "radius": (1, 2), "rule": {"margin": 1.0, "steps": 2}}) == []
    assert changed_fields(saved, {"lr": 0.5, "radius": (1, 3), "rule": {"margin": 2.0, "steps": 2}}) == [
        "lr", "radius", "rule.margin"]
    # an option added after the run was saved is no change at its default, and is one otherwise
    later = {**saved, "recon": "pixels"}
    assert changed_fields(saved, later, {"recon": "pixels"}) == []
    assert changed_fields(saved, {**saved, "recon": "balanced"}, {"recon": "pixels"}) == ["recon"]
    assert changed_fields(saved, later) == ["recon"]  # without defaults, any new field counts
