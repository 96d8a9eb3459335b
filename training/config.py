"""The experiment configuration's schema: frozen nested dataclasses, dotted overrides, the flat dict.

* ``Config`` nests one section per concern; the model and data sections are defined next to the
  code that consumes them (``models/config.py``, ``datasets/config.py``) so those packages never
  import ``pipeline``.
* ``apply_overrides(cfg, ["contrastive.num_banks=3"])`` parses each value from its string with the
  field's declared type (no eval/exec) and rebuilds the frozen tree; an unknown key or a value of
  the wrong type raises ``ConfigError`` naming the key and the expected type.
* ``to_flat_dict``/``from_flat_dict`` is the one bridge to Ray (``train_loop_config``,
  ``param_space``) and MLflow params; it is lossless, also from the string values MLflow returns.
* ``config_hash`` is a stable short digest of the flat dict.
* Every default says why in one line; measurements behind a choice are in the docs beside the results.
* Profiles are files of overrides of the base, never copies of it (``pipeline/config_file.py``,
  ``pipeline/profiles/*.toml``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crossmoco.datasets.config import AugmentConfig, PreprocessConfig
from crossmoco.models.config import ContrastiveConfig, EncoderConfig, Method

DatasetName = Literal["synthetic", "ntu60", "ntu120", "pku", "ucla"]
Protocol = Literal["linear", "semi", "finetune", "knn"]


class ConfigError(ValueError):
    """A bad override, flat-dict entry or profile; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    """Which preprocessed dataset a run reads (shards written by ``pipeline preprocess``)."""

    dataset: DatasetName = "synthetic"  # the embedded dataset: every command runs with no download
    split: str = "xsub"  # ntu60: xsub/xview; ntu120: xsub/xset; pku: xsub/xview; ucla: xview; synthetic: xsub/xview
    # Performers of the training side held out as the validation subset (settings are chosen on it, never on
    # the test side); () = the last 30% of the training side's performer ids (NW-UCLA: subjects 8, 9, 10)
    val_performers: tuple[int, ...] = ()
    # What the validation subset holds out. "performer" (above): unseen subjects, seen views. "camera": the
    # training side's samples of data.val_cameras (() = its highest camera id: NW-UCLA view 2, NTU xview
    # camera 3), the fit subset the other cameras: the same subjects from an unseen view, as the xview test
    # split asks (on NW-UCLA the same-view split measured 4 points of pretraining gain over random-init
    # encoders where the test view measured 15: docs/fidelity.md "Validation sweeps")
    val_by: Literal["performer", "camera"] = "performer"
    val_cameras: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.split:
            raise ConfigError("data.split must not be empty")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule of pretraining (the evaluation protocols have their own lr)."""

    optimizer: Literal["sgd", "adam"] = "sgd"  # SkeletonCLR/CrosSCLR pretrain with SGD
    lr: float = 0.1  # CrosSCLR lineage; §IV-B prints 1e-5 (with Adam: docs/claims.md "Adam at the printed 1e-5")
    momentum: float = 0.9  # SGD momentum of the CrosSCLR lineage
    weight_decay: float = 1e-4  # CrosSCLR lineage
    nesterov: bool = False  # CrosSCLR lineage
    schedule: Literal["step", "cosine", "constant"] = "step"  # CrosSCLR lineage: step decay
    milestones: tuple[int, ...] = (250,)  # SkeletonCLR: x0.1 at epoch 250 of 300
    gamma: float = 0.1  # step decay factor
    warmup_epochs: int = 0  # none in the lineage

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("optim.lr must be > 0, optim.weight_decay >= 0, optim.momentum in [0, 1)")


@dataclass(frozen=True)
class PretrainConfig:
    """Self-supervised pretraining loop (§IV-B, Algorithm 1)."""

    epochs: int = 300  # §IV-B
    batch_size: int = 128  # §IV-B, global over all workers
    checkpoint_every: int = 10  # epochs between checkpoints; the last epoch always checkpoints
    precision: Literal["auto", "fp32", "bf16"] = "fp32"  # fp32: the numbers tests and the smoke profile pin on
    # every machine. "auto" (the cpu and paper profiles): bf16 autocast where the hardware has it natively (CPU
    # AMX-BF16 / AVX512-BF16, GPU compute capability >= 8.0), else fp32; resolved before hashing (training/precision.py)
    compile: bool = False  # torch.compile path, off by default (bench/ shows whether it pays)
    knn_every: int = 0  # epochs between kNN top-1 monitors on the validation samples (and the last); 0 = off
    momentum_schedule: Literal["constant", "cosine"] = "constant"  # m of Eq. (1) fixed at 0.999 (§IV-B)
    augment_streams: Literal["per_stream", "joint_first"] = "per_stream"  # Algorithm 1: x1 = aug(x) for
    # each stream's data x; "joint_first" augments joints, then derives motion/bone (CrosSCLR's feeder)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.checkpoint_every < 1:
            raise ConfigError("pretrain.epochs, pretrain.checkpoint_every must be >= 1")
        if self.batch_size < 2:  # BatchNorm in training mode needs two samples a batch (and InfoNCE a second sample)
            raise ConfigError(f"pretrain.batch_size must be >= 2, got {self.batch_size}")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation protocols (§IV-B)."""

    protocols: tuple[Protocol, ...] = ("linear",)  # Table V's protocol; rows choose theirs
    batch_size: int = 128  # same as pretraining
    linear_epochs: int = 100  # §IV-B linear evaluation
    linear_lr: float = 0.1  # §IV-B linear evaluation
    linear_weight_decay: float = 0.0  # §IV-B is silent; CrosSCLR's linear_eval_crossclr_3views_xview.yaml: 0.0
    linear_schedule: Literal["constant", "step", "cosine"] = "constant"  # §IV-B is silent ("100 epochs with a
    # learning rate 0.1"): "constant" reads it literally; "step" is CrosSCLR's linear eval (x0.1 at 80 of 100
    # epochs: here at 80% of eval.linear_epochs); "cosine" anneals to 0 over the epochs
    linear_standardize: bool = True  # train-set mean/std on frozen features (MAE's non-affine BN probe):
    # makes lr 0.1 independent of the features' scale, which varies by orders of magnitude across encoders
    finetune_epochs: int = 100  # §IV-B fine-tuned evaluation
    finetune_lr: float = 1e-4  # §IV-B fine-tuned evaluation
    finetune_start: Literal["random_head", "linear_probe"] = "random_head"  # §IV-B: a new linear classifier,
    # the encoders in training mode. "linear_probe": LP-FT (Kumar et al., ICLR 2022): the head starts as the
    # linear probe and the encoders keep their pretrained normalisation (BatchNorm statistics, no dropout)
    finetune_encoder_lr_scale: float = 1.0  # §IV-B: one lr for the whole model; < 1 moves the pretrained
    # encoders slower than the head (a backbone lr multiplier); also used by the semi-supervised protocol
    eval_every: int = 5  # epochs between test-accuracy points of fine-tuning curves (each is a full pass)
    semi_fractions: tuple[float, ...] = (0.01, 0.1)  # Table VI: 1% and 10% labels
    semi_epochs: int = 100  # not stated; as fine-tuning
    semi_lr: float = 1e-4  # not stated; as fine-tuning ("fine-tune the whole model")
    semi_subsets: int = 1  # label subsets a fraction (seeds seed, seed+1, ...), the figure their mean; §IV-B: one
    knn_k: int = 20  # not stated; a common kNN monitor setting
    bn_recalibrate: bool = True  # frozen-feature protocols recompute BatchNorm statistics on clean training
    # samples first (training/evaluation.py: pretraining saw only masked input); measured on validation
    split: Literal["test", "val"] = "test"  # "val": protocols train on the training side's fit subset and
    # evaluate on its held-out performers (data.val_performers), for choosing settings without the test side
    features: Literal["gcn", "mlp", "both"] = "both"  # "we freeze two encoders" (§IV-B)
    streams: Literal["joint", "motion", "bone", "all"] = "all"  # 3s results combine all streams
    combine: Literal["concat", "sum", "ensemble"] = "concat"  # how the streams combine: "concat" one classifier on
    # the streams' features side by side; "sum" their sum; "ensemble" one classifier per stream, trained with the sum
    # of the streams' cross-entropies (each head sees only its stream: the same as training them apart), predicting by
    # summed softmax scores, the "3s" figures of the CrosSCLR / AimCLR code (their ensemble scripts); kNN always
    # reads the concatenation

    def __post_init__(self) -> None:
        if not self.protocols:
            raise ConfigError("eval.protocols must name at least one protocol")
        if any(not 0 < f <= 1 for f in self.semi_fractions):
            raise ConfigError("eval.semi_fractions must be in (0, 1]")
        if self.semi_subsets < 1:
            raise ConfigError("eval.semi_subsets must be >= 1")
        if self.finetune_encoder_lr_scale < 0:
            raise ConfigError("eval.finetune_encoder_lr_scale must be >= 0")
        if self.linear_weight_decay < 0:
            raise ConfigError("eval.linear_weight_decay must be >= 0")
        if self.linear_epochs < 1:  # 0 reports an untrained classifier's chance-level figure as a result
            raise ConfigError(f"eval.linear_epochs must be >= 1, got {self.linear_epochs}")
        if self.knn_k < 1:  # 0 neighbours vote for nothing: a figure from ties broken by class order
            raise ConfigError(f"eval.knn_k must be >= 1, got {self.knn_k}")


