"""`FusionNet`: the one configurable CSAKD network (teacher and student differ only in config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from spectra_distill.models.dts import DualTwoStreamBody
from spectra_distill.models.fusion import FUSIONS, GATES, QK_NORMS, Gate, QKNorm, build_fusion
from spectra_distill.models.heads import FusionHead
from spectra_distill.models.layers import mirror_pad


@dataclass(frozen=True)
class FusionNetConfig:
    """Everything that defines a FusionNet's architecture.

    Attributes:
        hsi_bands: B, bands of the LR-HSI and of the output.
        msi_bands: b, bands of the HR-MSI.
        scale: s, HR size = s * LR size.
        nf: Feature channels of the streams and the fused features.
        gc: Growth channels of the CLRA dense convs.
        num_blocks: CLRA blocks per stream as (joint_hr, joint_lr, msi, hsi); 0 = entry conv only.
        hsi_groups: Conv groups in the HSI stream's blocks.
        head_groups: Groups of the head's first conv.
        head_out_groups: Groups of the head's second (B -> B) conv. At hundreds of bands that conv holds
            9 * B^2 weights in teacher and student alike; grouping it is how a small student stays small.
        head_rank: If > 0, the head's B -> B conv factorised through this many channels (`FusionHead`).
        standardise: Normalise inputs per band with training-data statistics (`set_input_statistics`)
            instead of the paper's fixed (x - 0.5) * 2, and scale the head's output by the band's spread.
            Not in the paper, which stretches every image to 0..1 with its own min and max (a device never
            knows them). Dim reflectance data (remote sensing: mean 0.15, detail of 0.02) otherwise reaches
            the network as tiny signals riding on large offsets; on 206-band data a network then learns no
            detail injection at all in a few thousand steps, and with it does (options/README.md).
        lr_skip: Predict the residual over the bilinearly upsampled LR-HSI instead of the whole cube.
            Not in the paper (its head must learn the identity from scratch); with it a network starts at
            bilinear quality and learns only the detail the HR-MSI adds, which converges in far fewer steps.
        fusion: Registered fusion name (see `spectra_distill.models.fusion.FUSIONS`).
        attn_dim: Q/K/V channels of the attention fusions.
        heads: Attention heads.
        qk_norm: 'l2' (cosine with learned temperature) or 'none' (paper's scaled dot product).
        degenerate: Reproduce the authors' no-op attention (ablation).
        gate: How the fusion weighs its four streams: 'sigmoid' (the paper's, one independent gate per
            stream) or 'softmax' (the gates sum to one, so the fused features never vanish). Not in the
            paper; see `spectra_distill.models.fusion._StreamGate` for the failure it prevents.
        res_scale: Residual scaling in the CLRA blocks.
        border_pad: LR pixels of mirror padding (`layers.mirror_pad`) put around both inputs, s times as
            many on the HR-MSI, and cropped from the outputs. Not in the paper, whose zero-padded convs
            see a black frame around every image: on the 4-10 LR px wide validation regions of the
            remote-sensing scenes that frame cost a trained student 0.4-3 dB (`distill/results/kd.md`).
    """

    hsi_bands: int
    msi_bands: int
    scale: int = 4
    nf: int = 64
    gc: int = 32
    num_blocks: tuple[int, int, int, int] = (1, 1, 1, 1)
    hsi_groups: int = 1
    head_groups: int = 1
    head_out_groups: int = 1
    head_rank: int = 0
    lr_skip: bool = False
    standardise: bool = False
    fusion: str = "csa"
    attn_dim: int = 64
    heads: int = 4
    qk_norm: QKNorm = "l2"
    degenerate: bool = False
    gate: Gate = "sigmoid"
    res_scale: float = 0.2
    border_pad: int = 0

    def __post_init__(self) -> None:
        # Configs come back from JSON/YAML/checkpoints with lists where tuples are expected.
        object.__setattr__(self, "num_blocks", tuple(int(n) for n in self.num_blocks))
        if len(self.num_blocks) != 4 or min(self.num_blocks) < 0:
            raise ValueError(
                f"num_blocks must be four counts >= 0 (joint_hr, joint_lr, msi, hsi); got {self.num_blocks}"
            )
        for name in (
            "hsi_bands",
            "msi_bands",
            "scale",
            "nf",
            "gc",
            "hsi_groups",
            "head_groups",
            "head_out_groups",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if int(self.border_pad) < 0:
            raise ValueError(f"border_pad must be >= 0; got {self.border_pad}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"Unknown fusion {self.fusion!r}; known: {', '.join(FUSIONS)}")
        if self.qk_norm not in QK_NORMS:
            raise ValueError(f"Unknown qk_norm {self.qk_norm!r}; known: {', '.join(QK_NORMS)}")
        if self.gate not in GATES:
            raise ValueError(f"Unknown gate {self.gate!r}; known: {', '.join(GATES)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (num_blocks as a list) for checkpoints and JSON."""
        d = asdict(self)
        d["num_blocks"] = list(self.num_blocks)
        return d


STATISTICS = ("hsi_mean", "hsi_std", "msi_mean", "msi_std")


class InputStatistics(NamedTuple):
    """Per-band normalisation constants in physical units: HSI (B,) and MSI (b,)."""

    hsi_mean: torch.Tensor
    hsi_std: torch.Tensor
    msi_mean: torch.Tensor
    msi_std: torch.Tensor


class FusionOutput(NamedTuple):
    """What FusionNet returns.

    Attributes:
        cube: HR-HSI (N, B, H, W) in physical units (nominally 0..1).
        features: Fused features (N, nf, H, W), the target of feature distillation.
    """

    cube: torch.Tensor
    features: torch.Tensor


class FusionNet(nn.Module):
    """CSAKD fusion network: DTS body, stream fusion, reconstruction head.

    The input and output are in physical units 0..1. Inside the graph each band is mapped with
    (x - mean) / std, and the head's output y back with y * std + mean (or added as y * std to the bilinear
    LR-HSI with `lr_skip`). The statistics are buffers: 0.5 and 0.5 by default, which is the paper's
    (x - 0.5) * 2; with `standardise` the trainer sets them from the training regions. An exported model
    therefore needs no per-image statistics.

    Args:
        config: The architecture.

    Shape:
        lrhsi (N, B, h, w) and hrmsi (N, b, s*h, s*w), float32 0..1
        -> FusionOutput(cube (N, B, s*h, s*w) 0..1, features (N, nf, s*h, s*w))
    """

    def __init__(self, config: FusionNetConfig) -> None:
        super().__init__()
        self.config = config
        self.body = DualTwoStreamBody(
            config.hsi_bands,
            config.msi_bands,
            config.scale,
            config.nf,
            config.gc,
            config.num_blocks,
            config.hsi_groups,
            config.res_scale,
        )
        self.fusion = build_fusion(
            config.fusion,
            config.nf,
            attn_dim=config.attn_dim,
            heads=config.heads,
            qk_norm=config.qk_norm,
            degenerate=config.degenerate,
            gate=config.gate,
        )
        self.head = FusionHead(
            config.nf, config.hsi_bands, config.head_groups, config.head_out_groups, config.head_rank
        )
        for name, bands in zip(STATISTICS, (config.hsi_bands,) * 2 + (config.msi_bands,) * 2, strict=True):
            self.register_buffer(name, torch.full((bands,), 0.5))

    def set_input_statistics(self, stats: InputStatistics) -> None:
        """Per-band normalisation constants (physical units); they travel in checkpoints and the ONNX graph.

        Raises:
            ValueError: wrong lengths, or a std that is not finite and > 0.
        """
        for name, value in zip(STATISTICS, stats, strict=True):
            value = torch.as_tensor(value, dtype=torch.float32)
            buffer: torch.Tensor = getattr(self, name)
            if value.shape != buffer.shape:
                raise ValueError(f"{name}: expected shape {tuple(buffer.shape)}; got {tuple(value.shape)}")
            if not torch.isfinite(value).all() or (name.endswith("std") and not (value > 0).all()):
                raise ValueError(f"{name} must be finite (and > 0 for a std)")
            buffer.copy_(value)

    def input_statistics(self) -> InputStatistics:
        """The normalisation constants in use (copies)."""
        return InputStatistics(*(getattr(self, n).detach().clone() for n in STATISTICS))

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # checkpoints written before the statistics were buffers were trained with the fixed 0.5 / 0.5
        for name in STATISTICS:
            state_dict.setdefault(prefix + name, torch.full_like(getattr(self, name), 0.5))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def _per_band(v: torch.Tensor) -> torch.Tensor:
        return v.view(1, -1, 1, 1)

    def forward_features(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> torch.Tensor:
        """Fused features (N, nf, H, W) from physical-unit inputs."""
        pb = self._per_band
        streams = self.body(
            (lrhsi - pb(self.hsi_mean)) / pb(self.hsi_std), (hrmsi - pb(self.msi_mean)) / pb(self.msi_std)
        )
        return self.fusion(streams.hsi, streams.msi, streams.joint_lr, streams.joint_hr)

    def forward_head(self, features: torch.Tensor, lrhsi: torch.Tensor) -> torch.Tensor:
        """HR-HSI (N, B, H, W) in physical units from fused features (and the LR-HSI for `lr_skip`)."""
        detail = self.head(features) * self._per_band(self.hsi_std)
        if not self.config.lr_skip:
            return detail + self._per_band(self.hsi_mean)
        base = F.interpolate(lrhsi, scale_factor=self.config.scale, mode="bilinear", align_corners=False)
        return base + detail

    def forward(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> FusionOutput:
        pad = self.config.border_pad * self.config.scale
        lrhsi = mirror_pad(lrhsi, self.config.border_pad)
        hrmsi = mirror_pad(hrmsi, pad)
        features = self.forward_features(lrhsi, hrmsi)
        cube = self.forward_head(features, lrhsi)
        if pad:
            features, cube = features[..., pad:-pad, pad:-pad], cube[..., pad:-pad, pad:-pad]
        return FusionOutput(cube=cube, features=features)
