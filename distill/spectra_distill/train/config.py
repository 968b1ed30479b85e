"""Experiment configs: nested dataclasses loaded from YAML/JSON, with `--set a.b=c` overrides."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from spectra_distill.errors import ConfigError
from spectra_distill.losses import STUDENT_LOSSES, TEACHER_LOSSES, LossSet, build_loss

Mode = Literal["cotrain", "offline", "teacher"]
MODES: tuple[str, ...] = ("cotrain", "offline", "teacher")
AMP_DTYPES: tuple[str, ...] = ("none", "bf16", "fp16")
SCHEDULERS: tuple[str, ...] = ("cosine", "step", "constant")


@dataclass
class DataConfig:
    """Training and validation data.

    Attributes:
        datasets: Dataset names for `load_scenes` (pooled).
        root: Data root; None = `spectra_distill.data.default_data_root()`.
        grid: Model band grid (a key of `spectra_distill.data.GRIDS`) every scene is resampled onto.
        split: Split name or YAML path (`load_split`); training patches come only from 'train' regions.
        msi: MSI preset of the degradation (`rgb`, `s2_4`, `s2_6`, `srf=<file>:<bands>`).
        scale: Spatial ratio.
        psf_sigma: Gaussian PSF sigma in HR pixels; None = scale / 2.
        psf_kernel_size: PSF taps; None = 2 * scale.
        snr_db: AWGN on the LR-HSI during training (None = clean); validation is always clean.
        misregistration_px: LR-HSI shift in HR pixels.
        patch_size: HR patch side.
        batch_size: Patches per step and process.
        samples_per_epoch: Patches per epoch over all processes.
        augment: Flips and 90-degree rotations.
        region_power: Training regions are drawn with probability proportional to their area ** power (1 = by
            area; 0.5 draws the small scenes more often, which per-dataset targets favour).
        num_workers: DataLoader workers.
        val_crop: HR side of the centre crop taken from each validation region; None = whole region.
        psf_jitter: Training PSF sigma drawn within the nominal +- this (HR px); `SamplerConfig.psf_jitter`.
        msi_mix_jitter: Training HR-MSI band cross-talk; `SamplerConfig.msi_mix_jitter`.
        msi_cameras: Training HR-MSI from other cameras' responses; `SamplerConfig.msi_cameras`.
        msi_camera_prob: The share of patches that take one; `SamplerConfig.msi_camera_prob`.
        synthetic_scenes: Synthetic scenes (`spectra_distill.data.synthetic`: library spectra placed by the
            structure of real photographs) added to the training regions, drawn once per run from `seed`.
        synthetic_size: Their HR side in pixels.
    """

    datasets: list[str] = field(default_factory=lambda: ["cave"])
    root: str | None = None
    grid: str = "cave31"
    split: str = "default"
    msi: str = "rgb"
    scale: int = 4
    psf_sigma: float | None = None
    psf_kernel_size: int | None = None
    snr_db: float | None = 35.0
    misregistration_px: int = 0
    patch_size: int = 64
    batch_size: int = 4
    samples_per_epoch: int = 1000
    augment: bool = True
    region_power: float = 1.0
    num_workers: int = 0
    val_crop: int | None = None
    psf_jitter: float = 0.0
    msi_mix_jitter: float = 0.0
    msi_cameras: list[str] = field(default_factory=list)
    msi_camera_prob: float = 0.0
    synthetic_scenes: int = 0
    synthetic_size: int = 96


@dataclass
class ModelConfig:
    """Teacher and student architectures: a preset of `spectra_distill.models` plus per-role overrides."""

    preset: str = "cpu_small"
    teacher: dict[str, Any] = field(default_factory=dict)
    student: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedules (stepped once per training step).

    Attributes:
        lr: Peak learning rate of both networks.
        weight_decay: AdamW weight decay.
        betas: AdamW betas.
        total_steps: Training steps (one step = one teacher and one student update in co-training).
        warmup_steps: Linear warm-up from 0, multiplied into the schedule.
        grad_clip: Max global gradient norm per network; None = no clipping.
        teacher_scheduler: `{type: cosine, eta_min}` | `{type: step, step_size, gamma}` | `{type: constant}`.
        student_scheduler: Same choices.
        collapse_db: A network whose mean validation PSNR falls this far below its own best (or is not finite)
            is rolled back to its best weights and optimizer state (`train.recovery`); None = never.
        collapse_lr_factor: Multiplies that network's learning rate at each roll-back.
    """

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    total_steps: int = 10_000
    warmup_steps: int = 0
    grad_clip: float | None = None
    teacher_scheduler: dict[str, Any] = field(default_factory=lambda: {"type": "cosine", "eta_min": 1e-6})
    student_scheduler: dict[str, Any] = field(
        default_factory=lambda: {"type": "step", "step_size": 1000, "gamma": 0.9}
    )
    collapse_db: float | None = 3.0
    collapse_lr_factor: float = 0.5