@dataclass(frozen=True)
class ResourcesConfig:
    """What Ray gives a run: one Ray Train worker per DDP rank."""

    num_workers: int = 2  # DDP ranks; 2 fits this laptop-class machine (2 cores)
    use_gpu: bool = False  # a GPU cluster sets true
    cpus_per_worker: float = 1.0  # Ray sets OMP threads from this
    gpus_per_worker: float = 1.0  # used when use_gpu
    backend: Literal["auto", "gloo", "nccl"] = "auto"  # auto: nccl with GPUs, gloo on CPU
    max_failures: int = 2  # worker failures retried from the latest checkpoint

    @property
    def ddp_backend(self) -> str:
        """The torch.distributed backend of the Ray Train workers: ``backend``, with "auto" resolved."""
        return ("nccl" if self.use_gpu else "gloo") if self.backend == "auto" else self.backend

    def __post_init__(self) -> None:
        if self.num_workers < 0 or self.cpus_per_worker <= 0 or self.max_failures < 0:
            raise ConfigError("resources.num_workers >= 0, cpus_per_worker > 0, max_failures >= 0")


@dataclass(frozen=True)
class Config:
    """Root of the configuration tree."""

    seed: int = 0  # set explicitly in every worker; never at import time
    method: Method = "crossmoco"  # the paper's method; skeletonclr, supervised (an ST-GCN classifier per stream,
    # trained with labels) and random (CrossMoCo's encoders never trained) are the controls
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    def __post_init__(self) -> None:
        if self.seed < 0:  # NumPy's seed sequences refuse negative entropy: it would fail inside pretraining
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        ranks = max(self.resources.num_workers, 1)
        if self.pretrain.batch_size // ranks < 2:  # each rank's share is a BatchNorm batch of its own
            raise ConfigError(f"pretrain.batch_size={self.pretrain.batch_size} gives fewer than 2 samples to each "
                              f"of resources.num_workers={self.resources.num_workers} ranks")


