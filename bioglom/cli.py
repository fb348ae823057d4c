"""Options of simulation scripts: a dataclass whose field docs become ``--help`` (docs/design.md §11).

Values come, lowest priority first, from the dataclass defaults, a preset (``--quick``,
``--preset gpu``), a TOML file (``--config FILE``) and the command line. Every value is
checked before any work starts; a bad one stops the script with one line that names the
option, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tomllib
import types
import typing
from pathlib import Path

import torch

from .config import ConfigError, changed_fields, check_positive, check_seed
from .data.scene_task import GROUPINGS
from .learning.anticollapse import ANTICOLLAPSE_LEVELS, ANTICOLLAPSE_OPTIONS, STATS_PER

__all__ = ["option", "model_option", "defaults", "RunOptions", "ModelOptions", "TrainingOptions", "DataOptions", "MaskOptions",
           "AnticollapseOptions", "check_left_at_default", "resume_defaults",
           "parse_options", "resolve_device", "fail", "start_run",
           "lock_output_folder", "run_script", "run_identity", "stopped_status", "RUN_ONLY"]


_ABSENT = object()


def option(default, help: str, choices=None, absent=_ABSENT):
    """A dataclass field with its ``--help`` text (and allowed values: of the value, or of
    every item of a comma-separated list). ``absent``: for an option added after runs were
    saved without it, the value those runs had, where it is not ``default`` (a resume
    compares a saved run that lacks the option with it: :func:`resume_defaults`)."""
    metadata = {"help": help, "choices": choices}
    if absent is not _ABSENT:
        metadata["absent"] = absent
    return dataclasses.field(default=default, metadata=metadata)


def resume_defaults(opts) -> dict:
    """What a saved run that lacks an option is taken to have had, by option name: the
    option's ``absent`` value where it declares one, else its default (an option added
    later whose default is what every earlier run did)."""
    return {f.name: f.metadata.get("absent", f.default) for f in dataclasses.fields(opts)}


_CONFIG_DEFAULT = object()


def model_option(name: str, default=_CONFIG_DEFAULT, help: str = ""):
    """The option that sets :class:`~bioglom.config.GlomConfig`'s field ``name``, declared
    once, by the config: its ``--help`` is the field's documentation (and ``help``, what
    the field does in this script, where given), its allowed values the config's, its
    default the config's unless ``default`` is given. :meth:`ModelOptions.model_fields`
    collects these options for ``GlomConfig``; ``GlomConfig`` checks their values."""
    from .config import FIELD_CHOICES, GlomConfig, field_doc

    if default is _CONFIG_DEFAULT:
        default = next(f.default for f in dataclasses.fields(GlomConfig) if f.name == name)
    text = field_doc(name) + (f" -- here: {help}" if help else "")
    return dataclasses.field(default=default, metadata={"help": text, "choices": FIELD_CHOICES.get(name),
                                                        "glom_field": name})


def defaults(**values):
    """Class decorator making an options dataclass whose inherited options take other
    defaults: ``@defaults(out="results/islands", steps=6)``. The help text and allowed
    values stay the base class's, unless a value is a whole :func:`option`."""
    def wrap(cls):
        inherited = {f.name: f for base in cls.__mro__[1:] if dataclasses.is_dataclass(base)
                     for f in dataclasses.fields(base)}
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        for name, value in values.items():
            if name not in inherited:
                raise TypeError(f"{cls.__name__} has no inherited option {name!r}")
            base = inherited[name]
            annotations[name] = base.type
            if isinstance(value, dataclasses.Field):  # a whole option: its help, the base's absent value
                value.metadata = types.MappingProxyType({**{k: v for k, v in base.metadata.items()
                                                            if k == "absent"}, **value.metadata})
            setattr(cls, name, value if isinstance(value, dataclasses.Field) else
                    dataclasses.field(default=value, metadata=dict(base.metadata)))
        cls.__annotations__ = annotations
        return dataclasses.dataclass(cls)
    return wrap


