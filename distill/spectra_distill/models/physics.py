"""The known imaging model inside the network: radiometry from the inputs, an HPM prior, data consistency.

The pieces, shared by teacher and student (`FusionNetConfig.input_norm`, `prior`, `psf_estimate`,
`consistency_steps`):

- `InputRadiometry`: per-band scales measured on the LR-HSI itself and an MSI gain that maps the HR-MSI onto
  the LR-HSI's units through the SRF. Every statistic is homogeneous of degree one in the inputs, so the
  network's normalised inputs do not change when both inputs are multiplied by k, and its output is
  multiplied by k: radiance, DN and reflectance are one problem. Training-set statistics froze the old
  networks to their training radiometry (a Hyperion scene in radiance sat 5-13 sigma outside them).
- `hpm_prior`: MTF-GLP high-pass modulation in the graph, the classical method that led on unseen scenes. Each
  HSI band is sharpened by the MSI band its SRF puts it in; a band outside every SRF takes the MSI band it
  correlates with best at low resolution (measured per image, as `baselines.common.assign_bands` does).
- `regression_prior`: the same modulation by a pan made for each HSI band, the linear combination of the MSI
  bands (plus an offset) that best predicts that band at low resolution (`regression_pan`, measured per
  image). One MSI band is a poor pan for a SWIR band, or for a band that two MSI bands share; on the trained
  scenes' train and validation regions (the network's detail at zero, no test scene read) it scored 2.2 dB
  (206 bands) and 4.8 dB (CAVE grid) above the assigned band (`options/README.md`).
- `Degradation.estimate_taps` (`psf_estimate`): the blur the frame shows, the card's PSF unless a Gaussian of
  0.5-4 px explains the pair clearly better; the prior, the pans and the back-projections then blur with it,
  so a Gaussian blur 0.5 px off the card costs < 0.2 dB (it had cost the students 4-11 dB).
- `Degradation.fit_shifted_taps` (`shift_estimate`): that blur moved off the middle of each s x s block and
  refitted over `kernel_size + scale` taps per axis, negative taps allowed, when it explains the frame's
  interior clearly better: an LR-HSI made as `gaussian_filter(hr)[::s, ::s]`, captured out of register by a
  fraction of an LR pixel, or resized by an image library (antialiased bicubic) put the students up to 15 dB
  behind CNMF. The upsampling then moves each LR image by its blur's centroid, into the HR-MSI's register.
  With `srf_estimate` each candidate blur is judged with its own fitted response (`ResponseFit`), so another
  camera's response is not read as a shifted blur.
- `fit_srf` (`srf_estimate`): the spectral response the frame shows, the card's SRF corrected by a ridge
  regression of the LR-MSI on the LR-HSI, the ridge growing with each band's noise; the spectral
  back-projection then uses it. A camera whose RGB responses are not the card's Nikon D700 ones (the 27 other
  cameras of `srf/camspec_28cameras_srf.csv`) cost the CAVE student up to 3.6 dB on the validation regions,
  and an SRF 8 nm off the card 0.9-1.7 dB; the fit recovers nearly all of it (`options/README.md`).
- `MsiDenoise` (`msi_denoise`): the HR-MSI's noise, measured band by band across bands, and its detail levels
  kept at their Wiener gains before anything reads it: 30 dB noise on the HR-MSI alone reaches the output
  through the prior and the spectral back-projection, inside the signal subspace, and put the CAVE student
  below CNMF (`results/distill/calibration/msi-denoise/`). The noise the shrunk HR-MSI still carries
  sets a local gain on the spectral back-projection's residual (`backprojection_gain`): a misfit is kept,
  noise is dropped (`results/distill/calibration/backprojection-gain/`).
- `FrameStatistics`: everything above that is measured over the whole image (radiometry, HPM offset, band
  assignment or pans, the PSF), packed into one vector. The graph computes it from its own inputs when it is
  not given one; a tiled run measures it once on the whole frame (the exported statistics graph) and hands it
  to every tile, so tiles fuse exactly as the whole image does.
- `consistency`: alternating back-projections onto the two measurement constraints, R x = MSI (minimum-norm
  correction through the SRF's pseudo-inverse) and blur+decimate(x) = LR-HSI (residual upsampled and added).
  One such step on the old student's output gained 3.2 dB on an unseen CAVE scene; the network is trained
  through them, so it learns only what the measurements leave undetermined.

All of it is built from Conv, Pad, Transpose, Slice, ReduceMean, ReduceMin, CumSum, MatMul and elementwise
ops (no Einsum, which the SDK's quantizer does not convert; no Resize, which onnxruntime runs slowly,
`layers.upsample`), so it exports to ONNX with dynamic H and W.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spectra_distill.degrade.psf import GaussianPSF
from spectra_distill.models.layers import upsample

HPM_OFFSET = 0.01
"""HPM ratio offset relative to the MSI band's mean (as `baselines.methods`): keeps dark pixels stable."""
PAN_RIDGE = 1e-3
"""Ridge of `regression_pan`'s normal equations, relative to their mean diagonal: visible MSI bands are nearly
collinear, and the weights must stay finite on a flat or one-colour frame."""
SCALE_FLOOR = 1e-3
"""A band's scale is at least this share of the mean band scale: empty or masked bands stay finite."""
MSI_GAIN_FLOOR = 1e-6
"""The same for an MSI band's level: its gain may differ from its neighbours' by up to 10^6."""
HPM_RATIO_CAP = 6.0
"""Upper bound of `regression_prior`'s modulation ratio. Where a band is dark at low resolution (NIR over
water) its pan's low-pass is near zero and the ratio reached 97 on an unseen scene; the back-projections then
spread the overshoot as negative reflectance into the neighbouring pixels. Chosen on the validation regions of
both grids among none, 16, 8, 6 and 4 (options/README.md)."""
PSF_SIGMAS = tuple(round(0.5 + 0.1 * i, 1) for i in range(36))
"""Gaussian widths (HR px) the statistics graph tries against the card's PSF (`Degradation.estimate_taps`):
the SDK's coarse search range (`estimatePsfSigma`), 0.5 to 4 px."""
PSF_SWITCH_MARGIN = 0.1
"""A Gaussian replaces the card's PSF only if it explains the pair with a misfit this much (relative) smaller:
noise and misregistration move the misfit curve a little, and a camera described right keeps its card. The
free taps (`Degradation.fit_taps`) must in turn beat the best of those by the same margin."""
PSF_MISFIT_FLOOR = 1e-3
"""Misfit (relative to the target's contrast) below which a PSF candidate fits a pair perfectly: on a
noise-free pair the card's PSF and taps fitted to it both sit at the float32 rounding of the residual (about
3e-4), and rounding, which differs between PyTorch and onnxruntime, must not choose between them. Added to
every candidate's misfit before the switch margin applies."""
SRF_FIT_RIDGE = 1e-4
"""Ridge of `fit_srf`'s normal equations toward the card's SRF, relative to their mean diagonal."""
SRF_NOISE_RIDGE = 100.0
"""`fit_srf` adds each band's noise energy times this to its ridge: with a noisy LR-HSI an unconstrained fit
spreads the MSI bands' weights over more bands to average the noise out, a response no camera has (it cost
a validation region 2.9 dB at 30 dB SNR). Chosen on the validation regions of both grids among 0, 10, 100 and
1000 (`options/README.md`)."""
SRF_FIT_REACH = 2
"""`fit_srf` fits the bands the card's SRF weighs and this many on either side (20 nm on a 10 nm grid, room
for a response shifted by up to that): the others (SWIR under a visible/NIR MSI) stay at zero weight, and a
206-band grid under Sentinel-2's visible and NIR bands solves a system of 46 bands instead of 206."""
SRF_FIT_FLOOR = 1e-6
"""Ridge, relative to the mean diagonal, of the inverse that measures each band's noise in `fit_srf`."""
SHIFT_FIT_ROUNDS = 2
"""Alternations of `Degradation.fit_shifted_taps` (row taps with the columns' fixed, then the columns'): from
the card's taps two rounds reach the fit of a Gaussian shifted by up to s/2 px to within float rounding."""
PSF_FIT_RIDGE = 1e-6
"""Ridge of `Degradation.fit_taps`'s normal equations, relative to their mean diagonal: neighbouring taps see
nearly the same image on a smooth frame, and the float32 solve must stay finite on a flat one."""


