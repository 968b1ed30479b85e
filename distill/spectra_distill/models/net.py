"""`FusionNet`: the one configurable CSAKD network (teacher and student differ only in config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import torch
from torch import nn

from spectra_distill.models.dts import DualTwoStreamBody
from spectra_distill.models.fusion import FUSIONS, GATES, QK_NORMS, Gate, QKNorm, build_fusion
from spectra_distill.models.heads import FusionHead
from spectra_distill.models.layers import mirror_pad, upsample
from spectra_distill.models.physics import (
    Degradation,
    FrameStatistics,
    InputRadiometry,
    MsiDenoise,
    consistency,
    hpm_prior,
    regression_prior,
    wide_taps,
)

PRIORS: tuple[str, ...] = ("bilinear", "hpm", "hpm_regression")


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
        head_hidden: If > 0, the head's first conv maps to this many channels instead of B, and its second
            maps them to B (`FusionHead`).
        hsi_reduce: If > 0, the joint HR stream sees the LR-HSI reduced to this many channels by a 1x1 conv
            before upsampling (`DualTwoStreamBody`).
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
        input_norm: Normalise from the inputs themselves (`physics.InputRadiometry`) instead of fixed or
            training-set statistics: each LR-HSI band by its own mean level, the HR-MSI mapped onto the LR-HSI's
            units through the SRF, the output scaled back. Scaling both inputs by k scales the output by k.
            Not in the paper; the training-set statistics tied the old networks to their training radiometry.
        prior: What the head's detail is added to with `lr_skip`: 'bilinear' (the upsampled LR-HSI) or
            'hpm' (MTF-GLP high-pass modulation computed in the graph with the card's PSF and SRF,
            `physics.hpm_prior`), or 'hpm_regression' (the same with a pan fitted per band at low resolution,
            `physics.regression_prior`; needs input_norm, whose frame statistics carry the fit). Not in the
            paper.
        consistency_steps: Rounds of back-projection onto the two measurements after the head
            (`physics.consistency`); 0 = none. Not in the paper.
        psf_taps: PSF taps per axis of the in-graph degradation (0 = 2 * scale, the Wald default).
        psf_estimate: Measure the blur each frame shows in the statistics graph (the card's PSF, or a
            Gaussian of 0.5-4 px if one explains the pair clearly better, `physics.Degradation.estimate_taps`)
            and use it in the prior and the back-projections. Needs input_norm. Not in the paper; a camera
            whose blur is 0.5 px off the card cost the physics students 4-11 dB, where CNMF re-estimates and
            loses < 0.5 dB.
        srf_estimate: Fit the SRF each frame shows in the statistics graph (`physics.fit_srf`: the card's,
            corrected by a noise-weighted ridge regression at low resolution) and use it in the spectral
            back-projection. Needs input_norm and consistency steps. Not in the paper; a camera whose RGB
            responses are not the card's cost the CAVE student up to 3.6 dB on validation regions.
        shift_estimate: With psf_estimate, also fit a shifted blur per frame (row and column taps of any
            centre, `physics.Degradation.fit_shifted_taps`): an LR-HSI sampled off the middle of each s x s
            block, as `gaussian_filter(hr)[::s, ::s]` makes it or a capture out of register by a fraction of
            an LR pixel. The prior, the pans and the back-projections then blur with it and upsample into the
            HR-MSI's register. Not in the paper; such a pair cost the CAVE student 15 dB against CNMF's 4.
        msi_denoise: Measure the noise of each HR-MSI band in the statistics graph and keep its finest detail
            levels with their Wiener gains (`physics.MsiDenoise`) before anything reads it. Needs input_norm.
            Not in the paper; 30 dB noise on the HR-MSI alone put the CAVE student below CNMF.
        gate_floor: With `gate='softmax'`, every stream keeps at least this weight at every pixel, so no
            stream can be gated off (`fusion._StreamGate`).
        border_pad: LR pixels of mirror padding (`layers.mirror_pad`) put around both inputs, s times as
            many on the HR-MSI, and cropped from the outputs. Not in the paper, whose zero-padded convs
            see a black frame around every image: on the 4-10 LR px wide validation regions of the
            remote-sensing scenes that frame cost a trained student 0.4-3 dB (`results/distill/kd.md`).
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
    head_hidden: int = 0
    hsi_reduce: int = 0
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
    input_norm: bool = False
    prior: str = "bilinear"
    consistency_steps: int = 0
    psf_taps: int = 0
    psf_estimate: bool = False
    srf_estimate: bool = False
    shift_estimate: bool = False
    msi_denoise: bool = False
    gate_floor: float = 0.0

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
        for name in ("border_pad", "head_rank", "head_hidden", "hsi_reduce"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"Unknown fusion {self.fusion!r}; known: {', '.join(FUSIONS)}")
        if self.qk_norm not in QK_NORMS:
            raise ValueError(f"Unknown qk_norm {self.qk_norm!r}; known: {', '.join(QK_NORMS)}")
        if self.gate not in GATES:
            raise ValueError(f"Unknown gate {self.gate!r}; known: {', '.join(GATES)}")
        if self.prior not in PRIORS:
            raise ValueError(f"Unknown prior {self.prior!r}; known: {', '.join(PRIORS)}")
        if self.prior != "bilinear" and not self.lr_skip:
            raise ValueError(f"prior {self.prior!r} is what the detail is added to; it needs lr_skip: true")
        if self.prior == "hpm_regression" and not self.input_norm:
            raise ValueError("prior 'hpm_regression' fits its pans per frame; it needs input_norm: true")
        if self.psf_estimate and not self.input_norm:
            raise ValueError("psf_estimate measures the blur per frame; it needs input_norm: true")
        if self.shift_estimate and not self.psf_estimate:
            raise ValueError(
                "shift_estimate fits a shifted blur in the per-frame PSF search; it needs psf_estimate"
            )
        if self.msi_denoise and not (self.input_norm and int(self.msi_bands) >= 2):
            raise ValueError(
                "msi_denoise measures each HR-MSI band's noise against the other bands per frame; it needs "
                "input_norm: true and msi_bands >= 2"
            )
        if self.srf_estimate and not (self.input_norm and int(self.consistency_steps) > 0):
            raise ValueError(
                "srf_estimate fits the SRF per frame for the back-projections; it needs input_norm: true "
                "and consistency_steps >= 1"
            )
        if self.input_norm and self.standardise:
            raise ValueError("input_norm and standardise are two normalisations; choose one")
        if int(self.consistency_steps) < 0 or int(self.psf_taps) < 0:
            raise ValueError("consistency_steps and psf_taps must be >= 0")
        if not 0.0 <= float(self.gate_floor) < 0.25:
            raise ValueError(f"gate_floor must be in [0, 0.25) (four streams); got {self.gate_floor}")
        if self.gate_floor and self.gate != "softmax":
            raise ValueError("gate_floor needs gate: softmax")

    @property
    def psf_kernel(self) -> int:
        """Taps per axis of the in-graph PSF: `psf_taps`, or the Wald default 2 * scale."""
        return self.psf_taps or 2 * self.scale

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
            config.hsi_reduce,
        )
        self.fusion = build_fusion(
            config.fusion,
            config.nf,
            attn_dim=config.attn_dim,
            heads=config.heads,
            qk_norm=config.qk_norm,
            degenerate=config.degenerate,
            gate=config.gate,
            gate_floor=config.gate_floor,
        )
        self.head = FusionHead(
            config.nf,
            config.hsi_bands,
            config.head_groups,
            config.head_out_groups,
            config.head_rank,
            config.head_hidden,
        )
        for name, bands in zip(STATISTICS, (config.hsi_bands,) * 2 + (config.msi_bands,) * 2, strict=True):
            self.register_buffer(name, torch.full((bands,), 0.5))
        self.physics = (
            Degradation(config.hsi_bands, config.msi_bands, config.scale, config.psf_kernel)
            if self.uses_physics
            else None
        )
        self.radiometry = InputRadiometry(self.physics) if config.input_norm and self.physics else None
        self.msi_denoise = MsiDenoise() if config.msi_denoise else None

    @property
    def uses_physics(self) -> bool:
        """Whether the graph holds the sensor model (SRF, PSF), to be set with `set_degradation`."""
        c = self.config
        return c.input_norm or c.prior != "bilinear" or c.consistency_steps > 0

    def set_degradation(self, srf: torch.Tensor, psf_taps: torch.Tensor) -> None:
        """Install the card's SRF matrix (b, B) and PSF taps (k,) for the in-graph physics.

        Raises:
            ValueError: this network has no physics, or the shapes do not match its config.
        """
        if self.physics is None:
            raise ValueError("this network uses no in-graph physics (input_norm, prior, consistency_steps)")
        self.physics.set(srf, psf_taps)

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

    def with_physics(
        self,
        prior: str | None = None,
        psf_estimate: bool | None = None,
        srf_estimate: bool | None = None,
        shift_estimate: bool | None = None,
        msi_denoise: bool | None = None,
    ) -> FusionNet:
        """The same network (weights and buffers copied) with another in-graph prior, PSF or SRF rule.

        Neither holds weights, so the network's learnt part is kept as it is; what it adds on top of the new
        physics is then worth re-measuring (`evaluate.calibration`).

        Raises:
            ValueError: an unknown prior, or an option this network's others cannot carry.
        """
        changes: dict[str, Any] = {}
        if prior is not None:
            changes["prior"] = prior
        if psf_estimate is not None:
            changes["psf_estimate"] = psf_estimate
        if srf_estimate is not None:
            changes["srf_estimate"] = srf_estimate
        if shift_estimate is not None:
            changes["shift_estimate"] = shift_estimate
        if msi_denoise is not None:
            changes["msi_denoise"] = msi_denoise
        other = FusionNet(replace(self.config, **changes))
        other.load_state_dict(self.state_dict())
        return other.train(self.training)

    @property
    def frame_statistics_length(self) -> int:
        """Length of the graph's `frame_stats` input (`physics.FrameStatistics`); 0 when it takes none."""
        c = self.config
        if self.radiometry is None:
            return 0
        return sum(
            FrameStatistics.sizes(
                c.hsi_bands,
                c.msi_bands,
                self._regression,
                self._estimated_taps,
                c.srf_estimate,
                c.msi_denoise,
            )
        )

    @property
    def _regression(self) -> bool:
        return self.config.prior == "hpm_regression"

    @property
    def _estimated_taps(self) -> int:
        """Taps the frame statistics carry: the PSF's kernel size if it is estimated per frame, twice the wide
        window (row and column taps) if a shifted blur is, else 0."""
        # from the config, not the buffer: under ONNX tracing a tensor's numel is itself traced
        c = self.config
        if not c.psf_estimate:
            return 0
        return 2 * wide_taps(c.psf_kernel, c.scale) if c.shift_estimate else c.psf_kernel

    def frame_blur(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> torch.Tensor | None:
        """(N, 2, wide) the row and column taps the statistics graph chooses for these inputs, when it
        searches for a shifted blur (`shift_estimate`; the SDK's `fittedBlur`), else None."""
        stats = self._statistics(lrhsi, hrmsi, None) if self.config.shift_estimate else None
        return None if stats is None else stats.psf_taps

    def frame_statistics(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> torch.Tensor:
        """The packed whole-frame statistics (N, S) of these inputs, for `forward(..., frame_stats)`.

        Raises:
            ValueError: this network measures nothing per image (`input_norm` off).
        """
        if self.radiometry is None:
            raise ValueError("this network has no per-image statistics (input_norm is off)")
        return FrameStatistics.measure(self.radiometry, lrhsi, hrmsi, *self._measured).pack()

    def _statistics(
        self, lrhsi: torch.Tensor, hrmsi: torch.Tensor, frame_stats: torch.Tensor | None
    ) -> FrameStatistics | None:
        if self.radiometry is None:
            return None
        if frame_stats is None:
            return FrameStatistics.measure(self.radiometry, lrhsi, hrmsi, *self._measured)
        c = self.config
        return FrameStatistics.unpack(
            frame_stats,
            c.hsi_bands,
            c.msi_bands,
            self._regression,
            self._estimated_taps,
            c.srf_estimate,
            c.shift_estimate,
            c.msi_denoise,
        )

    @property
    def _measured(self) -> tuple[bool, bool, bool, bool, MsiDenoise | None]:
        """`FrameStatistics.measure`'s options: regression pans, the frame's PSF, SRF and blur shift, and the
        HR-MSI's detail gains."""
        c = self.config
        return self._regression, c.psf_estimate, c.srf_estimate, c.shift_estimate, self.msi_denoise

    def normalise(
        self, lrhsi: torch.Tensor, hrmsi: torch.Tensor, stats: FrameStatistics | None = None
    ) -> tuple[torch.Tensor, ...]:
        """(network LR-HSI, network HR-MSI, HR-MSI in the LR-HSI's units, output scale (N|1, B, 1, 1)).

        `stats` are the frame's (a tile's own are measured when it is None).
        """
        pb = self._per_band
        if self.radiometry is None:
            return (
                (lrhsi - pb(self.hsi_mean)) / pb(self.hsi_std),
                (hrmsi - pb(self.msi_mean)) / pb(self.msi_std),
                hrmsi,
                pb(self.hsi_std),
            )
        if stats is None:
            stats = FrameStatistics.measure(self.radiometry, lrhsi, hrmsi, self._regression)
        msi = hrmsi * stats.msi_gain
        return lrhsi / stats.hsi_scale - 1.0, msi / stats.msi_scale - 1.0, msi, stats.hsi_scale

    def forward_features(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> torch.Tensor:
        """Fused features (N, nf, H, W) from normalised inputs (`normalise`)."""
        streams = self.body(lrhsi, hrmsi)
        return self.fusion(streams.hsi, streams.msi, streams.joint_lr, streams.joint_hr)

    def forward_head(
        self,
        features: torch.Tensor,
        lrhsi: torch.Tensor,
        hrmsi: torch.Tensor,
        out_scale: torch.Tensor,
        stats: FrameStatistics | None = None,
    ) -> torch.Tensor:
        """HR-HSI (N, B, H, W) in physical units from fused features and the physical-unit inputs.

        `features` carry the mirror frame (`border_pad`), cropped around the head (`FusionHead.reach`); the
        prior and the consistency steps work on the unframed inputs, since a mirrored frame is not what the
        sensor saw.
        `hrmsi` is in the LR-HSI's units and `out_scale` the per-band output scale, both from `normalise`;
        `stats` the frame's statistics, if any (the HPM prior's offset and band assignment).
        """
        c = self.config
        pad = c.border_pad * c.scale
        # the head sees only `reach` px of the frame: the rest is cropped before its B-channel convs
        keep = min(pad, self.head.reach)
        if pad > keep:
            features = features[..., pad - keep : keep - pad, pad - keep : keep - pad]
        detail = self.head(features)
        if keep:
            detail = detail[..., keep:-keep, keep:-keep]
        detail = detail * out_scale
        taps = None if stats is None else stats.psf_taps
        if not c.lr_skip:
            cube = detail + self._per_band(self.hsi_mean)
        elif c.prior == "hpm":
            offset, assign = (None, None) if stats is None else (stats.hpm_offset, stats.assign)
            cube = hpm_prior(self.physics, lrhsi, hrmsi, offset, assign, taps) + detail
        elif c.prior == "hpm_regression":
            # input_norm is required, so forward always has the frame's statistics
            assert stats is not None and stats.pan_bias is not None
            pans = (stats.assign, stats.pan_bias, stats.pan_offset())
            cube = regression_prior(self.physics, lrhsi, hrmsi, *pans, taps, stats.msi_noise) + detail
        else:
            cube = upsample(lrhsi, c.scale, "bilinear") + detail
        if c.consistency_steps:
            srf, noise = (None, None) if stats is None else (stats.srf, stats.msi_noise)
            cube = consistency(self.physics, cube, lrhsi, hrmsi, c.consistency_steps, taps, srf, noise)
        return cube

    def forward(
        self, lrhsi: torch.Tensor, hrmsi: torch.Tensor, frame_stats: torch.Tensor | None = None
    ) -> FusionOutput:
        """Fuse; `frame_stats` (N, S) from `frame_statistics` on the whole frame when these are tiles of it."""
        border = self.config.border_pad
        pad = border * self.config.scale
        stats = self._statistics(lrhsi, hrmsi, frame_stats)
        if stats is not None and stats.msi_shrink is not None:
            assert self.msi_denoise is not None
            hrmsi = self.msi_denoise.shrink(hrmsi, stats.msi_shrink)
        net_lr, net_msi, msi, out_scale = self.normalise(lrhsi, hrmsi, stats)
        features = self.forward_features(mirror_pad(net_lr, border), mirror_pad(net_msi, pad))
        cube = self.forward_head(features, lrhsi, msi, out_scale, stats)
        if pad:
            features = features[..., pad:-pad, pad:-pad]
        return FusionOutput(cube=cube, features=features)