@dataclasses.dataclass
class RunOptions:
    """The options every simulation script has (docs/design.md §11); a script sets its own
    default folder with :func:`defaults`. Each group of options checks its own fields in
    ``validate``, and a script's ``validate`` calls ``super().validate()`` first."""

    GROUP = "run options"

    out: str = option("results", "output folder")
    seed: int = option(0, "seed of weights, data streams and evaluation sets")
    device: str = option("auto", "where to run", choices=("auto", "cpu", "cuda"))
    compile: bool = option(False, "settle through torch.compile (bioglom.model.compile_settling): the eager "
                                  "step's results within float32 rounding, after seconds of compiling")
    resume: bool = option(False, "continue from the checkpoints in --out")
    overwrite: bool = option(False, "replace the results of an earlier run in --out (otherwise refused)")

    def validate(self) -> None:
        check_seed("seed", self.seed)


@dataclasses.dataclass
class ModelOptions(RunOptions):
    """:class:`RunOptions` plus the model sizes every simulation sets the same way; a script
    adds its own neighbourhood and the rest."""

    GROUP = "model options"

    levels: int = model_option("levels")
    dim: int = model_option("dim")
    hidden: int = model_option("hidden")
    patch_size: int = model_option("patch_size")
    image_size: int = model_option("image_size", 12)
    radius: tuple[int, ...] = model_option("radius", (1, 2, 5))
    init_perturbation: float = model_option("init_perturbation")

    def model_fields(self) -> dict:
        """The values of this script's options that set :class:`~bioglom.config.GlomConfig`
        fields (:func:`model_option`), by field name."""
        return {f.metadata["glom_field"]: getattr(self, f.name) for f in dataclasses.fields(self)
                if "glom_field" in f.metadata}


