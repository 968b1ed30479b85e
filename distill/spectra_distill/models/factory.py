"""Model presets and the one factory: `create_model('student', preset='cpu_small', hsi_bands=31, ...)`."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Literal

from spectra_distill.models.net import FusionNet, FusionNetConfig

Role = Literal["teacher", "student"]
ROLES: tuple[str, ...] = ("teacher", "student")

# Per preset and role, the FusionNetConfig fields other than the band counts and scale.
# num_blocks order: (joint_hr, joint_lr, msi, hsi).
PRESETS: MappingProxyType[str, dict[str, dict[str, Any]]] = MappingProxyType(
    {
        # The paper's sizes (B=172, b=4): 26.8M / 7.44M parameters. The student's joint-HR stream is
        # conv only, its HSI stream has four grouped blocks and its MSI stream one block.
        "paper": {
            "teacher": {"nf": 86, "gc": 43, "num_blocks": (6, 6, 4, 4)},
            "student": {"nf": 86, "gc": 43, "num_blocks": (0, 4, 1, 4), "hsi_groups": 43},
        },
        # Sized for co-training on a 2-core CPU (results/distill/complexity.md): the paper's layout at
        # nf=32 with fewer blocks. Student keeps the paper's shape (conv-only joint HR, grouped HSI).
        "cpu_small": {
            "teacher": {"nf": 32, "gc": 16, "num_blocks": (2, 2, 2, 2), "attn_dim": 32},
            "student": {"nf": 32, "gc": 16, "num_blocks": (0, 1, 1, 1), "hsi_groups": 16, "attn_dim": 32},
        },
        "cpu_tiny": {
            "teacher": {"nf": 24, "gc": 12, "num_blocks": (1, 2, 1, 2), "attn_dim": 16},
            "student": {"nf": 24, "gc": 12, "num_blocks": (0, 1, 0, 1), "hsi_groups": 12, "attn_dim": 16},
        },
        # Unit tests and the TypeScript fixture: the real architecture at toy width.
        "test_tiny": {
            "teacher": {"nf": 8, "gc": 4, "num_blocks": (1, 1, 1, 1), "attn_dim": 8, "heads": 2},
            "student": {
                "nf": 8,
                "gc": 4,
                "num_blocks": (0, 1, 1, 1),
                "hsi_groups": 4,
                "attn_dim": 8,
                "heads": 2,
            },
        },
    }
)


def model_config(
    role: Role, preset: str, hsi_bands: int, msi_bands: int, scale: int = 4, **overrides: Any
) -> FusionNetConfig:
    """Resolve a preset into a FusionNetConfig; `overrides` replace any preset field.

    Raises:
        ValueError: unknown role, preset or field.
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; known: {', '.join(ROLES)}")
    fields = {**PRESETS[preset][role], **overrides}
    known = set(FusionNetConfig.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"Unknown model option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return FusionNetConfig(hsi_bands=hsi_bands, msi_bands=msi_bands, scale=scale, **fields)


def create_model(
    role: Role, preset: str, hsi_bands: int, msi_bands: int, scale: int = 4, **overrides: Any
) -> FusionNet:
    """Build a teacher or student FusionNet from a preset.

    Args:
        role: 'teacher' or 'student'.
        preset: A key of `PRESETS` ('paper', 'cpu_small', 'cpu_tiny', 'test_tiny').
        hsi_bands: B.
        msi_bands: b.
        scale: s.
        **overrides: Any FusionNetConfig field, e.g. `fusion='sum'` or `qk_norm='none'`.

    Raises:
        ValueError: unknown role, preset or option.
    """
    return FusionNet(model_config(role, preset, hsi_bands, msi_bands, scale, **overrides))