# --------------------------------------------------------------------------------------------- types


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        item = typing.get_args(tp)[0]
        joined = "comma-separated" if item in (int, float) else "comma- (or +) separated"
        return f"a {joined} list of {_type_name(item)}" + ("" if item in (int, float) else ", or none")
    return getattr(tp, "__name__", str(tp))


def _parse_scalar(value: Any, tp: Any, key: str) -> Any:
    """Coerce ``value`` (a native value or the string form) to ``tp``; raise ConfigError naming key."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        for c in choices:
            if value == c or (isinstance(value, str) and value.strip() == str(c)):
                return c
        raise bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise bad
    if tp is int or tp is float:
        return _number(value, tp, bad)
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin is tuple:
        (item,) = (a for a in typing.get_args(tp) if a is not Ellipsis)
        if isinstance(value, str):  # "a,b" or "a+b" (the form a grid's --over takes); "none" or "" is empty
            text = value.strip().strip("[]()")
            text = "" if text.lower() == "none" else text if item in (int, float) else text.replace("+", ",")
            parts = [p.strip().strip("'\"") for p in text.split(",") if p.strip()] if text else []
        elif isinstance(value, list | tuple):
            parts = list(value)
        else:
            raise bad
        try:
            return tuple(_parse_scalar(p, item, key) for p in parts)
        except ConfigError:
            raise bad from None
    raise ConfigError(f"{key}: unsupported field type {tp!r}")


def _number(value: Any, tp: type, bad: Exception) -> Any:
    """An int or float from a number or its text; a bool is neither, and a float becomes an int
    only when it is whole."""
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        try:
            return tp(value.strip())
        except ValueError:
            raise bad from None
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) or (tp is float and isinstance(value, float)):
        return tp(value)
    raise bad


# --------------------------------------------------------------------------------------- overrides

def _rebuild(node: Any, updates: dict[tuple[str, ...], tuple[Any, str]]) -> Any:
    """Apply every update under ``node`` in one ``replace`` per section, so cross-field checks
    (e.g. channels and strides of equal length) see all of a section's new values at once."""
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        raise AssertionError("overrides below a leaf are rejected earlier")
    hints = _field_types(type(node))
    by_field: dict[str, dict[tuple[str, ...], tuple[Any, str]]] = {}
    for path, (raw, full_key) in updates.items():
        name = path[0]
        if name not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown config key {full_key!r} ({name!r} is not one of: {known})")
        current = getattr(node, name)
        if len(path) > 1 and not dataclasses.is_dataclass(current):
            raise ConfigError(f"unknown config key {full_key!r} ({name!r} is a value, not a section)")
        if len(path) == 1 and dataclasses.is_dataclass(current):
            raise ConfigError(f"{full_key!r} is a section; set one of its fields, e.g. {full_key}.<field>")
        by_field.setdefault(name, {})[path[1:]] = (raw, full_key)
    changes: dict[str, Any] = {}
    for name, sub in by_field.items():
        if () in sub:
            raw, full_key = sub[()]
            changes[name] = _parse_scalar(raw, hints[name], full_key)
        else:
            changes[name] = _rebuild(getattr(node, name), sub)
    try:
        return dataclasses.replace(node, **changes)
    except ConfigError:
        raise
    except ValueError as e:
        keys = ", ".join(k for _, k in updates.values())
        raise ConfigError(f"{keys}: {e}") from None