@dataclasses.dataclass
class TrainingOptions(ModelOptions):
    """:class:`ModelOptions` plus how every run of a training simulation is trained and
    kept: seeds, settling steps, budget, learning rate, the negative hinge, checkpoints."""

    GROUP = "training options"

    seeds: int = option(3, "seeds run (seed, seed+1, ...): weights, split and data stream change with each")
    steps: int = option(4, "settling steps")
    updates: int = option(300, "training updates per run (the same budget in every condition)")
    batch: int = option(32, "images per update")
    lr: float = option(2e-3, "Adam learning rate")
    negative_weight: float = option(1.0, "weight of the negative hinge")
    margin: float = option(1.0, "hinge margin (squared distance per dimension)")
    checkpoint_every: int = option(100, "updates between checkpoints")
    stop_after: int = option(0, "stop every run after this many updates of this invocation, as a kill would (0: never)")
    progress: bool = option(True, "show a progress bar (on a terminal; otherwise about 10 lines per run)")

    def validate(self) -> None:
        super().validate()
        for name in ("seeds", "steps", "batch", "checkpoint_every"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("updates", "stop_after"):
            check_positive(name, getattr(self, name), strict=False, integer=True)
        check_positive("lr", self.lr)
        for name in ("negative_weight", "margin"):
            check_positive(name, getattr(self, name), strict=False)


@dataclasses.dataclass
class AnticollapseOptions(TrainingOptions):
    """:class:`TrainingOptions` plus the anti-collapse terms of the local rules: the Hebbian
    variance and decorrelation terms of latent predictive learning
    (:mod:`bioglom.learning.anticollapse`), as every simulation with local rules takes them;
    a script sets its own defaults with :func:`defaults`. The rule checks the values."""

    GROUP = "anti-collapse options (local rules)"

    # the defaults: chosen on the temporal-derivative simulation's validation digits among
    # settings whose features do not collapse (README, "Local rules on digits")
    # (absent: what a run saved before a simulation took the option had: no terms, per level)
    variance_weight: float = option(0.1, "local rules: weight of the Hebbian variance term of latent predictive "
                                    "learning (bioglom.learning.anticollapse; 0: none)", absent=0.0)
    decorrelation_weight: float = option(1.0, "local rules: weight of the decorrelation term of latent predictive "
                                         "learning (0: none)", absent=0.0)
    stats_window: int = option(1, "local rules: batches over which the unit statistics of the LPL terms run")
    stats_per: str = option("column", "local rules: whose samples a unit's statistics in the LPL terms run over: "
                            "column (each column's own, over the images) or level (the batch's images and columns)",
                            choices=STATS_PER, absent="level")
    anticollapse_levels: str = option("all", "local rules: levels the LPL terms act on (all; ungrouped: levels "
                                      "where the grouping signal names no segment, level 0 of motion batches; "
                                      "decorrelate_all: the variance term there, decorrelation at every level)",
                                      choices=ANTICOLLAPSE_LEVELS)

    def anticollapse_options(self) -> dict:
        """The local rules' options of the terms (:data:`~bioglom.learning.anticollapse.ANTICOLLAPSE_OPTIONS`)."""
        return {name: getattr(self, name) for name in ANTICOLLAPSE_OPTIONS}

    def check_terms_left(self, where: str, why: str = "whose recipe sets the anti-collapse terms itself") -> None:
        """Refuse an anti-collapse option set away from its default where ``where`` does not
        read it (a recipe that sets the terms itself, a rule without them)."""
        check_left_at_default(self, ANTICOLLAPSE_OPTIONS, where, why)


def check_left_at_default(opts, names, where: str, why: str) -> None:
    """Refuse, in one line, any option of ``names`` set away from its default where
    ``where`` (a rule, a recipe) does not read it, so that no option is silently ignored."""
    for f in dataclasses.fields(opts):
        if f.name in names and getattr(opts, f.name) != f.default:
            raise ConfigError(f"{f.name}={getattr(opts, f.name)!r} is not allowed with {where}, {why}; leave it "
                              f"at {f.default!r}")


@dataclasses.dataclass
class DataOptions(TrainingOptions):
    """:class:`TrainingOptions` plus the choice of data of the section-12 simulations:
    scikit-learn's digits, or the islands simulation's part-whole scenes
    (:class:`~bioglom.data.SceneTask`) beside the positive controls."""

    GROUP = "data options"
    # the teachers of a simulation's local rules that read the grouping signal's segments
    # (a simulation with ``grouping`` and ``teacher`` options names them)
    GROUPED_TEACHERS = ()

    data: str = option("digits", "scikit-learn's digits (probe accuracy), or the part-whole scenes (island ARI, "
                       "fill-in, beside the positive controls)", choices=("digits", "scenes"))
    grouping: str = option("none", "--data scenes: label-free signal of which columns agree: none, or motion (train "
                           "on two-frame clips' last frames as still images; the motion segments found from the "
                           "pixels are the backprop control's island-loss targets and the targets of the local "
                           "rules' grouped teachers)", choices=GROUPINGS)
    test_scenes: int = option(256, "--data scenes: held-out test scenes per seed")
    val_scenes: int = option(128, "--data scenes: validation scenes per seed (island thresholds, choices)")

    @property
    def channels(self) -> int:
        from .data import SceneTask

        return SceneTask.channels if self.data == "scenes" else 1

    def fit_defaults(self, given: set[str]) -> None:
        """With ``--data scenes`` and no ``--image-size`` given (on the command line or in
        ``--config``), a default or preset side smaller than the scenes allow becomes the
        smallest they allow, and one line says so."""
        from .data.scene_task import MIN_SIZE

        if self.data == "scenes" and "image_size" not in given and self.image_size < MIN_SIZE:
            print(f"note: image_size={MIN_SIZE}, the smallest side the part-whole scenes allow (the default "
                  f"{self.image_size} is for digits); give --image-size to choose", file=sys.stderr)
            self.image_size = MIN_SIZE

    def task(self):
        """The part-whole scenes of ``--data scenes`` (:class:`~bioglom.data.SceneTask`)."""
        from .data import SceneTask

        return SceneTask(image_size=self.image_size, val_scenes=self.val_scenes, test_scenes=self.test_scenes,
                         grouping=self.grouping)

    def validate(self) -> None:
        super().validate()
        for name in ("test_scenes", "val_scenes"):
            check_positive(name, getattr(self, name), integer=True)
        teacher = getattr(self, "teacher", None)  # a simulation's own option, its choices its own
        if self.grouping != "none" and self.data != "scenes":
            raise ConfigError(f"grouping={self.grouping!r} is not allowed with data={self.data!r}; motion segments "
                              "come from clips of the part-whole scenes, so use data='scenes'")
        if teacher in self.GROUPED_TEACHERS and self.grouping == "none":
            raise ConfigError(f"teacher={teacher!r} is not allowed with grouping='none'; its targets come from the "
                              "grouping signal's segments, so use grouping='motion'")
        if self.data == "scenes":
            self.task().check()
        elif self.image_size < 8:
            raise ConfigError(f"image_size={self.image_size} is not allowed for data={self.data!r}; its digits are "
                              "8x8, so it must be >= 8")


@dataclasses.dataclass
class MaskOptions(ModelOptions):
    """:class:`ModelOptions` plus rectangular regions removed from every training and test
    input (a group to mix into a script's options beside :class:`DataOptions`)."""

    GROUP = "mask options"

    mask_regions: int = option(1, "regions removed from each input")
    mask_min: int = option(2, "smallest removed region side (pixels)")
    mask_max: int = option(4, "largest removed region side (pixels)")

    def validate(self) -> None:
        super().validate()
        check_positive("mask_regions", self.mask_regions, strict=False, integer=True)
        if not 1 <= self.mask_min <= self.mask_max <= self.image_size:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; "
                              f"need 1 <= mask_min <= mask_max <= image_size ({self.image_size})")

    def masked_batches(self, images, train, seed: int):
        """Training batch ``u``: ``batch`` images of ``train`` with regions removed
        (:func:`~bioglom.data.masked_batch`), as a :class:`~bioglom.learning.Batch`."""
        from .data import masked_batch
        from .learning import Batch

        return lambda u: Batch(*masked_batch(images, train, u, batch=self.batch, regions=self.mask_regions,
                                             min_size=self.mask_min, max_size=self.mask_max, seed=seed))

    def masked_test(self, images, seed: int):
        """``(corrupted, keep)``: the test images with regions removed, once per seed."""
        from .data import mask_regions
        from .seeding import generator

        return mask_regions(images, self.mask_regions, self.mask_min, self.mask_max, generator(seed, "test_masks"))