SHIFTS_PX = tuple(0.25 * i for i in range(-8, 9))
"""Shifts of the blur `Degradation.fit_shifted_taps` tries, HR px at scale 4 (s/4 times these at scale s): up
to half an LR pixel either way in quarter-pixel steps, which covers every `[k::s]` sampling of a blurred image
(k - (s - 1)/2 px off the block's middle)."""
SHIFT_REFINE_RIDGE: float | None = 1e-2
"""After the search, `Degradation.fit_shifted_taps` fits each axis's taps by least squares with a ridge this
large (relative to the normal equations' mean diagonal) toward the moved taps: a pair simulated with an
untruncated Gaussian has tails the card's truncated taps lack, and a camera's blur need not be the card's
shape. None: the moved taps as they are."""
SHIFT_WINDOW_SCALES = 1
"""The shifted blur's taps span the card's kernel plus this many times the scale (`wide_taps`)."""
SHIFT_SIGNED = True
"""The least-squares refit of a shifted blur keeps negative taps: an LR-HSI made by an antialiased bicubic
resize (`imresize`, `interpolate(..., antialias=True)`) shows a blur with negative lobes. Cutting them cost
5.1 / 2.0 dB on such validation pairs and changed nothing else
(`results/distill/calibration/shift-estimate/`)."""
SHIFT_RESPONSE = "fitted"
"""What `Degradation.estimate_taps` (with `srf_estimate`) scores a shifted blur through. "card": the LR-HSI
projected through the card's SRF; another camera's response then reads in part as a shifted blur (Point Grey's
validation regions lost 0.86 dB to it). "fitted": each candidate with the response that explains it best
(`ResponseFit`), so blur and response are judged together; the least-squares refit of the taps still targets
the card's projection (`results/distill/calibration/shift-response/`)."""
MSI_DETAIL_SIGMAS = (1.0, 2.0)
"""Gaussian widths (HR px) that split the HR-MSI into detail levels for `MsiDenoise`: x - G1 x, G1 x - G2 x,
and the rest G2 x, which is kept as it is."""
MSI_NOISE_COMMON = True
"""`MsiDenoise` gives every band the smallest of the bands' noise estimates. A band the others predict poorly
(NIR under visible bands) reads its own texture as noise: on a clean 206-band validation region NIR's estimate
cost 1.9 dB, while one sensor's bands carry noise of one magnitude
(`results/distill/calibration/msi-denoise/`)."""
MSI_NOISE_BLOCK = 8
"""HR px per side of the blocks whose residual energies `MsiDenoise` averages geometrically (module text)."""
BACKPROJECTION_GAIN = True
"""The spectral back-projection keeps each HR-MSI band's residual at its local Wiener gain
(`backprojection_gain`). False keeps it whole (the statistics keep their layout): the comparison of
`results/distill/calibration/backprojection-gain/`."""
BACKPROJECTION_WINDOW = 2.0
"""Gaussian width (HR px) of the window over which `backprojection_gain` measures the residual's energy."""
PAN_DETAIL_GAIN = True
"""Keep each regression pan's detail in the prior at its local Wiener gain for the noise the pan carries
(`pan_detail_gain`; measured over the same window). False keeps it whole: the comparison of
`results/distill/calibration/pan-detail-gain/`."""
DEGRADE_BLOCK = 8
"""LR rows per block of a blur with each frame's own taps (`_decimate_rows`). On 206 bands, one thread, 8 was
the fastest of 8, 16 and 32 on 88-640 px frames or within 5 % of it (16 computes 32 rows for a 22-row frame)
(`scripts/bench/graph_ops.py`, `results/bench/graph-ops.json`)."""
LR_SHIFT_REACH = 2
"""LR pixels on either side that `Degradation.upsample` interpolates from when the frame's blur is shifted:
cubic weights for a shift of up to half an LR pixel (`SHIFTS_PX`' range; a refit whose centroid lies further
out is moved half a pixel). Five taps per axis instead of seven: the move runs on every band."""