def _apply(cfg: Config, items: Iterable[tuple[str, Any]]) -> Config:
    updates: dict[tuple[str, ...], tuple[Any, str]] = {}
    for key, raw in items:
        updates[tuple(key.split("."))] = (raw, key)  # a later value of the same key wins
    return _rebuild(cfg, updates) if updates else cfg


def parse_override(text: str) -> tuple[str, str]:
    """Split ``key=value``; the key is dotted, the value is everything after the first '='."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key=value")
    return key.strip(), value


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """Return ``cfg`` with each ``dotted.key=value`` applied in order, validated."""
    return _apply(cfg, (parse_override(text) for text in overrides))


# -------------------------------------------------------------------------------------- flat dicts


def to_flat_dict(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """``{"contrastive.num_banks": 2, "encoder.channels": [16, ...], ...}``: JSON-ready values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(to_flat_dict(value, key + "."))
        else:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def from_flat_dict(flat: Mapping[str, Any], base: Config | None = None) -> Config:
    """Inverse of ``to_flat_dict``; also accepts MLflow's string params. Missing keys keep ``base``."""
    return _apply(base if base is not None else Config(), flat.items())


def config_hash(cfg: Config) -> str:
    """A stable 12-hex-digit digest of the configuration (independent of Python's hash seed)."""
    blob = json.dumps(to_flat_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