# how a run is carried out, not what it computes: never part of its identity
RUN_ONLY = ("out", "resume", "overwrite", "progress", "device", "compile", "stop_after", "jobs")


def run_identity(opts, drop=()) -> dict:
    """The options that decide what a run computes, as JSON-able values: every field of
    ``opts`` except :data:`RUN_ONLY` and ``drop``. A resumed run must match it."""
    skip = set(RUN_ONLY) | set(drop)
    return json.loads(json.dumps({k: v for k, v in dataclasses.asdict(opts).items() if k not in skip},
                                 sort_keys=True, default=str))


def _base_type(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    if origin in (tuple, list):
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return ("seq", inner)
    return tp


def _convert(name: str, raw, tp):
    """Convert a command-line string or TOML value to the field's type, or raise ConfigError."""
    base = _base_type(tp)
    if isinstance(base, tuple):
        items = raw if isinstance(raw, (list, tuple)) else [s for s in str(raw).split(",") if s.strip()]
        if not items:
            raise ConfigError(f"{name}={raw!r} is not allowed; give at least one value (comma-separated)")
    try:
        if isinstance(base, tuple):
            return tuple(_convert(name, v, base[1]) for v in items)
        if base is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "1", "yes"):
                return True
            if str(raw).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if base in (int, float) and isinstance(raw, bool):  # TOML's true is not the number 1
            raise ValueError
        if base is int and isinstance(raw, float):
            raise ValueError
        return base(raw)
    except (TypeError, ValueError):
        tname = f"a comma-separated list of {base[1].__name__}" if isinstance(base, tuple) else base.__name__
        raise ConfigError(f"{name}={raw!r} is not allowed; it must be {tname}") from None


