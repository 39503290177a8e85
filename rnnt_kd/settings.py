"""The settings of a training run, as typed data: one dataclass per concern, one default per field.

``rnnt_kd.bin.train`` builds its command line from these classes (:func:`build_parser`): each
field is a flag (``--field-name``), its default and help live here and nowhere else. A run's
resolved settings (:class:`TrainSettings`) are written once to ``<exp-dir>/train_config.json``
and into every checkpoint; reports, sweep tables and recipes read that file
(:func:`read_train_config`, :func:`flat_train_config`), never a command line.

    settings = parse_train_settings(["--exp-dir", "exp/a", "--train-cuts", "c.jsonl.gz", ...])
    settings.run.num_epochs, settings.distill.distill_scale, settings.pruning.target_sparsity
    settings.to_dict()  # {"data": {...}, "model": {...}, "optim": {...}, "loss": {...},
                        #  "pruning": {...}, "distill": {...}, "run": {...}} (plain types)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Type

from rnnt_kd.model.config import PRESETS, SUBSAMPLING_KINDS, TransducerConfig
from rnnt_kd.utils import str2bool

TRAIN_CONFIG_FILE = "train_config.json"
REQUIRED = dataclasses.MISSING


def opt(default: Any = REQUIRED, help: str = "", **kw: Any) -> Any:  # noqa: A002 - argparse's word
    """A settings field: its default (none: a required flag) and CLI metadata (help, choices,
    nargs="+", hidden=True for test-only flags)."""
    meta = dict(kw, help=help)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    if default is REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataSettings:
    """data"""

    train_cuts: List[str] = opt(nargs="+", help="lhotse CutSet(s) with features")
    valid_cuts: List[str] = opt(nargs="+", help="validation CutSet(s)")
    bpe_model: str = opt(help="sentencepiece model (blank must be id 0)")
    max_duration: float = opt(200.0, help="seconds of audio per batch (per process)")
    min_utt_duration: float = opt(0.3, help="drop training utterances shorter than this (s)")
    max_utt_duration: float = opt(30.0, help="drop training utterances longer than this (s)")
    spec_augment: bool = opt(True, help="SpecAugment on training batches (lhotse)")
    spec_augment_start_epoch: int = opt(
        1,
        help="apply SpecAugment from this epoch on (a from-scratch model leaves the all-blank "
        "plateau sooner on clean features; augmentation matters once it starts to overfit)",
    )
    num_workers: int = opt(0, help="dataloader workers")


@dataclass
class ModelSettings:
    """model (a preset; any field given here overrides the preset's value)"""

    model_preset: str = opt(
        "medium", choices=sorted(PRESETS), help="size preset (rnnt_kd.model.config.PRESETS)"
    )
    encoder_dim: Optional[int] = opt(None, help="override the preset's value")
    num_encoder_layers: Optional[int] = opt(None, help="override the preset's value")
    num_heads: Optional[int] = opt(None, help="override the preset's value")
    feedforward_dim: Optional[int] = opt(None, help="override the preset's value")
    conv_kernel_size: Optional[int] = opt(None, help="override the preset's value")
    decoder_dim: Optional[int] = opt(None, help="override the preset's value")
    joiner_dim: Optional[int] = opt(None, help="override the preset's value")
    dropout: Optional[float] = opt(None, help="override the preset's dropout")
    layer_scale: Optional[float] = opt(
        None,
        help="initial gain of the Conformer's residual branches (LayerScale; 0 = off); 0.1 "
        "shortens the from-scratch all-blank plateau several-fold",
    )
    subsampling: Optional[str] = opt(
        None,
        choices=list(SUBSAMPLING_KINDS),
        help="x4 front-end: conv2d (icefall's, preset default) or conv1d (~4x cheaper on CPU)",
    )
    use_ctc: Optional[bool] = opt(
        None, help="add an auxiliary CTC head on the encoder (faster convergence)"
    )

    def overrides(self) -> Dict[str, Any]:
        """The fields given (not None), as TransducerConfig keyword arguments."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "model_preset" and getattr(self, f.name) is not None
        }

    def resolve(self, vocab_size: int) -> TransducerConfig:
        """The model's full config: the preset with the overrides and ``vocab_size``."""
        return TransducerConfig.from_preset(self.model_preset, vocab_size, **self.overrides())


@dataclass
class OptimSettings:
    """optimisation"""

    base_lr: float = opt(3e-3, help="peak learning rate (ScaledAdam-free AdamW + Eden schedule)")
    lr_batches: float = opt(5000.0, help="Eden: steps over which the LR decays by ~half")
    lr_epochs: float = opt(6.0, help="Eden: epochs over which the LR decays by ~half")
    warmup_batches: int = opt(500, help="linear LR warm-up (steps)")
    lr_anneal_epochs: float = opt(
        0.0,
        help="ramp the LR linearly down to ~0 over the last N epochs (0: off); short runs end "
        "far better annealed than at Eden's still-high LR",
    )
    weight_decay: float = opt(1e-3, help="AdamW weight decay")
    grad_clip: float = opt(5.0, help="max gradient norm")
    use_fp16: bool = opt(False, help="float16 autocast (GPU only)")
    use_bf16: bool = opt(False, help="bfloat16 autocast (GPU only)")


@dataclass
class LossSettings:
    """loss (k2's pruned RNN-T loss, icefall's warm-up)"""

    prune_range: int = opt(5, help="s_range of the pruned RNN-T loss")
    lm_scale: float = opt(0.25, help="LM scale of the simple (smoothed) loss")
    am_scale: float = opt(0.0, help="AM scale of the simple (smoothed) loss")
    simple_loss_scale: float = opt(0.5, help="weight of the simple loss after warm-up")
    ctc_loss_scale: float = opt(0.2, help="weight of the auxiliary CTC loss (with --use-ctc true)")
    model_warm_step: int = opt(
        2000, help="steps over which weight moves from the simple to the pruned loss"
    )


@dataclass
class DistillSettings:
    """distillation (y/blank lattice KD, Panchapagesan et al. 2021)"""

    teacher_checkpoint: Optional[str] = opt(
        None, help="frozen teacher; without it training is plain RNN-T"
    )
    distill_scale: float = opt(0.01, help="beta in L_rnnt + beta*L_kd (with --teacher-checkpoint)")
    distill_temperature: float = opt(1.0, help="temperature of both models' posteriors")
    distill_type: str = opt(
        "ybr", choices=["ybr", "full-vocab"], help="y/blank/rest classes or the whole vocabulary"
    )
    distill_lattice: str = opt(
        "pruned",
        choices=["pruned", "full"],
        help="KD on the pruned band (cheap) or the full T x (U+1) lattice",
    )
    distill_band: str = opt(
        "teacher",
        choices=["teacher", "student"],
        help="whose prune ranges define the KD term's band: the teacher's (the student is "
        "scored on it too) or the student's (the teacher is scored on the student's); either "
        "way the student's RNN-T loss stays on its own band, as without KD",
    )
    teacher_input_cuts: Optional[str] = opt(
        None,
        help="lhotse CutSet whose features the teacher hears instead of the student's, matched "
        "by cut id (same lengths), e.g. the clean originals of far-field training copies "
        "renamed to the copies' ids (prepare_data teacher-inputs): a clean teacher for a "
        "noisy student",
    )
    teacher_cache: Optional[str] = opt(
        None,
        help="the teacher's band posteriors, computed once by python -m rnnt_kd.bin.cache_teacher "
        "with this run's --teacher-checkpoint, --distill-temperature and --prune-range: training "
        "batches read them instead of running the teacher (same loss up to float rounding; the "
        "teacher still scores the validation set). Needs the default --distill-type ybr "
        "--distill-lattice pruned --distill-band teacher",
    )


@dataclass
class PruningSettings:
    """gradual magnitude pruning (Zhu & Gupta 2017)"""

    target_sparsity: float = opt(0.0, help="0 disables pruning")
    initial_sparsity: float = opt(0.0, help="sparsity at the first pruning step")
    prune_start_step: int = opt(0, help="first pruning step")
    prune_end_step: int = opt(2000, help="step at which the target sparsity is reached")
    prune_start_fraction: Optional[float] = opt(
        None,
        fraction=True,
        help="first pruning step as a fraction of the run's steps (num_epochs x steps per "
        "epoch, counted by the trainer; e.g. 0.1 or 1/10); overrides --prune-start-step",
    )
    prune_end_fraction: Optional[float] = opt(
        None,
        fraction=True,
        help="end of pruning as a fraction of the run's steps (e.g. 2/3); overrides "
        "--prune-end-step",
    )
    prune_every: int = opt(0, help="steps between mask updates (0: (end - start) / 20, at least 1)")
    prune_scope: str = opt(
        "global",
        choices=["global", "layer"],
        help="global: rank all prunable weights together, each tensor capped "
        "(--prune-keep-ratio); layer: prune every tensor to the schedule's sparsity (Zhu & Gupta)",
    )
    prune_keep_ratio: float = opt(
        0.5,
        help="--prune-scope global: every tensor keeps at least this share of the weights "
        "per-layer pruning would leave it, i.e. none is sparser than 1 - R (1 - s) (95 %% at "
        "s = 90 %%); in (0, 1], 1 = per-layer",
    )

    @property
    def uses_fractions(self) -> bool:
        return self.prune_start_fraction is not None or self.prune_end_fraction is not None

    def resolved_steps(self, total_steps: int) -> Tuple[int, int, int]:
        """(start_step, end_step, prune_every), fractions of ``total_steps`` turned into steps.

        Fractions round down (``2/3`` of 300 steps is 200); a fractional end is at least two
        steps after the start; every is at least 1.
        """
        start, end = self.prune_start_step, self.prune_end_step
        if self.prune_start_fraction is not None:
            start = math.floor(total_steps * self.prune_start_fraction + 1e-9)
        if self.prune_end_fraction is not None:
            end = max(math.floor(total_steps * self.prune_end_fraction + 1e-9), start + 2)
        every = self.prune_every or max(1, (end - start) // 20)
        return start, end, every


@dataclass
class RunSettings:
    """run (experiment directory, epochs, resuming, processes, checkpoints, logging)"""

    exp_dir: str = opt(help="checkpoints, logs, tensorboard, train_config.json go here")
    num_epochs: int = opt(20, help="epochs to train")
    start_epoch: int = opt(1, help="resume from epoch-(N-1).pt when N > 1")
    start_batch: int = opt(0, help="resume mid-epoch from checkpoint-<N>.pt when N > 0")
    auto_resume: bool = opt(False, help="resume from the newest loadable checkpoint in --exp-dir")
    init_from: Optional[str] = opt(
        None, help="initialise the model from this checkpoint or export (pruning runs)"
    )
    max_steps: int = opt(0, help="stop each epoch after this global step (0: no limit; tests)")
    world_size: int = opt(1, help="processes for data parallel (gloo on CPU, NCCL on GPU)")
    device: str = opt("auto", help="auto | cpu | cuda")
    num_threads: int = opt(2, help="CPU threads (split over ranks)")
    seed: int = opt(42, help="random seed (model init, shuffling, dropout)")
    save_every_n: int = opt(0, help="write checkpoint-<step>.pt every N steps (0: never)")
    keep_last_k: int = opt(3, help="batch checkpoints to keep")
    keep_last_epochs: int = opt(
        0,
        help="epoch checkpoints to keep (0: all); keep at least the --avg you will decode with",
    )
    log_interval: int = opt(50, help="log (and tensorboard) every N steps")
    max_bad_batches: int = opt(20, help="abort after this many consecutive non-finite batches")
    tensorboard: bool = opt(True, help="tensorboard curves under <exp-dir>/tensorboard")
    progress: bool = opt(True, help="tqdm bar per epoch")
    inject_nan_at_step: int = opt(-1, hidden=True)
    inject_nan_count: int = opt(1, hidden=True)
    inject_nan_kind: str = opt("loss", choices=["loss", "grad"], hidden=True)


# section name in train_config.json -> settings class, in CLI --help order
SECTIONS: Dict[str, Type[Any]] = {
    "data": DataSettings,
    "model": ModelSettings,
    "run": RunSettings,
    "optim": OptimSettings,
    "loss": LossSettings,
    "distill": DistillSettings,
    "pruning": PruningSettings,
}


@dataclass
class TrainSettings:
    """Every setting of one training run, by concern."""

    data: DataSettings
    model: ModelSettings
    run: RunSettings
    optim: OptimSettings
    loss: LossSettings
    distill: DistillSettings
    pruning: PruningSettings
    # flags given on the command line (the rest took their defaults); not saved
    explicit: Set[str] = field(default_factory=set, compare=False, repr=False)

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        """Plain nested dict (JSON and ``torch.load(weights_only=True)`` safe)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    @classmethod
    def from_dict(cls, d: Dict[str, Dict[str, Any]]) -> TrainSettings:
        """Inverse of :meth:`to_dict`; unknown sections or keys raise ``ValueError``."""
        unknown = sorted(set(d) - set(SECTIONS))
        if unknown:
            raise ValueError(f"unknown settings section(s) {unknown}")
        for name, klass in SECTIONS.items():
            bad = sorted(set(d.get(name, {})) - {f.name for f in dataclasses.fields(klass)})
            if bad:
                raise ValueError(f"unknown {name} setting(s) {bad}")
        try:
            return cls(**{name: klass(**d.get(name, {})) for name, klass in SECTIONS.items()})
        except TypeError as e:  # a required setting is missing
            raise ValueError(f"incomplete settings: {e}") from None

    def given(self, name: str) -> bool:
        """Whether ``--name`` (dest form, e.g. ``spec_augment``) was on the command line."""
        return name in self.explicit


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_fraction(text: str) -> float:
    """argparse type: a number or a ratio ``a/b`` (e.g. ``2/3``)."""
    try:
        if "/" in text:
            num, den = text.split("/")
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"expected a number or a ratio like 2/3, got {text!r}"
        ) from None


def _arg_type(f: dataclasses.Field) -> Any:
    if f.metadata.get("fraction"):
        return parse_fraction
    t = str(f.type)
    if "bool" in t:
        return str2bool
    if "int" in t:
        return int
    if "float" in t:
        return float
    return str


def build_parser(
    parser: Optional[argparse.ArgumentParser] = None, suppress_defaults: bool = False
) -> argparse.ArgumentParser:
    """Add one argument group per settings class to ``parser`` (a new one if None).

    ``suppress_defaults``: leave defaults out of the namespace (to find the flags that were
    given); required flags become optional then.
    """
    p = parser or argparse.ArgumentParser(prog="train")
    for klass in SECTIONS.values():
        g = p.add_argument_group(klass.__doc__.strip())
        for f in dataclasses.fields(klass):
            meta = dict(f.metadata)
            kw: Dict[str, Any] = {"type": _arg_type(f)}
            if meta.get("nargs"):
                kw["nargs"] = meta["nargs"]
            meta.pop("fraction", None)
            if meta.get("choices"):
                kw["choices"] = meta["choices"]
            required = f.default is REQUIRED and f.default_factory is REQUIRED  # type: ignore[misc]
            if suppress_defaults:
                kw["default"] = argparse.SUPPRESS
            elif required:
                kw["required"] = True
            else:
                kw["default"] = f.default if f.default is not REQUIRED else f.default_factory()
            help_text = meta.get("help", "")
            if meta.get("hidden"):
                help_text = argparse.SUPPRESS
            elif not required and not suppress_defaults:
                help_text = f"{help_text} (default: %(default)s)" if help_text else None
            g.add_argument(_flag(f.name), help=help_text, **kw)
    return p


def settings_from_namespace(ns: argparse.Namespace, explicit: Sequence[str] = ()) -> TrainSettings:
    """Split a namespace from :func:`build_parser` into the settings classes."""
    values = vars(ns)
    parts = {
        name: klass(**{f.name: values[f.name] for f in dataclasses.fields(klass)})
        for name, klass in SECTIONS.items()
    }
    return TrainSettings(**parts, explicit=set(explicit))


def parse_train_settings(
    argv: Optional[Sequence[str]], parser: Optional[argparse.ArgumentParser] = None
) -> TrainSettings:
    """Parse a ``train`` command line into :class:`TrainSettings` (argparse errors exit 2)."""
    parser = parser or build_parser()
    ns = parser.parse_args(argv)
    explicit = build_parser(argparse.ArgumentParser(add_help=False), suppress_defaults=True)
    given, _ = explicit.parse_known_args(argv)
    return settings_from_namespace(ns, explicit=vars(given).keys())


def default_of(klass: Type[Any], name: str) -> Any:
    """The one default of setting ``name`` of a settings class (e.g. ``LossSettings``)."""
    for f in dataclasses.fields(klass):
        if f.name == name:
            if f.default is REQUIRED:
                raise ValueError(f"{klass.__name__}.{name} has no default (a required flag)")
            return f.default
    raise KeyError(f"{klass.__name__} has no setting {name!r}")


def settings_fields() -> Dict[str, str]:
    """{field name: section name} of every setting (names are unique across sections)."""
    out: Dict[str, str] = {}
    for name, klass in SECTIONS.items():
        for f in dataclasses.fields(klass):
            if f.name in out:
                raise AssertionError(f"setting {f.name} in both {out[f.name]} and {name}")
            out[f.name] = name
    return out


def write_train_config(exp_dir: Path | str, settings: TrainSettings, **extra: Any) -> Path:
    """Write ``<exp_dir>/train_config.json``: the settings by section, plus ``extra`` sections
    (e.g. ``model_config``: the resolved TransducerConfig)."""
    path = Path(exp_dir) / TRAIN_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**settings.to_dict(), **extra}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def read_train_config(exp_dir: Path | str) -> Dict[str, Dict[str, Any]]:
    """The nested dict of ``<exp_dir>/train_config.json`` (FileNotFoundError naming it)."""
    path = Path(exp_dir) / TRAIN_CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {exp_dir} is not a finished rnnt-kd training")
    return json.loads(path.read_text())


def flat_train_config(exp_dir: Path | str) -> Dict[str, Any]:
    """All settings of ``<exp_dir>/train_config.json`` in one flat dict (section names dropped;
    ``model_config`` entries are prefixed ``model_config.``)."""
    flat: Dict[str, Any] = {}
    for section, values in read_train_config(exp_dir).items():
        if section in SECTIONS:
            flat.update(values)
        elif isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items()})
        else:
            flat[section] = values
    return flat
