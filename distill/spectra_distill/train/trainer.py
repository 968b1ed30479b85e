"""The training loop: co-training (CSAKD), offline distillation from a frozen teacher, or teacher only.

Resume is exact: a patch depends only on (seed, epoch, index) and batches are taken in index order, so the
step counter alone fixes the data position; weights, optimizer, scheduler, gradient-scaler and RNG states
come from `last.pt`. On CPU a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from spectra_distill.errors import CheckpointError, ConfigError
from spectra_distill.losses import LossSet
from spectra_distill.metrics import ergas, psnr, sam
from spectra_distill.models import FusionNet, FusionNetConfig, FusionOutput, model_config
from spectra_distill.train.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from spectra_distill.train.config import TrainConfig
from spectra_distill.train.data import TrainData, degradation_of, input_statistics
from spectra_distill.train.optim import build_optimizer
from spectra_distill.train.recovery import CollapseGuard
from spectra_distill.train.runlog import RunLog

logger = logging.getLogger(__name__)

Metrics = dict[str, dict[str, float]]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a `torchrun` job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the process group `torchrun` describes in the environment (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" and torch.cuda.is_available():
        # before the group exists, so NCCL's barrier and collectives use this rank's own GPU
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)


class EpochBatches(Sampler[list[int]]):
    """Batches of one epoch in index order from batch `start`; rank r of w takes slice r of each global batch.

    Items are random by construction (each index seeds its own patch), so no shuffling is needed and the
    position after `k` steps is simply batch `k`.
    """

    def __init__(self, steps: int, batch_size: int, rank: int, world: int, start: int) -> None:
        self.steps, self.batch_size, self.rank, self.world, self.start = steps, batch_size, rank, world, start

    def __iter__(self) -> Iterator[list[int]]:
        for j in range(self.start, self.steps):
            base = (j * self.world + self.rank) * self.batch_size
            yield list(range(base, base + self.batch_size))

    def __len__(self) -> int:
        return self.steps - self.start


@dataclass(frozen=True)
class TrainResult:
    """How a `fit` call ended."""

    step: int
    stopped_early: bool
    metrics: Metrics
    best_psnr: float
    seconds: float


class Trainer:
    """Trains the teacher and/or student of one experiment into `run_dir`.

    Args:
        cfg: The resolved experiment.
        data: Patches, validation pairs and card facts.
        run_dir: Where `last.pt`, `best.pt`, `config.yaml` and the logs go (rank 0 writes).
        dist_info: Process group position (default: single process).
        command: The command line of this start or resume. Checkpoints keep the chain of commands that made
            their weights (`commands`: those of an offline teacher or `kd.student_init` first, then one per
            start and resume), and export writes it into the model card.

    Raises:
        ConfigError: a CUDA device requested without one, or inconsistent teacher/student widths for
            feature distillation.
        CheckpointError: the offline teacher checkpoint is unusable or built for other band counts.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        data: TrainData,
        run_dir: Path,
        dist_info: DistInfo = DistInfo(),
        command: str | None = None,
    ) -> None:
        self.cfg, self.data, self.run_dir, self.dist = cfg, data, Path(run_dir), dist_info
        self.command = command
        self.commands: list[str] = []
        self.device = self._device()
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        if self.device.type != "cuda":
            self.amp_dtype = None  # mixed precision is a CUDA feature here; CPU steps stay fp32 (and exact)
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        # patch and batch sizes are fixed for a run, so cuDNN's per-shape autotuning pays off after one step
        torch.backends.cudnn.benchmark = self.device.type == "cuda" and not cfg.deterministic
        self.memory_format = (
            torch.channels_last
            if cfg.channels_last and self.device.type == "cuda"
            else torch.contiguous_format
        )
        seed_everything(cfg.seed)
        mode = cfg.kd.mode
        self.train_teacher = mode in ("cotrain", "teacher")
        self.train_student = mode != "teacher"
        dims = (data.hsi_bands, data.msi_bands, cfg.data.scale)
        if mode == "offline":
            self.teacher_config, teacher_state, teacher_commands = self._offline_teacher(dims)
            self._inherit(teacher_commands)
        else:
            self.teacher_config = self._model_config("teacher", dims)
            teacher_state = None
        self.teacher = self._build(self.teacher_config, "teacher")
        if teacher_state is not None:
            self.teacher.load_state_dict(teacher_state)
            self.teacher.eval().requires_grad_(False)
        self.student_config: FusionNetConfig | None = None
        self.student: FusionNet | None = None
        if self.train_student:
            self.student_config = self._model_config("student", dims)
            self.student = self._build(self.student_config, "student")
            if cfg.kd.student_init:
                student_state, student_commands = self._student_init(self.student_config)
                self.student.load_state_dict(student_state)
                self._inherit(student_commands)
        self._inherit([command] if command else [])
        # an offline teacher or initialised student keeps the statistics it was trained with; a resumed run
        # overwrites these with the checkpoint's (identical) buffers
        fresh = (
            self.teacher if teacher_state is None else None,
            None if cfg.kd.student_init else self.student,
        )
        standardised = [net for net in fresh if net is not None and net.config.standardise]
        if standardised:
            stats = input_statistics(data.train_set)
            for net in standardised:
                net.set_input_statistics(stats)
        for net in fresh:
            if net is not None and net.uses_physics:
                net.set_degradation(*degradation_of(data.card))
        self.teacher_loss = LossSet(cfg.kd.teacher_losses, "t") if self.train_teacher else None
        self.student_loss = LossSet(cfg.kd.student_losses, "s") if self.train_student else None
        needs_features = self.student_loss is not None and any(
            t.target == "teacher_features" for t in self.student_loss.terms
        )
        if needs_features and self.student_config and self.student_config.nf != self.teacher_config.nf:
            raise ConfigError(
                f"FeatureKDLoss needs equal widths; teacher nf = {self.teacher_config.nf}, student nf = "
                f"{self.student_config.nf} (set model.student.nf or drop the term)"
            )
        self.t_model = self._wrap(self.teacher) if self.train_teacher else self.teacher
        self.s_model = self._wrap(self.student) if self.student is not None else None
        self.opt: dict[str, torch.optim.Optimizer] = {}
        self.sched: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.scaler: dict[str, torch.amp.GradScaler] = {}
        for role, model in (
            ("teacher", self.teacher if self.train_teacher else None),
            ("student", self.student),
        ):
            if model is None:
                continue
            self.opt[role], self.sched[role] = build_optimizer(
                model.parameters(), cfg.optim, f"{role}_scheduler"
            )
            self.scaler[role] = torch.amp.GradScaler(
                self.device.type, enabled=self.amp_dtype == torch.float16 and self.device.type == "cuda"
            )
        world_batch = cfg.data.batch_size * dist_info.world
        self.steps_per_epoch = cfg.data.samples_per_epoch // world_batch
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"data.samples_per_epoch = {cfg.data.samples_per_epoch} is below one global batch "
                f"({cfg.data.batch_size} x {dist_info.world} processes)"
            )
        self.step = 0
        self.best_psnr = -math.inf
        self.metrics: Metrics = {}
        self.teacher_metrics: Metrics = {}
        self.guard = CollapseGuard(cfg.optim.collapse_db, cfg.optim.collapse_lr_factor)
        self.recoveries: list[dict[str, Any]] = []
        self.seconds = 0.0

    # ------------------------------------------------------------------ setup
    def _device(self) -> torch.device:
        if self.cfg.device == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError("device 'cuda' requested but torch sees no CUDA device")
            torch.cuda.set_device(self.dist.local_rank)
            return torch.device("cuda", self.dist.local_rank)
        if self.cfg.device != "cpu":
            raise ConfigError(f"device = {self.cfg.device!r}; expected 'cpu' or 'cuda'")
        return torch.device("cpu")

    def _model_config(self, role: str, dims: tuple[int, int, int]) -> FusionNetConfig:
        overrides = getattr(self.cfg.model, role)
        try:
            return model_config(role, self.cfg.model.preset, *dims, **overrides)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"model.{role}: {exc}") from exc

    def _build(self, config: FusionNetConfig, role: str) -> FusionNet:
        try:
            return FusionNet(config).to(self.device, memory_format=self.memory_format)
        except ValueError as exc:  # e.g. groups that do not divide the widths
            raise ConfigError(f"model.{role}: {exc}") from exc

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.dist.world == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        # the authors' degenerate attention (an ablation) leaves Q/K without gradients
        unused = isinstance(model, FusionNet) and model.config.degenerate
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)

    def _inherit(self, commands: list[str]) -> None:
        # an offline teacher and an initial student may share their first commands
        self.commands.extend(c for c in commands if c not in self.commands)

    def _offline_teacher(
        self, dims: tuple[int, int, int]
    ) -> tuple[FusionNetConfig, dict[str, Any], list[str]]:
        path = self.cfg.kd.teacher_checkpoint
        assert path is not None  # config validation requires it in offline mode
        ckpt = load_checkpoint(path, required=("model_config",))
        # a shipped student's weights file holds no teacher: the student, frozen, anchors its own fine-tuning
        role = "teacher" if "teacher" in ckpt else "student"
        if role not in ckpt:
            raise CheckpointError("holds neither a teacher nor a student to distil from", path)
        try:
            config = FusionNetConfig(**ckpt["model_config"][role])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"model_config[{role!r}] does not describe a FusionNet: {exc}", path
            ) from exc
        if (config.hsi_bands, config.msi_bands, config.scale) != dims:
            raise CheckpointError(
                f"teacher is built for (hsi_bands, msi_bands, scale) = "
                f"{(config.hsi_bands, config.msi_bands, config.scale)}; the data needs {dims}",
                path,
            )
        return config, ckpt[role], list(ckpt.get("commands", []))

    def _student_init(self, config: FusionNetConfig) -> tuple[dict[str, Any], list[str]]:
        path = self.cfg.kd.student_init
        assert path is not None
        ckpt = load_checkpoint(path, required=("student", "model_config"))
        saved, wanted = ckpt["model_config"].get("student") or {}, config.to_dict()
        if saved != wanted:
            changed = sorted(k for k in wanted.keys() | saved.keys() if saved.get(k) != wanted.get(k))
            raise CheckpointError(
                f"its student is not the configured one; fields differ: {', '.join(changed)}", path
            )
        return ckpt["student"], list(ckpt.get("commands", []))

    # ------------------------------------------------------------------ steps
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _update(self, role: str, loss: torch.Tensor, model: nn.Module) -> None:
        opt, scaler = self.opt[role], self.scaler[role]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip is not None:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), self.cfg.optim.grad_clip)
        scaler.step(opt)
        scaler.update()
        self.sched[role].step()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One co-training step: teacher update, then student update on the detached teacher outputs."""
        lr, msi, gt = (
            batch[k].to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            for k in ("lrhsi", "hrmsi", "hrhsi")
        )
        mask = batch["band_mask"].to(self.device, non_blocking=True)
        logs: dict[str, torch.Tensor] = {}
        teacher_out: FusionOutput | None = None
        if self.teacher_loss is not None:
            self.t_model.train()
            with self._autocast():
                teacher_out = self.t_model(lr, msi)
            loss, parts = self.teacher_loss(teacher_out.cube.float(), teacher_out.features.float(), gt, mask)
            self._update("teacher", loss, self.t_model)
            logs.update(parts)
        elif self.student_loss is not None and self.student_loss.needs_teacher:
            with torch.no_grad(), self._autocast():
                teacher_out = self.teacher(lr, msi)
        if self.student_loss is not None and self.s_model is not None:
            self.s_model.train()
            with self._autocast():
                out = self.s_model(lr, msi)
            t_cube = None if teacher_out is None else teacher_out.cube.detach().float()
            t_feat = None if teacher_out is None else teacher_out.features.detach().float()
            loss, parts = self.student_loss(out.cube.float(), out.features.float(), gt, mask, t_cube, t_feat)
            self._update("student", loss, self.s_model)
            logs.update(parts)
        return {k: v.detach() for k, v in logs.items()}

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, Metrics]:
        """Whole-region inference on every validation pair: `{role: {dataset: {psnr, sam, ergas}}}`."""
        roles: list[tuple[str, nn.Module]] = []
        if self.student is not None:
            roles.append(("student", self.student))
        if self.train_teacher:
            roles.append(("teacher", self.teacher))
        result: dict[str, Metrics] = {}
        for role, model in roles:
            was_training = model.training
            model.eval()
            scores: dict[str, list[tuple[float, float, float]]] = {}
            for region in self.data.val:
                with self._autocast():
                    lr, msi = (
                        x.to(self.device).contiguous(memory_format=self.memory_format)
                        for x in (region.lrhsi, region.hrmsi)
                    )
                    pred = model(lr, msi).cube
                p = pred.float().cpu().numpy()[0]
                g = region.hrhsi
                scores.setdefault(region.dataset, []).append(
                    (
                        psnr(p, g, region.valid, region.band_mask),
                        sam(p, g, region.valid, region.band_mask),
                        ergas(p, g, self.cfg.data.scale, region.valid, region.band_mask),
                    )
                )
            model.train(was_training)
            result[role] = {
                ds: dict(zip(("psnr", "sam", "ergas"), map(float, np.mean(v, axis=0)), strict=True))
                for ds, v in scores.items()
            }
        return result

    # ------------------------------------------------------------------ checkpoints
    def state(self, epoch: int) -> dict[str, Any]:
        """The checkpoint dict (keys agreed with export)."""
        state: dict[str, Any] = {
            "config": self.cfg.to_dict(),
            "teacher": self.teacher.state_dict(),
            "model_config": {"teacher": self.teacher_config.to_dict()},
            "card": self.data.card,
            "metrics": self.metrics,
            "teacher_metrics": self.teacher_metrics,
            "epoch": epoch,
            "step": self.step,
            "optim": {k: v.state_dict() for k, v in self.opt.items()},
            "sched": {k: v.state_dict() for k, v in self.sched.items()},
            "scaler": {k: v.state_dict() for k, v in self.scaler.items()},
            "rng": rng_state(),
            "best": self.best_psnr,
            "seconds": self.seconds,
            "recoveries": self.recoveries,
            "commands": self.commands,
        }
        if self.student is not None and self.student_config is not None:
            state["student"] = self.student.state_dict()
            state["model_config"]["student"] = self.student_config.to_dict()
        return state

    def restore(self, ckpt: dict[str, Any], path: Path) -> None:
        """Load a `last.pt` written by a run of the same experiment.

        Raises:
            CheckpointError: the checkpoint belongs to another architecture or mode.
        """
        if set(ckpt["optim"]) != set(self.opt):
            raise CheckpointError(
                f"checkpoint trains {sorted(ckpt['optim'])}; this run (kd.mode = {self.cfg.kd.mode!r}) "
                f"trains {sorted(self.opt)}",
                path,
            )
        try:
            self.teacher.load_state_dict(ckpt["teacher"])
            if self.student is not None:
                self.student.load_state_dict(ckpt["student"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"weights do not fit the configured models: {exc}", path) from exc
        for role in self.opt:
            self.opt[role].load_state_dict(ckpt["optim"][role])
            self.sched[role].load_state_dict(ckpt["sched"][role])
            self.scaler[role].load_state_dict(ckpt["scaler"][role])
        set_rng_state(ckpt["rng"])
        self.step = int(ckpt["step"])
        self.best_psnr = float(ckpt.get("best", -math.inf))
        self.metrics = ckpt.get("metrics", {})
        self.teacher_metrics = ckpt.get("teacher_metrics", {})
        self.seconds = float(ckpt.get("seconds", 0.0))
        self.recoveries = list(ckpt.get("recoveries", []))
        self.commands = [*ckpt.get("commands", []), *([self.command] if self.command else [])]

    def _save(self, name: str) -> None:
        if self.dist.is_main:
            save_checkpoint(self.state(self.step // self.steps_per_epoch), self.run_dir / name)

    def _validate_and_select(self, log: RunLog | None) -> None:
        """Validate (rank 0), let the collapse guard act on every rank, keep `best.pt` by the primary role."""
        roles = list(self.opt)  # the networks this run trains
        scores = torch.full((len(roles),), math.nan, device=self.device)
        results: dict[str, Metrics] = {}
        if self.dist.is_main:
            results = self.validate()
            if log is not None:
                log.val(self.step, results)
            for i, role in enumerate(roles):
                scores[i] = float(np.mean([m["psnr"] for m in results[role].values()]))
        if self.dist.world > 1:
            dist.broadcast(scores, src=0)
        for role, score in zip(roles, scores.tolist(), strict=True):
            net = self.teacher if role == "teacher" else self.student
            assert net is not None
            event = self.guard.update(role, self.step, score, net, self.opt[role], self.sched[role])
            if event is not None and self.dist.is_main:
                logger.warning("[%s] %s", self.cfg.name, event.describe())
                self.recoveries.append(asdict(event))
        if not self.dist.is_main:
            return
        primary = "student" if self.student is not None else "teacher"
        self.metrics = results[primary]
        self.teacher_metrics = results.get("teacher", {}) if primary == "student" else {}
        score = float(np.mean([m["psnr"] for m in self.metrics.values()]))
        if score > self.best_psnr:
            self.best_psnr = score
            self._save("best.pt")

    def _time_up(self, started: float, max_minutes: float | None) -> bool:
        if max_minutes is None:
            return False
        # NCCL only moves CUDA tensors; gloo takes CPU ones
        flag = torch.tensor([float(time.monotonic() - started >= max_minutes * 60.0)], device=self.device)
        if self.dist.world > 1:
            # every rank must stop at the same step or the others hang in the next all-reduce
            dist.broadcast(flag, src=0)
        return bool(flag.item())

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool = False, max_minutes: float | None = None) -> TrainResult:
        """Train to `optim.total_steps` (or until `max_minutes`), validating and checkpointing on schedule.

        Raises:
            CheckpointError: `resume` without a usable `last.pt`.
            FloatingPointError: a logged loss became NaN/Inf.
        """
        cfg = self.cfg
        if resume:
            path = self.run_dir / "last.pt"
            self.restore(load_checkpoint(path), path)
        names = [
            *(self.teacher_loss.names if self.teacher_loss else ()),
            *(self.student_loss.names if self.student_loss else ()),
        ]
        log = RunLog(self.run_dir, names, self.step, cfg.log.tensorboard) if self.dist.is_main else None
        total = cfg.optim.total_steps
        started = time.monotonic()
        seconds_before = self.seconds
        stopped = False
        window: dict[str, torch.Tensor] = {}
        window_steps = 0
        bar = tqdm(
            total=total,
            initial=self.step,
            desc=cfg.name,
            disable=not self.dist.is_main,
            dynamic_ncols=True,
            mininterval=1.0,  # a redirected log gets a line per refresh
        )
        try:
            while self.step < total and not stopped:
                epoch, position = divmod(self.step, self.steps_per_epoch)
                self.data.train_set.set_epoch(epoch)
                loader = DataLoader(
                    self.data.train_set,
                    batch_sampler=EpochBatches(
                        self.steps_per_epoch, cfg.data.batch_size, self.dist.rank, self.dist.world, position
                    ),
                    num_workers=cfg.data.num_workers,
                    pin_memory=self.device.type == "cuda",
                )
                for batch in loader:
                    logs = self.train_step(batch)
                    self.step += 1
                    for k, v in logs.items():
                        window[k] = window.get(k, torch.zeros((), device=v.device)) + v
                    window_steps += 1
                    bar.update(1)
                    self.seconds = seconds_before + time.monotonic() - started
                    if self.step % cfg.log.log_every == 0 or self.step == total:
                        self._log_window(log, bar, window, window_steps, epoch)
                        window, window_steps = {}, 0
                    at_end = self.step >= total
                    if cfg.log.val_every and self.step % cfg.log.val_every == 0 and not at_end:
                        self._validate_and_select(log)
                    if self.step % cfg.log.ckpt_every == 0 and not at_end:
                        self._save("last.pt")
                    if at_end:
                        break
                    if self._time_up(started, max_minutes):
                        stopped = True
                        break
            self._validate_and_select(log)
            self._save("last.pt")
        finally:
            bar.close()
            if log is not None:
                log.close()
        return TrainResult(self.step, stopped, self.metrics, self.best_psnr, self.seconds)

    def _log_window(
        self, log: RunLog | None, bar: tqdm, window: dict[str, torch.Tensor], n: int, epoch: int
    ) -> None:
        if log is None or n == 0:
            return
        means = {k: float(v.item()) / n for k, v in window.items()}
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"loss {', '.join(bad)} is not finite at step {self.step}")
        row: dict[str, Any] = {
            "epoch": epoch,
            "seconds": f"{self.seconds:.2f}",
            **{k: f"{v:.6g}" for k, v in means.items()},
        }
        for role, key in (("teacher", "lr_t"), ("student", "lr_s")):
            if role in self.sched:
                row[key] = f"{self.sched[role].get_last_lr()[0]:.6g}"
        log.train(self.step, row)
        bar.set_postfix({k: f"{v:.4f}" for k, v in means.items()}, refresh=False)