def fail(message: str, code: int = 2):
    """Print one error line and exit before any work."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def parse_options(cls, argv=None, *, description: str = "", presets: dict[str, dict] | None = None):
    """Build ``cls`` (an options dataclass with a ``validate()`` method) from the command line.

    Common options: ``--config FILE`` (TOML, keys are field names), ``--quick`` (the
    ``quick`` preset) and ``--preset NAME``. Exits with one clear line on a bad value.
    """
    presets = presets or {}
    hints = typing.get_type_hints(cls)
    # each option's help states its default once (below); argparse's own defaults are None
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=None, help="TOML file of option values (keys: option names with _)")
    if "quick" in presets:
        parser.add_argument("--quick", action="store_true", help="tiny sizes that finish in seconds (tests, smoke runs)")
    others = sorted(k for k in presets if k != "quick")
    if others:
        parser.add_argument("--preset", choices=others, default=None,
                            help="a named set of sizes: " + "; ".join(f"{k}: {presets[k]}" for k in others))
    groups = {}
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        # the group of the class that first declares the option: run, model, training, data, this script's own
        owner = next(c for c in reversed(cls.__mro__) if f.name in c.__dict__.get("__annotations__", {}))
        title = owner.__dict__.get("GROUP", "options of this simulation")
        group = groups.setdefault(title, parser.add_argument_group(title))
        default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        help_ = f.metadata.get("help", "") + f" (default: {default})"
        choices = f.metadata.get("choices")
        if _base_type(hints[f.name]) is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            metavar = "{" + ",".join(map(str, choices)) + "}" if choices else f.name.upper()
            if choices and isinstance(_base_type(hints[f.name]), tuple):
                metavar += "[,...]"
            group.add_argument(flag, default=None, metavar=metavar, help=help_)
    args = parser.parse_args(argv)

    values = {}
    if getattr(args, "quick", False):
        values.update(presets["quick"])
    if getattr(args, "preset", None):
        values.update(presets[args.preset])
    try:
        if args.config is not None:
            if not args.config.is_file():
                raise ConfigError(f"config={str(args.config)!r} is not a file")
            try:
                table = tomllib.loads(args.config.read_text())
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"config={str(args.config)!r} is not valid TOML: {e}") from None
            names = {f.name for f in dataclasses.fields(cls)}
            for k in table:
                if k not in names:
                    raise ConfigError(f"config file key {k!r} is not an option; allowed are {sorted(names)}")
            values.update(table)
        for f in dataclasses.fields(cls):
            raw = getattr(args, f.name)
            if raw is not None:
                values[f.name] = raw
        # what the user chose, not a default or a preset
        given = set(table if args.config is not None else ()) | \
            {f.name for f in dataclasses.fields(cls) if getattr(args, f.name) is not None}
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in values:
                kwargs[f.name] = _convert(f.name, values[f.name], hints[f.name])
                choices = f.metadata.get("choices")
                value = kwargs[f.name]
                listed = isinstance(_base_type(hints[f.name]), tuple)
                for v in value if listed else (value,):
                    if choices and v not in choices:
                        raise ConfigError(f"{f.name}={v!r} is not allowed; choose one of {list(choices)}")
                if choices and listed and len(set(value)) < len(value):  # each names a run: twice is one run twice
                    twice = next(v for v in value if value.count(v) > 1)
                    raise ConfigError(f"{f.name}={','.join(map(str, value))!r} is not allowed; {twice!r} is given "
                                      "twice, give each at most once")
        opts = cls(**kwargs)
        opts.given = frozenset(given)  # what the user chose (not a field: not part of the run's identity)
        if hasattr(opts, "fit_defaults"):  # a default that the chosen data cannot take gives way
            opts.fit_defaults(given)
        seed = getattr(opts, "seed", 0)
        if not 0 <= seed < 2**63:  # torch and numpy take seeds in this range
            raise ConfigError(f"seed={seed!r} is not allowed; it must be an integer from 0 to 2**63 - 1")
        opts.validate()
    except ConfigError as e:
        fail(str(e))
    return opts


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA where there is a GPU, else the CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is not allowed here: torch sees no CUDA GPU; use cpu or auto")
    return torch.device(name)


def start_run(cls, argv=None, *, description: str = "", presets: dict[str, dict] | None = None):
    """What every simulation does first: parse and check its options (exit 2 naming a bad
    one), resolve the device, create ``--out/checkpoints`` and seed every generator.
    Returns ``(options, device, out)``."""
    from .allocator import check_switch
    from .model import compile_settling
    from .seeding import seed_everything

    opts = parse_options(cls, argv, description=description, presets=presets)
    try:
        check_switch()
        device = resolve_device(opts.device)
    except ConfigError as e:
        fail(str(e))
    if not str(opts.out).strip():  # Path("") is the current folder: results would land among the user's files
        fail(f"out={opts.out!r} is not allowed; give an output folder")
    out = Path(opts.out)
    default_out = next((f.default for f in dataclasses.fields(cls) if f.name == "out"), None)
    default_seed = next((f.default for f in dataclasses.fields(cls) if f.name == "seed"), 0)
    if opts.out == default_out and "seed" in getattr(opts, "given", {"seed"}) and opts.seed != default_seed:
        out = Path(f"{opts.out}-seed{opts.seed}")  # runs of other seeds never share the default folder
        opts.out = str(out)
    try:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"out={str(out)!r} cannot be used as the output folder ({e.strerror}); give a writable folder")
    shard = getattr(opts, "shard", (0, 1))
    if getattr(opts, "distributed", False):  # torchrun's processes share the folder, one lock each
        import os

        shard = (os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "?"))
        suffix = f"-rank{shard[0]}of{shard[1]}"
    else:
        suffix = "" if shard[1] == 1 else f"-shard{shard[0]}of{shard[1]}"
    lock_output_folder(out, suffix)
    keep_earlier_results(opts, out, suffix)
    if getattr(opts, "resume", False):
        from .atomic import remove_stale_temporaries

        for p in remove_stale_temporaries(out):
            print(f"removed {p}, a temporary file a killed run left", file=sys.stderr)
        if hasattr(opts, "jobs") and not suffix:  # checkpoints of the other layout (seeds as jobs, or not)
            copied = adopt_checkpoints(opts, out)
            if copied:
                print(f"took {len(copied)} checkpoint file(s) written by a run of another --jobs", file=sys.stderr)
    seed_everything(opts.seed)
    compile_settling(opts.compile)
    return opts, device, out


def keep_earlier_results(opts, out: Path, suffix: str = "") -> None:
    """Refuse, with one line (exit 2) before any work, a run that would overwrite the results
    of an earlier one in ``out``: without ``--resume`` or ``--overwrite``, a folder holding a
    result (``*.nc``) or a run record; with ``--resume``, a record of other options (another
    seed, say) or of more updates than asked for. Then record this run's options in
    ``out/run{suffix}.json`` (:func:`run_identity`)."""
    from .atomic import atomic_write_bytes

    record = out / f"run{suffix}.json"
    wanted = run_identity(opts)
    if not getattr(opts, "overwrite", False):
        saved = None
        if record.exists():
            try:
                saved = json.loads(record.read_text())
            except (OSError, ValueError):
                saved = {}
        results = sorted(p.name for p in out.glob("*.nc"))
        if not getattr(opts, "resume", False) and (saved is not None or results):
            what = ", ".join(results) if results else record.name
            fail(f"out={str(out)!r} holds the results of an earlier run ({what}); pass --resume to continue it, "
                 "--overwrite to replace it, or give another --out")
        if saved:
            differ = [k for k in changed_fields(saved, wanted, resume_defaults(opts)) if k != "updates"]
            if differ:
                fail(f"resume=True: out={str(out)!r} holds a run of other options ("
                     + ", ".join(f"{k}={saved.get(k)!r}, not {wanted.get(k)!r}" for k in differ)
                     + "); rerun with those values, --overwrite to replace it, or give another --out")
            if "updates" in saved and "updates" in wanted and wanted["updates"] < saved["updates"]:
                fail(f"resume=True with updates={wanted['updates']} is not allowed; out={str(out)!r} holds a run "
                     f"of {saved['updates']} updates (give at least that many, or --overwrite)")
            finished = [name for name in results if result_complete(out / name)]
            if getattr(opts, "resume", False) and not suffix and saved == wanted and finished:
                # a finished result is never measured again (a re-measure would replace it)
                print(f"nothing to do: out={str(out)!r} holds a finished run of these options "
                      f"({', '.join(finished)}); --overwrite runs it again", file=sys.stderr)
                raise SystemExit(0)
    atomic_write_bytes(record, json.dumps(wanted, indent=1, sort_keys=True).encode())


def adopt_checkpoints(opts, out: Path) -> list[Path]:
    """Before a resume, bring the checkpoints that the other layout wrote to where this run
    reads them, so a run killed as jobs goes on in one process and the reverse: with
    ``jobs == 1`` each ``out/seeds/seedS/checkpoints/**`` into ``out/checkpoints/**``; with
    ``jobs > 1`` each ``out/checkpoints/**/seedS*`` (a file named for its seed, as every
    simulation names them) into ``out/seeds/seedS/checkpoints/**``. A file already where it
    is read is kept; the others are copied, never moved (nothing is lost if this stops).
    Returns the files copied."""
    import re
    import shutil

    copied = []
    for s in range(opts.seed, opts.seed + opts.seeds):
        jobs_folder = out / "seeds" / f"seed{s}" / "checkpoints"
        own = re.compile(rf"^seed{s}(?=[-.])")
        if opts.jobs > 1:
            pairs = [(p, jobs_folder / p.relative_to(out / "checkpoints"))
                     for p in (out / "checkpoints").rglob("*") if p.is_file() and own.match(p.name)]
        else:
            pairs = [(p, out / "checkpoints" / p.relative_to(jobs_folder)) for p in jobs_folder.rglob("*")
                     if p.is_file() and own.match(p.name)]
        for src, dst in pairs:
            if not dst.exists() and not src.name.endswith(".tmp"):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                copied.append(dst)
    return copied


def result_complete(path: Path) -> bool:
    """Whether ``path`` is a result whose run finished (``status`` complete); False for a
    missing or unreadable file."""
    if not path.exists():
        return False
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.attrs.get("status") == "complete"
    except (OSError, ValueError):
        return False


def lock_output_folder(out: Path, suffix: str = "") -> Path:
    """Hold ``out`` for this process: create ``out/.lock{suffix}`` holding the pid, and
    remove it at exit. Another live process holding it stops this run with one line (exit
    2) before any work; a lock whose process is gone is taken over. Creating the lock also
    checks that ``out`` is writable, up front."""
    import atexit
    import os

    lock = out / f".lock{suffix}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid == os.getpid():
                return lock
            if pid > 0 and _alive(pid):
                fail(f"out={str(out)!r} is being written by another run (pid {pid}, {lock}); wait for it to end "
                     "or give another --out")
            lock.unlink(missing_ok=True)  # its run is gone
            continue
        except OSError as e:
            fail(f"out={str(out)!r} is not writable ({e.strerror}); give a writable folder")
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        atexit.register(lambda: lock.unlink(missing_ok=True) if lock.exists() and lock.read_text() == str(os.getpid())
                        else None)
        return lock
    fail(f"out={str(out)!r}: could not take the lock {lock}; remove it if no run is writing the folder")


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stopped_status(error: BaseException, where: str) -> str:
    """The ``status`` a simulation records, with its partial results, when a run of
    ``where`` stops early: Ctrl-C (``KeyboardInterrupt``; the checkpoints are kept and
    ``--resume`` goes on), or a non-finite value (:class:`~bioglom.config.NonFiniteError`)."""
    if isinstance(error, KeyboardInterrupt):
        return (f"interrupted (Ctrl-C) during {where}: partial results written, the checkpoints kept; "
                "run the same command with --resume to go on")
    return f"stopped: {where}: {error}"


def run_script(main, argv=None) -> int:
    """Run a simulation's ``main(argv)``: a :class:`ConfigError` raised after the options
    were checked (a resume refused, an unreadable checkpoint) ends in one line and exit 2;
    Ctrl-C keeps the checkpoints written so far, says how to go on, and exits 130; a disk
    that is full or not writable ends in one line naming the file, and exit 1."""
    from .pipes import quiet_on_closed_pipe

    try:
        return quiet_on_closed_pipe(main, argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the checkpoints written so far are kept; run the same command with --resume to go on",
              file=sys.stderr)
        return 130
    except OSError as e:
        import errno

        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.EFBIG):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        fix = ("raise the file-size limit (ulimit -f)" if e.errno == errno.EFBIG
               else "free space or make the folder writable")
        print(f"error{where}: {e.strerror or e}; nothing already written was lost (files are written under a "
              f"temporary name, then renamed); {fix}, then run the same command with --resume to go on",
              file=sys.stderr)
        return 1
