"""Roll a network back to its best weights when its validation PSNR collapses.

A diverged network rarely comes back by itself. On an NVIDIA H200 (batch 32, lr 2e-3, bf16 and fp32 alike)
the `cpu_small` CAVE teacher's stream activations grew from ~0.3 to ~1e8 within about 60 steps, every CSA
stream gate saturated at sigmoid = 0, the fused features became exactly zero, and the teacher stayed at
bilinear quality (23 dB) for the remaining 1,600 steps: no gradient passes a saturated gate. The best
checkpoint is chosen by the student, so nothing else in the run would have said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Recovery:
    """One roll-back, as recorded in the checkpoint (`recoveries`) and printed.

    Attributes:
        step: Step at which the collapse was seen.
        role: 'teacher' or 'student'.
        psnr: Mean validation PSNR at that step (NaN if the output was not finite).
        best_psnr: The role's best mean validation PSNR, whose weights were restored.
        best_step: Step of that best.
        lr_scale: Factor applied to the role's learning rate (base and current) by this roll-back.
    """

    step: int
    role: str
    psnr: float
    best_psnr: float
    best_step: int
    lr_scale: float

    def describe(self) -> str:
        return (
            f"{self.role} collapsed at step {self.step}: validation PSNR {self.psnr:.2f} dB against its best "
            f"{self.best_psnr:.2f} dB at step {self.best_step}; restored that step's weights and optimizer "
            f"state, learning rate x{self.lr_scale:g}"
        )


@dataclass
class _Snapshot:
    psnr: float
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]


class CollapseGuard:
    """Keeps each network's best state in host memory and restores it after a collapse.

    Every process of a DDP run holds its own (identical) copy and is fed the same validation scores, so the
    processes stay in step. Snapshots are not written to checkpoints: after `--resume` the first validation
    sets the baseline again.

    Args:
        drop_db: A mean validation PSNR this far below the role's best (or not finite) is a collapse;
            None turns the guard off.
        lr_factor: Multiplies the role's learning rate at each roll-back.
    """

    def __init__(self, drop_db: float | None, lr_factor: float) -> None:
        self.drop_db = drop_db
        self.lr_factor = lr_factor
        self._best: dict[str, _Snapshot] = {}

    def update(
        self,
        role: str,
        step: int,
        psnr: float,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> Recovery | None:
        """Record a new best, or roll back a collapsed network; returns the roll-back, if any."""
        if self.drop_db is None:
            return None
        best = self._best.get(role)
        if math.isfinite(psnr) and (best is None or psnr > best.psnr):
            self._best[role] = _Snapshot(
                psnr,
                step,
                {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
                _to_cpu(optimizer.state_dict()),
            )
            return None
        if best is None or (math.isfinite(psnr) and best.psnr - psnr <= self.drop_db):
            return None
        current = [group["lr"] for group in optimizer.param_groups]
        model.load_state_dict(best.model)
        optimizer.load_state_dict(best.optimizer)  # moves the state back to the parameters' device
        for group, lr in zip(optimizer.param_groups, current, strict=True):
            group["lr"] = lr * self.lr_factor
        scheduler.base_lrs = [lr * self.lr_factor for lr in scheduler.base_lrs]
        return Recovery(step, role, psnr, best.psnr, best.step, self.lr_factor)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value