@dataclass
class KDConfig:
    """What is trained and with which objectives.

    Attributes:
        mode: 'cotrain' (teacher and student updated every step on the same batch), 'offline' (a frozen
            teacher from `teacher_checkpoint` -> student) or 'teacher' (teacher only).
        teacher_checkpoint: Checkpoint holding a trained teacher (offline mode); a student-only file (a
            shipped `*.weights.pt`) gives its student, frozen, as the teacher of its own fine-tuning.
        student_init: Checkpoint whose student weights and input statistics the student starts from, with a
            fresh optimizer and schedule: fine-tuning a trained student on a new schedule or new scenes. Its
            student must have the configured architecture. A resumed run takes its weights from `last.pt`.
        teacher_losses: Loss blocks of the teacher objective.
        student_losses: Loss blocks of the student objective.
    """

    mode: Mode = "cotrain"
    teacher_checkpoint: str | None = None
    student_init: str | None = None
    teacher_losses: list[dict[str, Any]] = field(default_factory=lambda: [dict(s) for s in TEACHER_LOSSES])
    student_losses: list[dict[str, Any]] = field(default_factory=lambda: [dict(s) for s in STUDENT_LOSSES])


@dataclass
class LogConfig:
    """Logging, validation and checkpoint cadence, in steps.

    Attributes:
        log_every: Loss averages to the progress bar, CSV and TensorBoard.
        val_every: Validation (and `best.pt`); 0 = only at the end.
        ckpt_every: `last.pt`; it is also written at the end and on `--max-minutes`.
        tensorboard: Write TensorBoard events under `<run dir>/tb`.
    """

    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    tensorboard: bool = True