def _cubic_weights(x: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    """The cubic convolution kernel of `layers.upsample` (PyTorch's bicubic, a = -0.75), elementwise."""
    x = x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return torch.where(x <= 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def wide_taps(kernel: int, scale: int) -> int:
    """Taps per axis of a shifted blur (`Degradation.fit_shifted_taps`) for the card's kernel and scale."""
    return kernel + SHIFT_WINDOW_SCALES * scale


def _misfits(blurred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N, M): squared misfit of `target` (N, b, h, w) regressed band by band (gain and offset) on each of M
    candidate blurs (N, b, M, h*w), summed over the bands, plus `PSF_MISFIT_FLOOR` of the target's
    contrast."""
    n, b = target.shape[:2]
    y = target.reshape(n, b, 1, -1)
    xc = blurred - blurred.mean(dim=-1, keepdim=True)
    yc = y - y.mean(dim=-1, keepdim=True)
    cxy = (xc * yc).sum(-1)
    vy = (yc * yc).sum(-1)
    residual = (vy - cxy * cxy / ((xc * xc).sum(-1) + 1e-30)).clamp(min=0).sum(1)
    return residual + PSF_MISFIT_FLOOR**2 * vy.sum(1)


class ResponseFit:
    """Misfits of candidate blurs of the HR-MSI when the frame's spectral response is fitted with each.

    Each candidate's LR-MSI band regressed, with an offset, on the LR-HSI bands `fit_srf` fits, with its
    ridge toward the card's row, over the whole frame (the interior alone can hold fewer pixels than bands:
    fitted there, the search lost 4.5 dB on a validation region of 18 x 6 LR px);
    the misfit is the band's unexplained share on the frame's interior, weighted by the contrast of the card's
    projection of that band there (as `_misfits` weighs it). Fitting the response with each candidate keeps
    another camera's response from reading as a shifted blur: one response explains every candidate equally
    well unless the blur moves. Float64, one inverse per frame.

    Shape:
        lrhsi (N, B, h, w), target (N, b, h, w): the LR-HSI through the card's SRF
    """

    def __init__(self, degradation: Degradation, lrhsi: torch.Tensor, target: torch.Tensor) -> None:
        self.degradation = degradation
        bands = list(degradation.fit_bands)
        y = lrhsi[:, bands].flatten(2).double()
        self.y = y - y.mean(dim=-1, keepdim=True)  # (N, B', h*w)
        gram = self.y @ self.y.transpose(1, 2)
        self.ridge, unit = srf_ridge(gram)
        self.inverse = spd_inverse_solve(gram + self.ridge * unit, unit.expand_as(gram))
        self.card = degradation.srf.double()[:, bands]  # (b, B')
        inner = degradation.interior(target).flatten(2).double()
        inner = inner - inner.mean(dim=-1, keepdim=True)
        self.weight = (inner * inner).sum(-1)  # (N, b)

    def _share(self, candidates: torch.Tensor) -> torch.Tensor:
        """(N, b, M): the unexplained share on the interior of candidates (N, b, M, h, w)."""
        n, b, m, h, w = candidates.shape
        x = candidates.double().reshape(n, b * m, h * w)
        x = x - x.mean(dim=-1, keepdim=True)
        prior = self.card[:, None, :].expand(b, m, -1).reshape(1, b * m, -1) * self.ridge.transpose(1, 2)
        r = (x @ self.y.transpose(1, 2) + prior) @ self.inverse  # the inverse is symmetric
        inner = self.degradation.interior
        residual = inner((x - r @ self.y).reshape(n, b * m, h, w)).flatten(2)
        total = (inner(x.reshape(n, b * m, h, w)).flatten(2) ** 2).sum(-1)
        share = (residual**2).sum(-1) / total.clamp(min=1e-30)
        return share.reshape(n, b, m)

    def misfits(self, candidates: torch.Tensor) -> torch.Tensor:
        """(N, M), as `_misfits`: candidates (N, b, M, h, w) over the whole frame."""
        share = self._share(candidates)
        floor = PSF_MISFIT_FLOOR**2 * self.weight.sum(1, keepdim=True)
        return ((self.weight[:, :, None] * share).sum(1) + floor).float()


def _decimate_rows(x: torch.Tensor, taps: torch.Tensor, pad: int, scale: int) -> torch.Tensor:
    """Each image's rows blurred with its own taps and decimated by `scale`, in a reflect frame of `pad` rows
    (a crop if negative), as `Degradation.degrade`.

    The output rows are cut into blocks of up to `DEGRADE_BLOCK`; each block's window of framed rows is
    gathered once (the frame folded into the gather) and weighed by one small dense matrix per image: a
    batched MatMul. A conv gathering the taps' shifts as channels (the formulation this replaced) is slower at
    every frame size, and a dense matrix over the whole frame, the fastest on small frames, grows with the
    frame (`scripts/bench/graph_ops.py`, `results/bench/graph-ops.json`).

    Shape:
        x (N, C, H, W), taps (N, k) -> (N, C, (H + 2 pad - k) // scale + 1, W)
    """
    n, c, h, w = x.shape
    k = taps.shape[-1]
    out = (h + 2 * pad - k) // scale + 1
    if torch.jit.is_tracing():
        # tensors, so the exported graph sizes its blocks by each frame (min would freeze the traced size)
        out = torch.as_tensor(out)
        rows = out.clamp(max=DEGRADE_BLOCK)
    else:
        rows = min(out, DEGRADE_BLOCK)
    blocks = (out + rows - 1) // rows
    window = scale * rows + (k - scale)
    starts = scale * rows * torch.arange(blocks, device=x.device)
    framed = starts[:, None] + torch.arange(window, device=x.device)
    source = (framed - pad).abs()
    # rows past the frame (the last block's tail) meet zero taps only
    source = torch.where(source > h - 1, 2 * (h - 1) - source, source).clamp(0, h - 1)
    windows = x.index_select(2, source.flatten()).reshape(n, c, blocks, window, w)
    offsets = torch.arange(window, device=x.device) - scale * torch.arange(rows, device=x.device)[:, None]
    weights = taps[:, offsets.clamp(0, k - 1)] * ((offsets >= 0) & (offsets < k))  # (N, rows, window)
    return (weights[:, None, None] @ windows).reshape(n, c, blocks * rows, w)[:, :, :out]


def _first_min(residual: torch.Tensor) -> torch.Tensor:
    """(N, M) one-hot of each row's smallest entry, the first of equals (traceable: no argmin's int64)."""
    best = (residual <= residual.min(dim=1, keepdim=True).values).float()
    return best * (best.cumsum(dim=1) == 1).float()


def _mean_hw(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(-2, -1), keepdim=True)


class Degradation(nn.Module):
    """The card's sensor model as buffers: SRF (b, B), its pseudo-inverse, and the separable PSF taps.

    Args:
        hsi_bands: B.
        msi_bands: b.
        scale: s.
        psf_taps: Gaussian taps per axis (the card's `psf.kernel_size`).

    Set the real values with `set` (the trainer does, from the training data's card); they travel in
    checkpoints and in the exported graph.
    """

    def __init__(self, hsi_bands: int, msi_bands: int, scale: int, psf_taps: int) -> None:
        super().__init__()
        self.scale = scale
        self.kernel_size = psf_taps
        self.pad = (psf_taps - scale) // 2
        self.register_buffer("srf", torch.full((msi_bands, hsi_bands), 1.0 / hsi_bands))
        self.register_buffer("srf_pinv", torch.linalg.pinv(self.srf))
        # 1 where a band lies inside some MSI band's SRF; those bands take their MSI band from the SRF
        self.register_buffer("srf_assign", torch.zeros(hsi_bands, msi_bands))
        self.register_buffer("srf_inside", torch.zeros(hsi_bands, 1))
        self.register_buffer("taps", torch.full((psf_taps,), 1.0 / psf_taps))
        # derived from the kernel size alone, so not saved: checkpoints from before the search load unchanged
        bank = torch.stack([torch.as_tensor(GaussianPSF(psf_taps, s).taps()) for s in PSF_SIGMAS]).float()
        self.register_buffer("psf_bank", bank, persistent=False)
        # the window of a shifted blur (`fit_shifted_taps`): the card's taps with s/2 px of room either side
        self.wide = wide_taps(psf_taps, scale)
        self.register_buffer("wide_bank", torch.eye(self.wide), persistent=False)
        offsets = torch.arange(self.wide, dtype=torch.float32) - (self.wide - 1) / 2
        self.register_buffer("wide_offsets", offsets, persistent=False)
        # (M, wide, k): taps moved by each of SHIFTS_PX (scaled by s/4), cubic interpolation between HR pixels
        moves = [d * scale / 4 for d in SHIFTS_PX]
        narrow = torch.arange(psf_taps, dtype=torch.float64) - (psf_taps - 1) / 2
        place = offsets.double()[None, :, None] - narrow[None, None, :] - torch.tensor(moves)[:, None, None]
        self.register_buffer("shift_taps", _cubic_weights(place).float(), persistent=False)
        self.fit_bands = tuple(range(hsi_bands))  # the placeholder SRF weighs every band

    def _refresh_fit_bands(self) -> None:
        """The bands `fit_srf` fits, from the SRF: a Python tuple, so the exported graph gathers constants."""
        if self.srf.is_meta:
            return
        weighed = (self.srf > 0).any(dim=0).tolist()
        reach = SRF_FIT_REACH
        self.fit_bands = tuple(
            i for i in range(len(weighed)) if any(weighed[max(0, i - reach) : i + reach + 1])
        )

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh_fit_bands()

    def set(self, srf: torch.Tensor, taps: torch.Tensor) -> None:
        """Install the SRF matrix (b, B) and the PSF taps (k,).

        Raises:
            ValueError: wrong shapes, non-finite values, or an SRF row without weight.
        """
        srf = torch.as_tensor(srf, dtype=torch.float64)
        taps = torch.as_tensor(taps, dtype=torch.float64)
        if srf.shape != self.srf.shape:
            raise ValueError(f"srf: expected shape {tuple(self.srf.shape)}; got {tuple(srf.shape)}")
        if taps.shape != self.taps.shape:
            raise ValueError(f"psf taps: expected {self.taps.numel()} (psf_taps); got {taps.numel()}")
        if not (torch.isfinite(srf).all() and torch.isfinite(taps).all()) or (srf.sum(1) <= 0).any():
            raise ValueError("srf and psf taps must be finite and every SRF row must have weight")
        self.srf.copy_(srf.float())
        self.srf_pinv.copy_(torch.linalg.pinv(srf).float())
        inside = srf.max(dim=0).values > 0
        assign = F.one_hot(srf.argmax(dim=0), srf.shape[0]).double() * inside[:, None]
        self.srf_assign.copy_(assign.float())
        self.srf_inside.copy_(inside[:, None].float())
        self.taps.copy_(taps.float())
        self._refresh_fit_bands()

    def project(self, hsi: torch.Tensor) -> torch.Tensor:
        """R x: (N, B, H, W) -> (N, b, H, W)."""
        return F.conv2d(hsi, self.srf[:, :, None, None])

    def unproject(self, msi: torch.Tensor) -> torch.Tensor:
        """R+ y, the minimum-norm HSI with that projection: (N, b, H, W) -> (N, B, H, W)."""
        return F.conv2d(msi, self.srf_pinv[:, :, None, None])

    def _frame_pad(self, wide: bool) -> int:
        """HR px of reflect frame (negative: crop) the card's taps need, or with `wide` a shifted blur's."""
        return (self.wide - self.scale) // 2 if wide else self.pad

    def _framed(self, hr: torch.Tensor, wide: bool = False) -> torch.Tensor:
        """(N*C, 1, H', W'): the reflect frame (or crop) the PSF taps need around each image; `wide`: the
        frame of a shifted blur's window (`fit_shifted_taps`)."""
        n, c, h, w = hr.shape
        x = hr.reshape(n * c, 1, h, w)
        pad = self._frame_pad(wide)
        if pad > 0:
            return F.pad(x, (pad,) * 4, mode="reflect")
        if pad < 0:
            return x[:, :, -pad : h + pad, -pad : w + pad]
        return x

    def is_shifted(self, taps: torch.Tensor | None) -> bool:
        """Whether `taps` are a shifted blur's: row and column taps over the wide window, (N, 2, wide)."""
        # the rank, not a size: it stays a Python int under ONNX tracing
        return taps is not None and taps.dim() == 3

    def interior(self, lr: torch.Tensor) -> torch.Tensor:
        """LR maps (..., h, w) without the pixels whose shifted blur's window reaches past the frame."""
        m = -(-self._frame_pad(True) // self.scale)
        return lr[..., m:-m, m:-m] if m > 0 else lr

    def shift_of(self, taps: torch.Tensor) -> torch.Tensor:
        """(N, 2): the centroid of a shifted blur's row and column taps, HR px from the card's centre."""
        return (taps * self.wide_offsets).sum(-1)

    def degrade(self, hr: torch.Tensor, taps: torch.Tensor | None = None) -> torch.Tensor:
        """Blur (reflect padding) and decimate, as the Wald protocol: (N, C, H, W) -> (N, C, H/s, W/s).

        `taps`: each image's own PSF (`estimate_taps`) instead of the card's, (N, k) symmetric taps for both
        axes or (N, 2, wide) a shifted blur's row and column taps (`is_shifted`).
        """
        if taps is None:
            n, c = hr.shape[:2]
            x = self._card_blur(self._framed(hr))
            return x.reshape(n, c, x.shape[-2], x.shape[-1])
        shifted = self.is_shifted(taps)
        pad = self._frame_pad(shifted)
        row_taps, col_taps = (taps[:, 0], taps[:, 1]) if shifted else (taps, taps)
        x = _decimate_rows(hr, row_taps, pad, self.scale)
        return _decimate_rows(x.transpose(2, 3), col_taps, pad, self.scale).transpose(2, 3)

    def _card_blur(self, framed: torch.Tensor) -> torch.Tensor:
        """(M, 1, H', W') framed images blurred with the card's taps and decimated: (M, 1, H/s, W/s)."""
        k = self.taps.numel()
        x = F.conv2d(framed, self.taps.view(1, 1, k, 1), stride=(self.scale, 1))
        return F.conv2d(x, self.taps.view(1, 1, 1, k), stride=(1, self.scale))

    def estimate_taps(
        self, lrhsi: torch.Tensor, hrmsi: torch.Tensor, shift: bool = False, response: bool = False
    ) -> torch.Tensor:
        """The PSF each pair shows: the card's unless a Gaussian of `PSF_SIGMAS` fits clearly better, then
        free symmetric taps (`fit_taps`), then with `shift` a shifted blur (`fit_shifted_taps`), each freer
        candidate having to win by `PSF_SWITCH_MARGIN` over the best before it. With `response` (the frame's
        SRF is fitted too, `srf_estimate`) the shifted blur is judged as `SHIFT_RESPONSE` says.

        The LR-HSI projected through the SRF is the HR-MSI after the camera's blur and decimation; each
        candidate blurs the HR-MSI, and its misfit is the residual of the projection regressed band by band on
        the result (gain and offset fitted, as the SDK's `estimatePsfSigma`).

        Shape:
            lrhsi (N, B, h, w), hrmsi (N, b, s*h, s*w) in the same units -> (N, k) symmetric taps, or with
            `shift` (N, 2, wide): row and column taps over the wide window (`is_shifted`)
        """
        n, b = hrmsi.shape[:2]
        x = self._framed(hrmsi)
        k = self.taps.numel()
        # the card's taps as their own conv: `spectra retarget-psf` finds and replaces them in the graph
        card = self._card_blur(x)
        m = self.psf_bank.shape[0]
        bank = F.conv2d(x, self.psf_bank.view(m, 1, k, 1), stride=(self.scale, 1))
        bank = F.conv2d(bank, self.psf_bank.view(m, 1, 1, k), stride=(1, self.scale), groups=m)
        target = self.project(lrhsi)
        free = self.fit_taps(target, x.reshape(n, b, x.shape[-2], x.shape[-1]))
        blurred = torch.cat([card, bank], dim=1).reshape(n, b, 1 + m, -1)
        blurred = torch.cat([blurred, self.degrade(hrmsi, free).reshape(n, b, 1, -1)], dim=2)
        residual = _misfits(blurred, target)
        # residuals are squared misfits; each freer candidate must win by the margin over the one before it
        keep = (1.0 - PSF_SWITCH_MARGIN) ** 2
        residual = torch.cat([residual[:, :1] * keep, residual[:, 1:-1], residual[:, -1:] / keep], dim=1)
        first = _first_min(residual)
        taps = first[:, :1] * self.taps + first[:, 1:-1] @ self.psf_bank + first[:, -1:] * free
        if not shift:
            return taps
        joint = ResponseFit(self, lrhsi, target) if response and SHIFT_RESPONSE != "card" else None
        moved = self.fit_shifted_taps(target, hrmsi, taps, joint)
        # compared where both blurs lie inside the frame: on a small frame the reflected border (the
        # camera's is not a mirror) decides otherwise, and a validation region of 8 x 4 LR px took a shift of
        # half a pixel that was not there (-4 dB). The 2 * wide free taps also fit that frame's noise: the
        # shifted blur's residual is scaled as generalised cross-validation does, by (1 - p / equations)^-2,
        # and it needs four equations per tap
        inner = self.interior(target)
        blurs = torch.stack([self.degrade(hrmsi, taps), self.degrade(hrmsi, moved)], dim=2)
        pair = self._judge(joint, blurs, target)
        equations = torch.ones_like(inner).sum(dim=(1, 2, 3))[:, None]
        freedom = (1.0 - 2 * self.wide / equations).clamp(min=1e-3)
        use = (pair[:, 1:] / (keep * freedom) ** 2 < pair[:, :1]).float() * (
            equations > 8 * self.wide
        ).float()
        room = (self.wide - k) // 2
        centred = F.pad(taps, (room, room))
        return torch.where(use[:, :, None] > 0, moved, torch.stack([centred, centred], dim=1))

    def _judge(
        self, joint: ResponseFit | None, candidates: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """(N, M) misfits on the frame's interior of candidates (N, b, M, h, w): through the fitted response,
        or through the card's projection `target` (N, b, h, w)."""
        if joint is not None:
            return joint.misfits(candidates)
        return _misfits(self.interior(candidates).flatten(3), self.interior(target))

    def fit_shifted_taps(
        self,
        target: torch.Tensor,
        hrmsi: torch.Tensor,
        taps: torch.Tensor,
        joint: ResponseFit | None = None,
    ) -> torch.Tensor:
        """(N, 2, wide): `taps` moved along each axis to where they explain `target` best, as row then column
        taps over the wide window: a blur off the middle of each s x s block, as a pair made by sampling a
        blurred image at `[k::s]` shows, or a capture whose two images are out of register.

        A search over `SHIFTS_PX` (up to s/2 HR px, half an LR pixel, either way), rows with the columns
        centred, then columns, then rows again, each candidate's misfit as in `estimate_taps` on the frame's
        interior; then each axis refitted by least squares toward the moved taps (`_refine`). The search comes
        first because free row and column taps alone followed the noise of small frames (a 22 px frame's fit
        was off by 0.5-1 px): moving a blur the frame's other candidates chose has one unknown per axis.
        `joint`: each candidate scored with its own fitted response (`SHIFT_RESPONSE`).

        Shape:
            target (N, b, h, w): the LR-HSI through the SRF; hrmsi (N, b, s*h, s*w); taps (N, k)
        """
        n, b, h, w = target.shape
        k, s = self.wide, self.scale
        x = self._framed(hrmsi, wide=True)  # (N*b, 1, H', W')
        bank = self.wide_bank
        by_rows = F.conv2d(x, bank.view(k, 1, k, 1), stride=(s, 1))  # (N*b, k, h, W')
        by_cols = F.conv2d(x, bank.view(k, 1, 1, k), stride=(1, s))  # (N*b, k, H', w)
        moved = (self.shift_taps @ taps[:, None, :, None])[..., 0]  # (N, M, wide): every shift of the taps
        moved = moved / moved.sum(dim=-1, keepdim=True)  # the window cuts the interpolation's outer lobes
        m = moved.shape[1]

        def best(images: torch.Tensor) -> torch.Tensor:
            """(N, wide) the candidate of `moved` whose blur along the other axis of `images` fits best."""
            blurred = (moved[:, None] @ images.reshape(n, b, k, -1)).reshape(n, b, m, h, w)
            misfit = self._judge(joint, blurred, target)
            return (_first_min(misfit)[:, None, :] @ moved)[:, 0]

        def gather_rows(cols: torch.Tensor) -> torch.Tensor:
            height = by_cols.shape[-2]
            blurred = (cols.reshape(n, 1, 1, k) @ by_cols.reshape(n, b, k, height * w)).reshape(
                n * b, 1, height, w
            )
            return F.conv2d(blurred, bank.view(k, 1, k, 1), stride=(s, 1))  # (N*b, k, h, w)

        def gather_cols(rows: torch.Tensor) -> torch.Tensor:
            width = by_rows.shape[-1]
            blurred = (rows.reshape(n, 1, 1, k) @ by_rows.reshape(n, b, k, h * width)).reshape(
                n * b, 1, h, width
            )
            return F.conv2d(blurred, bank.view(k, 1, 1, k), stride=(1, s))  # (N*b, k, h, w)

        centred = moved[:, m // 2]
        rows = best(gather_rows(centred))
        cols = best(gather_cols(rows))
        rows = best(gather_rows(cols))
        if SHIFT_REFINE_RIDGE is not None:
            rows = self._refine(gather_rows(cols), target, rows)
            cols = self._refine(gather_cols(rows), target, cols)
        return torch.stack([rows, cols], dim=1)

    def _refine(self, images: torch.Tensor, target: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """(N, wide): one axis's taps by least squares on `images` (N*b, wide, h, w), the gathered shifts on
        that axis of the HR-MSI blurred along the other, with a ridge of `SHIFT_REFINE_RIDGE` (relative to the
        normal equations' mean diagonal) toward `prior`, on the frame's interior (`interior`). Float64; sum
        1, negative taps cut to zero unless `SHIFT_SIGNED`."""
        n, b = target.shape[:2]
        k = self.wide
        basis = self.interior(images).reshape(n, b, k, -1).double()
        basis = basis - basis.mean(dim=-1, keepdim=True)
        y = self.interior(target).reshape(n, b, -1, 1).double()
        y = y - y.mean(dim=-2, keepdim=True)
        gram = (basis @ basis.transpose(-2, -1)).sum(dim=1)  # (N, k, k)
        unit = torch.eye(k, dtype=gram.dtype, device=gram.device)
        ridge = SHIFT_REFINE_RIDGE * (gram * unit).sum(dim=(1, 2), keepdim=True) / k + 1e-30
        rhs = (basis @ y).sum(dim=1) + ridge * prior.double()[:, :, None]
        taps = spd_inverse_solve(gram + ridge * unit, rhs)[..., 0].float()
        taps = taps if SHIFT_SIGNED else F.relu(taps)
        # the gained HR-MSI and the target share units, so the fitted taps sum to about one; a frame where
        # they do not (noise, no structure) keeps the moved taps
        total = taps.sum(dim=1, keepdim=True)
        return torch.where(total > 0.5, taps / total.clamp(min=0.5), prior)

    def fit_taps(self, target: torch.Tensor, framed: torch.Tensor) -> torch.Tensor:
        """(N, k): symmetric taps of any shape (sum 1) whose blur of the framed HR-MSI best explains `target`.

        The blur and decimation are linear in the 2-D kernel, so the kernel with the four-fold symmetry of a
        separable symmetric one is a least-squares fit in closed form (per-band offsets removed, one kernel
        for all bands; `solve_spd`); for a separable kernel its row sums are the taps. Negative taps are cut
        to zero. The SDK's `fitPsfTaps` is the same fit (the two agree to float rounding,
        `test/quantize/retarget-psf.test.ts`).

        Shape:
            target (N, b, h, w): the LR-HSI through the SRF; framed (N, b, H', W'): `_framed` HR-MSI
        """
        n, b, h, w = target.shape
        k, s = self.kernel_size, self.scale
        half = (k + 1) // 2
        # fold rows, then columns, by tap distance from the centre: image (p, q) holds the samples that
        # kernel entries at half-indices p (rows) and q (columns) weigh
        rows = [framed[:, :, i : i + s * (h - 1) + 1 : s] for i in range(k)]
        rows = [rows[p] + rows[k - 1 - p] if p != k - 1 - p else rows[p] for p in range(half)]
        cells = {}
        for p, r in enumerate(rows):
            cols = [r[..., j : j + s * (w - 1) + 1 : s] for j in range(k)]
            for q in range(half):
                cells[p, q] = cols[q] + cols[k - 1 - q] if q != k - 1 - q else cols[q]
        pairs = [(p, q) for p in range(half) for q in range(p, half)]
        basis = torch.stack([cells[p, q] + cells[q, p] if p != q else cells[p, q] for p, q in pairs], dim=2)
        basis = basis.flatten(3)  # (N, b, U, h*w)
        basis = basis - basis.mean(dim=-1, keepdim=True)
        y = target.flatten(2)
        y = (y - y.mean(dim=-1, keepdim=True))[:, :, None, :]
        gram = (basis @ basis.transpose(-2, -1)).sum(dim=1)  # (N, U, U)
        rhs = (basis @ y.transpose(-2, -1)).sum(dim=1)  # (N, U, 1)
        eye = torch.eye(len(pairs), dtype=gram.dtype, device=gram.device)
        ridge = PSF_FIT_RIDGE * gram.diagonal(dim1=1, dim2=2).mean(dim=-1)[:, None, None] + 1e-30
        coef = solve_spd(gram + ridge * eye, rhs)[..., 0]  # (N, U)
        # the kernel's row sums: entry (p, q) stands for two columns unless q is the middle tap
        marginal = []
        for p in range(half):
            terms = []
            for j, (a, c) in enumerate(pairs):
                if p in (a, c):
                    other = c if a == p else a
                    terms.append(coef[:, j] * (1.0 if other == k - 1 - other else 2.0))
            marginal.append(sum(terms))
        half_taps = F.relu(torch.stack(marginal, dim=1))
        taps = torch.cat([half_taps, half_taps.flip(1)[:, (k % 2) :]], dim=1)
        return taps / taps.sum(dim=1, keepdim=True).clamp(min=1e-30)

    def upsample(self, lr: torch.Tensor, taps: torch.Tensor | None = None) -> torch.Tensor:
        """Bicubic x s (half-pixel centres, as the degradation).

        With a shifted blur's taps (`is_shifted`) each LR pixel sits at its blur's centroid: the LR image is
        first moved by that many LR px (cubic weights over `LR_SHIFT_REACH` pixels a side, per image), so
        that upsampling puts it in the HR-MSI's register."""
        if self.is_shifted(taps):
            lr = self._shift_lr(lr, -self.shift_of(taps) / self.scale)
        return upsample(lr, self.scale)

    def _shift_lr(self, lr: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Each image of `lr` (N, C, h, w) read at (i + shift_y, j + shift_x); `shift` (N, 2) in LR px, at
        most half a pixel. Replicate edges, as `layers.upsample`."""
        n, c, h, w = lr.shape
        reach = LR_SHIFT_REACH
        k = 2 * reach + 1
        offsets = self.wide_offsets.new_tensor([float(t) for t in range(-reach, reach + 1)])
        weights = _cubic_weights(offsets[None, None, :] - shift.clamp(-0.5, 0.5)[:, :, None])  # (N, 2, k)
        # k weighted slices per axis: at LR size cheaper than gathering them as channels (as `degrade` does)
        rows = weights[:, 0].reshape(n, 1, 1, 1, k)
        cols = weights[:, 1].reshape(n, 1, 1, 1, k)
        x = F.pad(lr, (0, 0, reach, reach), mode="replicate")
        x = sum(rows[..., t] * x[:, :, t : t + h] for t in range(k))
        x = F.pad(x, (reach, reach, 0, 0), mode="replicate")
        return sum(cols[..., t] * x[..., t : t + w] for t in range(k))


def _detail_taps(sigma: float) -> np.ndarray:
    """The Gaussian of one of `MSI_DETAIL_SIGMAS` out to 3 sigma either side, as 1-D taps (float64)."""
    return GaussianPSF(2 * math.ceil(3 * sigma) + 1, sigma).taps()


def _level_noise_energies() -> np.ndarray:
    """(L + 1,): the energy per pixel that white noise of unit variance leaves in each detail level of
    `MsiDenoise` (x - G1 x, G1 x - G2 x, ...) and in the rest, from the levels' 2-D kernels."""
    size = 2 * math.ceil(3 * MSI_DETAIL_SIGMAS[-1]) + 1
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    kernels = []
    for sigma in MSI_DETAIL_SIGMAS:
        taps = _detail_taps(sigma)
        taps = np.pad(taps, (size - len(taps)) // 2)
        kernels.append(np.outer(taps, taps))
    levels = [a - b for a, b in zip([delta, *kernels[:-1]], kernels, strict=True)]
    return np.array([(v**2).sum() for v in [*levels, kernels[-1]]])


class MsiDenoise(nn.Module):
    """Wiener shrinkage of the HR-MSI's detail levels by the noise each band shows (`msi_denoise`).

    At 30 dB SNR on the HR-MSI alone the students fell from 48.1 to 35.0 dB on the CAVE grid's validation
    regions, below CNMF's 35.9: the prior modulates every band by the HR-MSI's noisy detail and the spectral
    back-projection copies its noise into the output, in the signal's own subspace, where `--denoise auto`
    cannot reach it. Each band's noise is measured as HySime does, across bands: the diagonal Haar detail
    (the band an optically blurred image holds least texture in) regressed on the other bands' (a colour
    edge is in every band, noise in one); the residual's energy, averaged geometrically over
    `MSI_NOISE_BLOCK`-px blocks (textured blocks, whose residual is signal, weigh as little as flat ones).
    Read on the finest Gaussian level (x - G1 x), as until 2026-12-08, a clean textured region measured
    32 dB SNR, inside what 30 dB noise measures; on the diagonal detail it measures 35 dB and above. Each
    detail level l of band j is then kept with the gain max(0, 1 - sigma_j^2 c_l / E_jl), c_l the white-noise
    energy that passes the level and E_jl the level's energy: the Wiener gain of the level as a whole. A clean
    frame keeps gains near 1. Every quantity is homogeneous of degree 0 in the input's scale.

    Shape:
        `gains(msi)`: (N, b, H, W) -> (N, b, L); `shrink(msi, gains)` -> (N, b, H, W)
    """

    def __init__(self) -> None:
        super().__init__()
        for i, sigma in enumerate(MSI_DETAIL_SIGMAS):
            taps = torch.as_tensor(_detail_taps(sigma)).float()
            self.register_buffer(f"taps{i}", taps, persistent=False)
        energy = torch.as_tensor(_level_noise_energies()).float()
        self.register_buffer("noise_energy", energy, persistent=False)

    @staticmethod
    def _blur(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        """x (M, 1, H, W) blurred by the separable taps, edges replicated (any frame size)."""
        r = (taps.numel() - 1) // 2
        y = F.pad(x, (r, r, r, r), mode="replicate")
        y = F.conv2d(y, taps.view(1, 1, -1, 1))
        return F.conv2d(y, taps.view(1, 1, 1, -1))

    def _levels(self, msi: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The detail levels [(N, b, H, W)] and the rest of `msi`."""
        n, b, h, w = msi.shape
        x = msi.reshape(n * b, 1, h, w)
        blurred = [self._blur(x, getattr(self, f"taps{i}")) for i in range(len(MSI_DETAIL_SIGMAS))]
        levels = [(a - c).reshape(n, b, h, w) for a, c in zip([x, *blurred[:-1]], blurred, strict=True)]
        return levels, blurred[-1].reshape(n, b, h, w)

    def gains(self, msi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gains (N, b, L), noise variance (N, b)) of `msi` (N, b, H, W) as captured."""
        levels, _ = self._levels(msi)
        variance = self.noise_variance(msi)
        energies = torch.stack([(v**2).mean(dim=(-2, -1)) for v in levels], dim=-1)  # (N, b, L)
        gains = 1.0 - variance[..., None] * self.noise_energy[:-1] / energies.clamp(min=1e-30)
        # a frame smaller than one block measures nothing: its detail is kept
        return torch.where(torch.isfinite(gains), gains.clamp(0.0, 1.0), torch.ones_like(gains)), variance

    def kept_noise(self, variance: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """(N, b): the noise variance per pixel left in the HR-MSI once `shrink` keeps its levels at
        `gains`."""
        return variance * ((gains**2 * self.noise_energy[:-1]).sum(-1) + self.noise_energy[-1])

    def noise_variance(self, msi: torch.Tensor) -> torch.Tensor:
        """(N, b): the noise variance each band of `msi` (N, b, H, W) shows, in its units."""
        h, w = msi.shape[-2] // 2 * 2, msi.shape[-1] // 2 * 2
        x = msi[..., :h, :w]
        # the diagonal Haar detail: the band where an image, blurred by its optics, holds least texture;
        # white noise of unit variance keeps unit variance there
        diagonal = (x[..., 0::2, 0::2] - x[..., 1::2, 0::2] - x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) / 2
        return self._noise_variance(diagonal)

    def _noise_variance(self, finest: torch.Tensor) -> torch.Tensor:
        fine = finest.flatten(2).double()  # (N, b, P)
        gram = fine @ fine.transpose(1, 2)
        unit = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        level = (gram * unit).sum(dim=(1, 2), keepdim=True) / gram.shape[-1] + 1e-30
        inverse = solve_spd(gram + 1e-6 * level * unit, unit.expand_as(gram))
        diagonal = (inverse * unit).sum(-1, keepdim=True).clamp(min=1e-30)  # (N, b, 1)
        # each band's residual on the others' detail, pixel by pixel: (G^-1 D)_j / [G^-1]_jj
        residual = (inverse @ fine) / diagonal
        n, b, h, w = finest.shape
        # ceil_mode: a frame narrower than a block is one partial block, not none
        energy = F.avg_pool2d(
            (residual.float() ** 2).reshape(n * b, 1, h, w), MSI_NOISE_BLOCK // 2, ceil_mode=True
        )
        floor = 1e-12 * energy.mean(dim=(-2, -1), keepdim=True) + 1e-30
        typical = torch.exp(torch.log(energy + floor).mean(dim=(-2, -1))).reshape(n, b)
        # noise of variance s^2 in every band leaves s^2 (1 + |a|^2) in the residual, a the regression's
        # weights on the other bands: sum_k [G^-1]_jk^2 / [G^-1]_jj^2
        spread = ((inverse**2).sum(-1) / diagonal[..., 0] ** 2).float()
        variance = typical / spread
        if MSI_NOISE_COMMON:
            variance = variance.min(dim=1, keepdim=True).values.expand_as(variance)
        return variance

    def shrink(self, msi: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """`msi` with each detail level kept at its gain. A method, not `forward`: called as a module its
        nodes would sit in their own ONNX scope, which the quantizer takes for a learnt module and converts to
        int8 (`quantize/graph-index.ts` `NETWORK_SCOPE`); the network's own steps stay float."""
        levels, rest = self._levels(msi)
        return rest + sum(g[..., None, None] * v for g, v in zip(gains.unbind(-1), levels, strict=True))


class InputRadiometry(nn.Module):
    """Per-image radiometry measured on the inputs (see the module docstring).

    `scales(lrhsi, hrmsi)` returns (hsi_scale (N, B, 1, 1), msi_gain (N, b, 1, 1), msi_scale (N, b, 1, 1)):
    the HSI band scale is its mean absolute value over the LR pixels (floored at `SCALE_FLOOR` of the mean
    band scale); the MSI gain maps each MSI band onto R x in the LR-HSI's units (ratio of means), so a camera
    whose MSI is in other units, or has another gain, still meets the SRF constraint; the MSI scale is R
    applied to the HSI scales.
    """

    def __init__(self, degradation: Degradation) -> None:
        super().__init__()
        self.degradation = degradation

    @staticmethod
    def _floor(v: torch.Tensor, floor: float = SCALE_FLOOR) -> torch.Tensor:
        return torch.maximum(v, floor * v.mean(dim=1, keepdim=True) + 1e-30)

    def scales(
        self, lrhsi: torch.Tensor, hrmsi: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hsi_scale = self._floor(_mean_hw(lrhsi.abs()))
        projected = self._floor(_mean_hw(self.degradation.project(lrhsi).abs()))
        # MSI bands of one camera may differ in gain by orders of magnitude (DN of differently exposed
        # channels); only an all-zero band needs the floor
        msi_gain = projected / self._floor(_mean_hw(hrmsi.abs()), MSI_GAIN_FLOOR)
        msi_scale = self._floor(self.degradation.project(hsi_scale))
        return hsi_scale, msi_gain, msi_scale


def band_assignment(degradation: Degradation, lrhsi: torch.Tensor, lr_msi: torch.Tensor) -> torch.Tensor:
    """(N, B, b) one-hot: the MSI band that sharpens each HSI band (SRF inside, best correlation outside)."""
    x = lrhsi.flatten(2)
    y = lr_msi.flatten(2)
    x = F.normalize(x - x.mean(dim=-1, keepdim=True), dim=-1)
    y = F.normalize(y - y.mean(dim=-1, keepdim=True), dim=-1)
    corr = x @ y.transpose(1, 2)
    best = (corr >= corr.max(dim=-1, keepdim=True).values).float()
    best = best / best.sum(dim=-1, keepdim=True)
    inside = degradation.srf_inside
    return inside * degradation.srf_assign + (1.0 - inside) * best


def hpm_prior(
    degradation: Degradation,
    lrhsi: torch.Tensor,
    hrmsi: torch.Tensor,
    offset: torch.Tensor | None = None,
    assign: torch.Tensor | None = None,
    taps: torch.Tensor | None = None,
) -> torch.Tensor:
    """MTF-GLP-HPM in the graph: up(X_i) * (P_j + d) / (lowpass(P_j) + d), j the band assigned to i.

    `offset` (d, (N, b, 1, 1)) and `assign` ((N, B, b)) are measured on these inputs unless given (from the
    whole frame, `FrameStatistics`); `taps` (N, k) the frame's PSF if it was estimated.

    Shape:
        lrhsi (N, B, h, w), hrmsi (N, b, s*h, s*w) in the same units -> (N, B, s*h, s*w)
    """
    lr_msi = degradation.degrade(hrmsi, taps)
    lowpass = F.relu(degradation.upsample(lr_msi, taps))
    d = HPM_OFFSET * _mean_hw(hrmsi.abs()) + 1e-30 if offset is None else offset
    ratio = (hrmsi + d) / (lowpass + d)
    if assign is None:
        assign = band_assignment(degradation, lrhsi, lr_msi)
    sharpening = (assign @ ratio.flatten(2)).reshape(ratio.shape[0], -1, *ratio.shape[2:])
    return degradation.upsample(lrhsi, taps) * sharpening


def solve_spd(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """X with gram @ X = rhs for a small symmetric positive-definite gram (N, n, n), rhs (N, n, m).

    Gauss-Jordan elimination unrolled over n (a handful of MSI bands): ONNX has no solver, and without
    pivoting an SPD system stays stable, so this exports as slices and elementwise ops.
    """
    n = gram.shape[-1]
    rows = list(torch.cat([gram, rhs], dim=-1).unbind(1))
    for k in range(n):
        pivot = rows[k] / rows[k][:, k : k + 1]
        rows = [pivot if i == k else row - row[:, k : k + 1] * pivot for i, row in enumerate(rows)]
    return torch.stack(rows, dim=1)[..., n:]


def spd_inverse_solve(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """X with gram @ X = rhs for a symmetric positive-definite gram (N, n, n) of many bands, rhs (N, n, m).

    `solve_spd`'s Gauss-Jordan elimination with one row operation per step on the whole matrix, so the
    exported graph grows with n rather than n^2 (206 bands).
    """
    n = gram.shape[-1]
    aug = torch.cat([gram, rhs], dim=-1)
    unit = torch.eye(n, dtype=gram.dtype, device=gram.device)
    for k in range(n):
        pivot = aug[:, k : k + 1, :] / aug[:, k : k + 1, k : k + 1]
        aug = aug - aug[:, :, k : k + 1] * pivot + unit[:, k : k + 1] * pivot
    return aug[..., n:]


def srf_ridge(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`fit_srf`'s ridge for the Gram (N, n, n) of the bands it fits: (N, n, 1) one per band, and the unit
    matrix. `SRF_FIT_RIDGE` of the mean diagonal plus `SRF_NOISE_RIDGE` times each band's noise energy (its
    residual on the other bands, 1 / [G^-1]_ii, as HySime measures it)."""
    n = gram.shape[-1]
    unit = torch.eye(n, dtype=gram.dtype, device=gram.device)
    # diagonals as masked sums: the exporter's float64 `diagonal` fails ONNX type inference. The floors must
    # be float32 numbers too: the exported graph holds them as float constants, and 1e-300 there is 0 (an
    # all-zero frame then solved 0 / 0)
    level = (gram * unit).sum(dim=(1, 2), keepdim=True) / n + 1e-30
    inverse = spd_inverse_solve(gram + SRF_FIT_FLOOR * level * unit, unit.expand_as(gram))
    noise = 1.0 / (inverse * unit).sum(dim=-1).clamp(min=1e-30)
    return SRF_FIT_RIDGE * level + SRF_NOISE_RIDGE * noise[:, :, None], unit


def fit_srf(degradation: Degradation, lrhsi: torch.Tensor, lr_msi: torch.Tensor) -> torch.Tensor:
    """(N, b, B): the SRF the frame shows, the card's corrected by a ridge regression at low resolution.

    Each LR-MSI band regressed on the LR-HSI bands the card weighs (and `SRF_FIT_REACH` beside them; the
    others keep the card's zero), with a ridge toward the card's row: `SRF_FIT_RIDGE` of
    the normal equations' mean diagonal, plus `SRF_NOISE_RIDGE` times each band's noise energy (its residual
    on the other bands, 1 / [G^-1]_ii, as HySime measures it), so a noisy frame keeps nearly the card's
    response. Solved in float64: the Gram of a smooth spectrum is ill-conditioned. Both inputs in the same
    units; scaling both by k keeps the fit.

    Shape:
        lrhsi (N, B, h, w), lr_msi (N, b, h, w) -> (N, b, B)
    """
    bands = list(degradation.fit_bands)
    y = lrhsi[:, bands].flatten(2).double()
    m = lr_msi.flatten(2).double()
    gram = y @ y.transpose(1, 2)
    ridge, unit = srf_ridge(gram)
    card = degradation.srf.double()
    fitted = spd_inverse_solve(gram + ridge * unit, y @ m.transpose(1, 2) + ridge * card[:, bands].t()[None])
    # back onto every band: a one-hot placement, constant in the exported graph
    place = torch.eye(card.shape[1], dtype=card.dtype, device=card.device)[bands]
    outside = card * (1.0 - place.sum(dim=0))
    return (outside + fitted.transpose(1, 2) @ place).float()


def regression_pan(lrhsi: torch.Tensor, lr_msi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per HSI band, the MSI combination predicting it at low resolution: weights (N, B, b), bias (N, B, 1, 1)

    Least squares of each LR-HSI band on the LR-MSI bands with an intercept (centred, ridge `PAN_RIDGE`).
    Both in the same units: scaling both by k keeps the weights and scales the bias by k.
    """
    x = lr_msi.flatten(2)
    y = lrhsi.flatten(2)
    x_mean = x.mean(dim=-1, keepdim=True)
    y_mean = y.mean(dim=-1, keepdim=True)
    xc = x - x_mean
    gram = xc @ xc.transpose(1, 2)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    ridge = PAN_RIDGE * gram.diagonal(dim1=1, dim2=2).mean(dim=-1)[:, None, None] + 1e-30
    weights = solve_spd(gram + ridge * eye, xc @ (y - y_mean).transpose(1, 2)).transpose(1, 2)
    bias = y_mean - weights @ x_mean
    return weights, bias[..., None]


def regression_prior(
    degradation: Degradation,
    lrhsi: torch.Tensor,
    hrmsi: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    offset: torch.Tensor,
    taps: torch.Tensor | None = None,
    msi_noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """HPM by each band's regression pan: up(X_i) * (P_i + d_i) / (lowpass(P_i) + d_i), P_i = w_i . MSI + c_i.

    `weights`, `bias` from `regression_pan`, `offset` d (N, B, 1, 1) and `taps` (N, k; None for the card's
    PSF) are the frame's (`FrameStatistics`). A pan that dips below zero where its band is dark counts as
    zero, and the ratio is at most `HPM_RATIO_CAP`, so a pan whose low-pass is near zero cannot blow a pixel
    up. `msi_noise` (N, b): the noise the (shrunk) HR-MSI carries (`FrameStatistics.msi_noise`), by which each
    pan's detail is kept at its local Wiener gain (`pan_detail_gain`); None keeps it whole.

    Shape:
        lrhsi (N, B, h, w), hrmsi (N, b, s*h, s*w) in the same units -> (N, B, s*h, s*w)
    """
    lowpass = F.relu(degradation.upsample(degradation.degrade(hrmsi, taps), taps))
    n, _, h, w = hrmsi.shape

    def pan(msi: torch.Tensor) -> torch.Tensor:
        return F.relu((weights @ msi.flatten(2)).reshape(n, -1, h, w) + bias)

    ratio = ((pan(hrmsi) + offset) / (pan(lowpass) + offset)).clamp(max=HPM_RATIO_CAP)
    if msi_noise is not None and PAN_DETAIL_GAIN:
        ratio = 1.0 + pan_detail_gain(hrmsi - lowpass, weights, msi_noise) * (ratio - 1.0)
    return degradation.upsample(lrhsi, taps) * ratio


def _window_mean(x: torch.Tensor) -> torch.Tensor:
    """Each map's local mean over the Gaussian window of `BACKPROJECTION_WINDOW` px, edges replicated: the
    energy both Wiener gains (`pan_detail_gain`, `backprojection_gain`) weigh the noise against.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """
    n, c, h, w = x.shape
    taps = torch.as_tensor(_detail_taps(BACKPROJECTION_WINDOW), dtype=x.dtype, device=x.device)
    return MsiDenoise._blur(x.reshape(n * c, 1, h, w), taps).reshape(n, c, h, w)


def pan_detail_gain(detail: torch.Tensor, weights: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Each band's regression pan's local Wiener gain max(0, 1 - n_i / E_i(x)): E_i(x) the energy of the
    pan's detail w_i . D around x (a Gaussian window of `BACKPROJECTION_WINDOW` px), n_i = sum_j w_ij^2 m_j
    the noise it carries from the HR-MSI bands' (`FrameStatistics.msi_noise`, independent across bands).

    A pan mixes the HR-MSI bands with weights of either sign, so it can carry several times one band's noise,
    a different draw in each band: that noise changes the spectra's angles, where MTF-GLP-HPM's assigned bands
    share one ratio. E is the quadratic form of the local detail moments, so 206 bands cost b^2 blurred maps.

    Shape:
        detail (N, b, H, W) the HR-MSI less its low-pass, weights (N, B, b), noise (N, b) -> (N, B, H, W)
    """
    n, b, h, w = detail.shape
    moments = _window_mean((detail[:, :, None] * detail[:, None]).reshape(n, b * b, h, w)).flatten(2)
    pairs = (weights[..., :, None] * weights[..., None, :]).flatten(2)  # (N, B, b*b)
    energy = (pairs @ moments).reshape(n, -1, h, w)
    carried = weights**2 @ noise[..., None]  # (N, B, 1)
    return (1.0 - carried[..., None] / energy.clamp(min=1e-30)).clamp(0.0, 1.0)


class FrameStatistics(NamedTuple):
    """The whole-image quantities of the graph (module docstring), in the LR-HSI's units.

    Attributes:
        hsi_scale: (N, B, 1, 1) per-band LR-HSI scale (`InputRadiometry`).
        msi_gain: (N, b, 1, 1) HR-MSI to LR-HSI units.
        msi_scale: (N, b, 1, 1) the projected HSI scale.
        hpm_offset: (N, b, 1, 1) the HPM ratio offset d of the gained HR-MSI.
        assign: (N, B, b) the MSI band that sharpens each HSI band; with the regression prior, the weights
            of each band's pan (`regression_pan`).
        pan_bias: (N, B, 1, 1) the intercepts of the regression pans; None for the assigned-band prior.
        psf_taps: (N, k) the PSF the frame shows (`Degradation.estimate_taps`), (N, 2, wide) a shifted blur's
            row and column taps; None where the card's is used.
        srf: (N, b, B) the SRF the frame shows (`fit_srf`); None where the card's is used.
        msi_shrink: (N, b, L) the gain each detail level of each HR-MSI band is kept with (`MsiDenoise`);
            None where the HR-MSI is used as captured.
        msi_noise: (N, b) the noise variance per pixel the shrunk HR-MSI still carries, in the LR-HSI's
            units (`MsiDenoise.kept_noise`), which the spectral back-projection's gain reads
            (`backprojection_gain`); None without `msi_shrink`.
    """

    hsi_scale: torch.Tensor
    msi_gain: torch.Tensor
    msi_scale: torch.Tensor
    hpm_offset: torch.Tensor
    assign: torch.Tensor
    pan_bias: torch.Tensor | None = None
    psf_taps: torch.Tensor | None = None
    srf: torch.Tensor | None = None
    msi_shrink: torch.Tensor | None = None
    msi_noise: torch.Tensor | None = None

    @staticmethod
    def sizes(
        hsi_bands: int,
        msi_bands: int,
        regression: bool = False,
        psf_taps: int = 0,
        srf: bool = False,
        denoise: bool = False,
    ) -> list[int]:
        """The packed vector's blocks in order: B + 3 b + B b, B more with the regression pans, k with the
        PSF, b B with the SRF, b L with the HR-MSI's detail gains and b with the noise it keeps."""
        B, b = hsi_bands, msi_bands
        return (
            [B, b, b, b, B * b]
            + ([B] if regression else [])
            + ([psf_taps] if psf_taps else [])
            + ([b * B] if srf else [])
            + ([b * len(MSI_DETAIL_SIGMAS), b] if denoise else [])
        )

    @classmethod
    def measure(
        cls,
        radiometry: InputRadiometry,
        lrhsi: torch.Tensor,
        hrmsi: torch.Tensor,
        regression: bool = False,
        estimate_psf: bool = False,
        estimate_srf: bool = False,
        estimate_shift: bool = False,
        denoise: MsiDenoise | None = None,
    ) -> FrameStatistics:
        """Measure on a whole frame: lrhsi (N, B, h, w), hrmsi (N, b, s*h, s*w) as captured.

        `regression`: the pans of `regression_prior` instead of each band's assigned MSI band.
        `estimate_psf`: the frame's own PSF (`Degradation.estimate_taps`), used for everything after it.
        `estimate_srf`: the frame's own SRF (`fit_srf`, on the LR-MSI of that PSF) for the back-projections.
        `estimate_shift`: the PSF search also tries a shifted blur (`Degradation.fit_shifted_taps`).
        `denoise`: the gains of the HR-MSI's detail levels (`MsiDenoise`), measured on it as captured, and
        the noise the shrunk HR-MSI keeps.
        """
        degradation = radiometry.degradation
        hsi_scale, msi_gain, msi_scale = radiometry.scales(lrhsi, hrmsi)
        msi = hrmsi * msi_gain
        offset = HPM_OFFSET * _mean_hw(msi.abs()) + 1e-30
        taps = degradation.estimate_taps(lrhsi, msi, estimate_shift, estimate_srf) if estimate_psf else None
        lr_msi = degradation.degrade(msi, taps)
        srf = fit_srf(degradation, lrhsi, lr_msi) if estimate_srf else None
        shrink, noise = None, None
        if denoise is not None:
            shrink, variance = denoise.gains(hrmsi)
            noise = denoise.kept_noise(variance, shrink) * msi_gain[..., 0, 0] ** 2
        if regression:
            weights, bias = regression_pan(lrhsi, lr_msi)
            return cls(hsi_scale, msi_gain, msi_scale, offset, weights, bias, taps, srf, shrink, noise)
        assign = band_assignment(degradation, lrhsi, lr_msi)
        return cls(hsi_scale, msi_gain, msi_scale, offset, assign, None, taps, srf, shrink, noise)

    def pan_offset(self) -> torch.Tensor:
        """(N, B, 1, 1) the regression prior's ratio offset: `HPM_OFFSET` of each band's level."""
        return HPM_OFFSET * self.hsi_scale

    def pack(self) -> torch.Tensor:
        """(N, S), the order of the attributes: the graph input `frame_stats`."""
        return torch.cat([t.flatten(1) for t in self if t is not None], dim=1)

    @classmethod
    def unpack(
        cls,
        packed: torch.Tensor,
        hsi_bands: int,
        msi_bands: int,
        regression: bool = False,
        psf_taps: int = 0,
        srf: bool = False,
        shift: bool = False,
        denoise: bool = False,
    ) -> FrameStatistics:
        """Inverse of `pack`; `psf_taps` the PSF's kernel size if the frame's PSF was estimated, else 0;
        `srf` whether the frame's SRF was; `shift` whether the taps are a shifted blur's (row and column taps,
        `psf_taps` values in all); `denoise` whether the HR-MSI's detail gains were.

        Raises:
            ValueError: the vector's length is not the sum of its blocks (`sizes`).
        """
        B, b = hsi_bands, msi_bands
        sizes = cls.sizes(B, b, regression, psf_taps, srf, denoise)
        length = sum(sizes)
        # the exported graph's input shape is fixed by the card; tracing would bake this check in as a constant
        if not torch.jit.is_tracing() and (packed.dim() != 2 or packed.shape[1] != length):
            raise ValueError(f"frame_stats must be (N, {length}); got {tuple(packed.shape)}")
        n = packed.shape[0]
        parts = list(torch.split(packed, sizes, dim=1))
        noise = parts.pop() if denoise else None
        shrink = parts.pop().reshape(n, b, len(MSI_DETAIL_SIGMAS)) if denoise else None
        fitted = parts.pop().reshape(n, b, B) if srf else None
        col = (n, -1, 1, 1)
        hsi, gain, scale, offset, assign = parts[:5]
        bias = parts[5].reshape(col) if regression else None
        return cls(
            hsi.reshape(col),
            gain.reshape(col),
            scale.reshape(col),
            offset.reshape(col),
            assign.reshape(n, B, b),
            bias,
            (parts[-1].reshape(n, 2, -1) if shift else parts[-1]) if psf_taps else None,
            fitted,
            shrink,
            noise,
        )


def backprojection_gain(residual: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The local Wiener gain max(0, 1 - n_j / E_j(x)) of the spectral back-projection's residual, E_j(x) the
    residual's energy around x (a Gaussian window of `BACKPROJECTION_WINDOW` px) and n_j the noise variance
    the (shrunk) HR-MSI band still carries (`FrameStatistics.msi_noise`).

    The back-projection makes the output's projection equal the HR-MSI: on a clean frame it corrects the
    spectra the prior and the learnt detail got wrong (1.7 dB on the CAVE grid's validation regions), on a
    noisy one it copies the noise into the signal's own subspace. Where the residual is a misfit (edges, a
    detail the network put wrong) its energy is far above the noise and the gain stays near 1. Local, so tiles
    of a frame are fused alike.

    Shape:
        residual (N, b, H, W), noise (N, b) in the same units -> (N, b, H, W)
    """
    energy = _window_mean(residual**2)
    return (1.0 - noise[..., None, None] / energy.clamp(min=1e-30)).clamp(0.0, 1.0)


def consistency(
    degradation: Degradation,
    cube: torch.Tensor,
    lrhsi: torch.Tensor,
    hrmsi: torch.Tensor,
    steps: int,
    taps: torch.Tensor | None = None,
    srf: torch.Tensor | None = None,
    msi_noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """`steps` rounds of spectral then spatial back-projection onto the measurements (module docstring).

    `taps` (N, k): the frame's estimated PSF (`FrameStatistics.psf_taps`); None for the card's. `srf`
    (N, b, B): the frame's fitted SRF (`FrameStatistics.srf`), whose minimum-norm inverse R^T (R R^T)^-1 is
    solved here; None for the card's. `msi_noise` (N, b): the noise the HR-MSI carries
    (`FrameStatistics.msi_noise`), by which each band's residual is kept at its local Wiener gain
    (`backprojection_gain`, measured on the first round); None keeps it whole.

    Shape:
        cube (N, B, H, W), lrhsi (N, B, H/s, W/s), hrmsi (N, b, H, W) in the same units -> (N, B, H, W)
    """
    if srf is None:
        project, unproject = degradation.project, degradation.unproject
    else:
        n, h, w = cube.shape[0], cube.shape[-2], cube.shape[-1]
        inverse = solve_spd(srf @ srf.transpose(1, 2), srf).transpose(1, 2)  # (N, B, b)

        def project(x: torch.Tensor) -> torch.Tensor:
            return (srf @ x.flatten(2)).reshape(n, -1, h, w)

        def unproject(y: torch.Tensor) -> torch.Tensor:
            return (inverse @ y.flatten(2)).reshape(n, -1, h, w)

    keep = None
    for _ in range(steps):
        residual = hrmsi - project(cube)
        if msi_noise is not None and BACKPROJECTION_GAIN:
            keep = backprojection_gain(residual, msi_noise) if keep is None else keep
            residual = residual * keep
        cube = cube + unproject(residual)
        cube = cube + degradation.upsample(lrhsi - degradation.degrade(cube, taps), taps)
    return cube
