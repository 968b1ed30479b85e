"""AdamW and step-based learning-rate schedules (cosine / step / constant, optional linear warm-up)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from spectra_distill.errors import ConfigError
from spectra_distill.train.config import OptimConfig


@dataclass(frozen=True)
class LRFactor:
    """Multiplier of the peak learning rate at a step: warm-up times the chosen decay.

    A picklable callable (not a lambda) so the scheduler's state_dict stays plain data.
    """

    kind: str
    total_steps: int
    warmup_steps: int
    eta_min_ratio: float = 0.0
    step_size: int = 1
    gamma: float = 1.0

    def __call__(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            t = min(1.0, max(0, step - self.warmup_steps) / span)
            decay = self.eta_min_ratio + (1 - self.eta_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        elif self.kind == "step":
            decay = self.gamma ** (step // self.step_size)
        else:
            decay = 1.0
        return warm * decay


def lr_factor(spec: dict[str, Any], cfg: OptimConfig, key: str) -> LRFactor:
    """Parse a schedule: `{type: cosine, eta_min}`, `{type: step, step_size, gamma}` or `{type: constant}`.

    Raises:
        ConfigError: unknown type or option.
    """
    allowed = {"cosine": {"eta_min"}, "step": {"step_size", "gamma"}, "constant": set()}
    kind = spec.get("type")
    if kind not in allowed:
        raise ConfigError(f"optim.{key}.type = {kind!r}; expected one of {', '.join(allowed)}")
    extra = sorted(set(spec) - {"type"} - allowed[kind])
    if extra:
        raise ConfigError(f"optim.{key}: option(s) {', '.join(extra)} do not apply to a {kind!r} schedule")
    step_size = int(spec.get("step_size", 1))
    if step_size < 1:
        raise ConfigError(f"optim.{key}.step_size = {step_size}; expected >= 1")
    return LRFactor(
        kind=kind,
        total_steps=cfg.total_steps,
        warmup_steps=cfg.warmup_steps,
        eta_min_ratio=float(spec.get("eta_min", 0.0)) / cfg.lr,
        step_size=step_size,
        gamma=float(spec.get("gamma", 1.0)),
    )


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: OptimConfig, schedule_key: str
) -> tuple[torch.optim.AdamW, LambdaLR]:
    """AdamW at `cfg.lr` and its schedule (`schedule_key` = 'teacher_scheduler' or 'student_scheduler')."""
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(cfg.betas[0], cfg.betas[1])
    )
    return optimizer, LambdaLR(optimizer, lr_factor(getattr(cfg, schedule_key), cfg, schedule_key))