@dataclass
class TrainConfig:
    """One experiment.

    Attributes:
        name: Experiment name (default run dir `runs/<name>`).
        seed: Seeds python, numpy, torch and the patch sampler.
        device: 'cpu' or 'cuda' (the command line's `--device` overrides).
        amp: Autocast dtype on CUDA: 'bf16', 'fp16' (with gradient scaling) or 'none'; ignored on CPU.
        deterministic: Ask torch for deterministic kernels (slower on CUDA); off, cuDNN autotunes its convs.
        channels_last: NHWC memory format for models and batches on CUDA (measured slower than NCHW for the
            paper preset on an H200, so off by default).
        threads: torch CPU threads; None = torch's default. On a CPU shared with other jobs 1 is often faster
            than 2 (spinning OpenMP threads contend).
    """

    name: str = "experiment"
    seed: int = 0
    device: str = "cpu"
    amp: str = "bf16"
    deterministic: bool = False
    channels_last: bool = False
    threads: int | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    kd: KDConfig = field(default_factory=KDConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# YAML 1.1 (PyYAML) reads an exponent without a dot (1e-3) as a string
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _check_type(value: Any, hint: Any, where: str, source: str | Path | None) -> Any:
    """Coerce ints to floats where floats are expected; reject any other mismatch naming the key."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(
                f"{where} = {value!r}; expected one of {', '.join(map(str, typing.get_args(hint)))}", source
            )
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, where, source)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r}; expected {hint}", source)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} = {value!r}; expected a list", source)
        (item,) = typing.get_args(hint)
        return [_check_type(v, item, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} = {value!r}; expected a mapping", source)
        return dict(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise ConfigError(f"{where} = {value!r}; expected {getattr(hint, '__name__', hint)}", source)


def _from_dict(cls: type, raw: Any, where: str, source: str | Path | None) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping; got {type(raw).__name__}", source)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key(s) {', '.join(prefix + k for k in unknown)}; known: {', '.join(names)}", source
        )
    kwargs: dict[str, Any] = {}
    for name in names:
        if name not in raw:
            continue
        key = f"{where}.{name}" if where else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _from_dict(hint, raw[name], key, source)
        else:
            kwargs[name] = _check_type(raw[name], hint, key, source)
    return cls(**kwargs)


def _validate(cfg: TrainConfig, source: str | Path | None) -> None:
    if cfg.kd.mode not in MODES:
        raise ConfigError(f"kd.mode = {cfg.kd.mode!r}; expected one of {', '.join(MODES)}", source)
    if cfg.kd.mode == "offline" and not cfg.kd.teacher_checkpoint:
        raise ConfigError("kd.mode = 'offline' needs kd.teacher_checkpoint", source)
    if cfg.kd.mode == "teacher" and cfg.kd.student_init:
        raise ConfigError("kd.student_init is set but kd.mode = 'teacher' trains no student", source)
    if cfg.amp not in AMP_DTYPES:
        raise ConfigError(f"amp = {cfg.amp!r}; expected one of {', '.join(AMP_DTYPES)}", source)
    for key in ("teacher_scheduler", "student_scheduler"):
        kind = getattr(cfg.optim, key).get("type")
        if kind not in SCHEDULERS:
            raise ConfigError(f"optim.{key}.type = {kind!r}; expected one of {', '.join(SCHEDULERS)}", source)
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"threads = {cfg.threads}; expected >= 1 or null", source)
    if cfg.optim.collapse_db is not None and not cfg.optim.collapse_db > 0:
        raise ConfigError(f"optim.collapse_db = {cfg.optim.collapse_db}; expected > 0 or null", source)
    if not 0 < cfg.optim.collapse_lr_factor <= 1:
        factor = cfg.optim.collapse_lr_factor
        raise ConfigError(f"optim.collapse_lr_factor = {factor}; expected in (0, 1]", source)
    positive = {
        "data.scale": cfg.data.scale,
        "data.patch_size": cfg.data.patch_size,
        "data.batch_size": cfg.data.batch_size,
        "data.samples_per_epoch": cfg.data.samples_per_epoch,
        "optim.total_steps": cfg.optim.total_steps,
        "log.log_every": cfg.log.log_every,
        "log.ckpt_every": cfg.log.ckpt_every,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} = {value}; expected >= 1", source)
    if cfg.data.synthetic_scenes < 0 or cfg.data.synthetic_size < 8 * cfg.data.scale:
        raise ConfigError(
            f"data.synthetic_scenes = {cfg.data.synthetic_scenes} must be >= 0 and data.synthetic_size = "
            f"{cfg.data.synthetic_size} at least 8 LR pixels ({8 * cfg.data.scale})",
            source,
        )
    if not cfg.data.region_power >= 0:  # also NaN
        raise ConfigError(f"data.region_power = {cfg.data.region_power}; expected >= 0", source)
    if cfg.data.patch_size % cfg.data.scale:
        raise ConfigError(
            f"data.patch_size = {cfg.data.patch_size} is not a multiple of data.scale = {cfg.data.scale}",
            source,
        )
    if cfg.data.samples_per_epoch < cfg.data.batch_size:
        raise ConfigError(
            f"data.samples_per_epoch = {cfg.data.samples_per_epoch} is below data.batch_size = "
            f"{cfg.data.batch_size}",
            source,
        )
    for key, prefix in (("teacher_losses", "t"), ("student_losses", "s")):
        specs = getattr(cfg.kd, key)
        for i, spec in enumerate(specs):
            try:
                build_loss(spec)
            except ValueError as exc:
                raise ConfigError(f"kd.{key}[{i}]: {exc}", source) from exc
        try:
            LossSet(specs, prefix)
        except ValueError as exc:
            raise ConfigError(f"kd.{key}: {exc}", source) from exc


def add_override_option(parser: argparse.ArgumentParser, help: str) -> None:
    """The repeatable `--set KEY=VALUE` option (into `args.overrides`) whose values `parse_override` reads."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=c` -> (['a', 'b'], c) with `c` parsed as YAML (numbers, booleans, null, lists).

    Raises:
        ConfigError: no '=' or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.path=value; got {text!r}")
    return key.strip().split("."), yaml.safe_load(value) if value.strip() else ""


def apply_override(raw: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    """Set `raw[path...] = value` in place; list items are addressed by index (`kd.student_losses.1.weight`).

    Raises:
        ConfigError: a path step that is neither an existing key nor a valid list index.
    """
    node: Any = raw
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not step.isdigit() or int(step) >= len(node):
                raise ConfigError(
                    f"--set {text}: {'.'.join(path[: i + 1])} is not an index below {len(node)}"
                )
            if last:
                node[int(step)] = value
            else:
                node = node[int(step)]
        elif isinstance(node, dict):
            if last:
                node[step] = value
            else:
                node = node.setdefault(step, {})
        else:
            raise ConfigError(f"--set {text}: {'.'.join(path[:i])} is a value, not a section")


def read_raw(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file.

    Raises:
        ConfigError: unreadable, unparsable or not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path) from exc
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot parse config: {exc}", path) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping; got {type(raw).__name__}", path)
    return raw


def _with_defaults(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` laid over the defaults, section by section, so `--set` can address keys the file omits.

    Free-form mappings (a scheduler block, model overrides) and lists are replaced whole, never merged, so a
    file's `{type: step, ...}` does not inherit the default cosine's options. Unknown keys are kept for the
    validation to report.
    """
    merged = asdict(cls())
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        hint = hints.get(key)
        if hint is not None and dataclasses.is_dataclass(hint) and isinstance(value, dict):
            merged[key] = _with_defaults(hint, value)
        else:
            merged[key] = value
    return merged


def config_from_dict(raw: dict[str, Any], source: str | Path | None = None) -> TrainConfig:
    """Build and validate a TrainConfig; errors name the key and `source`."""
    cfg = _from_dict(TrainConfig, raw, "", source)
    _validate(cfg, source)
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read an experiment file, apply `--set` overrides in order, validate.

    Raises:
        ConfigError: bad file, unknown key, wrong type or invalid value (the message names the file).
    """
    raw = _with_defaults(TrainConfig, read_raw(path))
    for text in overrides:
        try:
            apply_override(raw, *parse_override(text), text)
        except ConfigError as exc:
            raise ConfigError(str(exc), path) from exc
    return config_from_dict(raw, path)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (the run directory's `config.yaml`)."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
