"""Islands (claims I1-I3 of EXPERIMENTS.md): does GLOM, trained by backprop as a denoising
autoencoder with the agreement regularisers of Hinton (2023) section 7, parse procedural
part-whole scenes into islands that match the ground truth?

    python simulations/islands.py            # 2-core CPU sized: a few minutes
    python simulations/islands.py --quick    # seconds
    python simulations/islands.py --preset gpu --device cuda

Trains on a stream of procedural scenes (bioglom.data.scenes), evaluates on held-out
scenes, and writes ``islands.nc`` (claims, ARI per settling step and level, island counts,
training curves, example island maps), ``islands.png`` and ``ari_by_step.png`` to --out.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import Claim, claims_dataset, format_claims, history_dataset, island_scores, run_attrs, write_netcdf
from bioglom.analysis.figures import island_figure, save_figure
from bioglom.cli import ModelOptions, fail, option, parse_options, resolve_device
from bioglom.config import ConfigError, check_positive
from bioglom.data import column_labels, make_scenes, mask_regions
from bioglom.learning import Batch, NonFiniteError, Trainer, build_rule
from bioglom.seeding import seed_everything

I1_MIN_ARI = 0.5


@dataclass
class Options(ModelOptions):
    out: str = option("results/islands", "output folder")
    # model
    image_size: int = option(16, "scene side in pixels")
    columns: str = option("shared", "column nets", choices=("shared", "unshared"))
    neighbourhood: str = option("window", "lateral attention neighbourhood", choices=("full", "window", "gaussian"))
    radius: tuple[int, ...] = option((1, 2, 7), "window radius per level (comma-separated)")
    similarity: str = option("cosine", "attention similarity", choices=("cosine", "dot"))
    beta_start: float = option(2.0, "attention inverse temperature at the first step")
    beta_end: float = option(12.0, "attention inverse temperature at the last step")
    consensus: str = option("mean", "consensus", choices=("mean", "precision"))
    norm: str = option("layer", "normalisation of embeddings", choices=("layer", "l2", "none"))
    frontend: str = option("linear", "front end", choices=("linear", "conv"))
    # learning
    rule: str = option("backprop", "learning rule")
    steps: int = option(6, "settling steps")
    updates: int = option(1500, "training updates")
    batch: int = option(32, "scenes per update")
    lr: float = option(2e-3, "Adam learning rate")
    agreement_weight: float = option(0.1, "weight of predictions agreeing with the consensus")
    negative_weight: float = option(0.1, "weight of the hinge separating predictions from another image's consensus")
    margin: float = option(1.0, "hinge margin (squared distance per dimension)")
    mask_regions: int = option(2, "regions removed from each training input")
    mask_min: int = option(3, "smallest removed region side (pixels)")
    mask_max: int = option(6, "largest removed region side (pixels)")
    checkpoint_every: int = option(100, "updates between checkpoints")
    # evaluation
    test_scenes: int = option(256, "held-out scenes for the claims")
    threshold: float = option(0.9, "cosine threshold that joins a column to an island")
    objects_min: int = option(2, "fewest objects per scene")
    objects_max: int = option(3, "most objects per scene")
    progress: bool = option(True, "show a progress bar")

    def glom_config(self) -> GlomConfig:
        fields = {f.name for f in dataclasses.fields(GlomConfig)}
        given = {k: v for k, v in dataclasses.asdict(self).items() if k in fields}
        return GlomConfig(channels=3, **given)

    def validate(self) -> None:
        self.glom_config()  # raises ConfigError naming the field
        for name in ("updates", "batch", "test_scenes", "steps", "checkpoint_every"):
            check_positive(name, getattr(self, name), integer=True, strict=name != "updates")
        for name in ("lr", "agreement_weight", "negative_weight", "margin"):
            check_positive(name, getattr(self, name), strict=name == "lr")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"threshold={self.threshold!r} is not allowed; it must lie in (0, 1]")
        if not 1 <= self.objects_min <= self.objects_max:
            raise ConfigError(f"objects_min={self.objects_min}, objects_max={self.objects_max} are not allowed; need 1 <= min <= max")
        if not 0 <= self.mask_regions or not 1 <= self.mask_min <= self.mask_max <= self.image_size:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; need 1 <= min <= max <= image_size")
        build_rule(self.rule, **self.rule_options())

    def rule_options(self) -> dict:
        return dict(steps=self.steps, agreement_weight=self.agreement_weight,
                    negative_weight=self.negative_weight, margin=self.margin)


PRESETS = {
    "quick": dict(updates=20, batch=8, steps=3, test_scenes=16, checkpoint_every=10, dim=16, hidden=32),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=32, radius=(1, 2, 4, 15), updates=6000, batch=64,
                steps=8, test_scenes=1024, mask_min=4, mask_max=10),
}


def claims_from(ari, counts, n_columns) -> list[Claim]:
    """I1-I3 from ARI and island counts ``[S+1, B, L]`` on held-out scenes."""
    ari_level = ari.mean(1)  # s l
    size = (n_columns / counts.double()).mean(1)[-1]  # l: mean island size after settling
    rising = bool((size[1:] >= size[:-1]).all() and size[-1] > size[0])
    return [
        Claim("I1", float(ari_level[-1].mean()), bool(ari_level[-1].mean() >= I1_MIN_ARI),
              f"islands match the parse: ARI after settling, mean over levels (level 0 vs parts, others vs objects) >= {I1_MIN_ARI}"),
        Claim("I2", float(size[-1] / size[0]), rising,
              "islands larger at higher levels: mean island size non-decreasing with level and top > bottom (value: top/bottom size)"),
        Claim("I3", float(ari_level[-1].mean() - ari_level[0].mean()), bool(ari_level[-1].mean() > ari_level[0].mean()),
              "islands form during settling: mean ARI at the last step minus at step 0 > 0"),
    ]


def main(argv=None) -> int:
    opts = parse_options(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    try:
        device = resolve_device(opts.device)
    except ConfigError as e:
        fail(str(e))
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(opts.seed)
    cfg = opts.glom_config()
    model = Glom(cfg).to(device)
    rule = build_rule(opts.rule, **opts.rule_options())

    def batches(u: int) -> Batch:
        scenes = make_scenes(opts.batch, image_size=opts.image_size, objects=(opts.objects_min, opts.objects_max),
                             seed=opts.seed, start=u * opts.batch)
        gen = torch.Generator().manual_seed(opts.seed * 7919 + u)
        corrupted, keep = mask_regions(scenes.images, opts.mask_regions, opts.mask_min, opts.mask_max, gen)
        return Batch(scenes.images, corrupted, keep)

    trainer = Trainer(model, rule, batches, updates=opts.updates, lr=opts.lr, seed=opts.seed,
                      checkpoint=out / "checkpoint.pt", checkpoint_every=opts.checkpoint_every, progress=opts.progress)
    attrs = run_attrs(dataclasses.asdict(opts), opts.seed, model_config=cfg.to_json(), rule=opts.rule)
    status = "complete"
    try:
        trainer.run(resume=opts.resume)
    except NonFiniteError as e:
        status = f"stopped: {e}"
        print(f"error: {e}", file=sys.stderr)

    history = history_dataset(trainer.history)
    if status != "complete":
        write_netcdf(history.assign_attrs(attrs, status=status), out / "islands.nc")
        return 1

    # held-out scenes from a stream the training never drew from
    test = make_scenes(opts.test_scenes, image_size=opts.image_size, objects=(opts.objects_min, opts.objects_max),
                       seed=opts.seed + 1_000_003)
    truth = column_labels(test, opts.patch_size, opts.levels)
    model.eval()
    with torch.no_grad():
        traj = model.settle(test.images.to(device), opts.steps)
    islands, ari, counts = island_scores(traj.states, truth, opts.threshold)
    ari, counts, islands = ari.cpu(), counts.cpu(), islands.cpu()
    claims = claims_from(ari, counts, cfg.n_columns)

    h, w = cfg.grid
    k = min(8, opts.test_scenes)
    ds = xr.merge([
        claims_dataset(claims),
        history,
        xr.Dataset(
            {
                "ari": (("step", "sample", "level"), ari.numpy(), {"long_name": "adjusted Rand index of islands vs ground truth"}),
                "island_count": (("step", "sample", "level"), counts.numpy(), {"long_name": "islands per image"}),
                "truth_count": (("sample", "level"), (truth.amax(-1) + 1).numpy(), {"long_name": "ground-truth segments per image"}),
                "example_islands": (("example", "level", "y", "x"), islands[-1, :k].reshape(k, cfg.levels, h, w).numpy()),
                "example_truth": (("example", "level", "y", "x"), truth[:k].reshape(k, cfg.levels, h, w).numpy()),
                "example_image": (("example", "channel", "py", "px"), test.images[:k].numpy()),
            },
            coords={"step": np.arange(opts.steps + 1), "sample": np.arange(opts.test_scenes),
                    "level": np.arange(opts.levels), "level_truth": ("level", ["part"] + ["object"] * (opts.levels - 1))},
        ),
    ])
    ds.attrs.update(attrs, status=status, threshold=opts.threshold)
    path = write_netcdf(ds, out / "islands.nc")

    save_figure(island_figure(test.images[:k].numpy(), islands[-1, :k].reshape(k, -1, h, w).numpy(),
                              truth[:k].reshape(k, -1, h, w).numpy(), ari[-1, :k].numpy()), out / "islands.png")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    for l in range(opts.levels):
        ax.plot(ari.mean(1)[:, l].numpy(), marker="o", label=f"level {l}")
    ax.set_xlabel("settling step")
    ax.set_ylabel("ARI (held-out scenes)")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out / "ari_by_step.png")

    ari_l = ari.mean(1)
    print(f"\nIslands on {opts.test_scenes} held-out scenes ({opts.columns} columns, {opts.updates} updates of {opts.rule})")
    print("ARI per level, step 0 -> last: " + ", ".join(f"L{l} {ari_l[0, l]:.3f} -> {ari_l[-1, l]:.3f}" for l in range(opts.levels)))
    print("mean island size per level:   " + ", ".join(f"L{l} {v:.2f}" for l, v in enumerate((cfg.n_columns / counts[-1].double()).mean(0).tolist())))
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
