"""The fusion methods compared by evaluation: checkpoint networks, an exported ONNX, classical baselines."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from spectra_distill.baselines.methods import run_baseline
from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.degrade.psf import GaussianPSF, separable_degrade, spatial_degrade
from spectra_distill.errors import BandCountError, CheckpointError, ExportError, WavelengthError
from spectra_distill.evaluate.regions import ModelFacts
from spectra_distill.evaluate.tiling import fuse_whole_or_tiled
from spectra_distill.export.frame_layout import fitted_blur
from spectra_distill.export.model import card_path_for
from spectra_distill.export.onnx import INPUT_NAMES, STATS_NAME, OnnxFusion
from spectra_distill.models.complexity import per_pixel_complexity
from spectra_distill.models.net import FusionNet
from spectra_distill.models.psf_estimate import estimate_psf_sigma, fit_psf_taps, retargeted
from spectra_distill.models.subspace import AUTO_DENOISE_SNR_DB, msi_guided, project, signal_subspace


@dataclass(frozen=True)
class Prediction:
    """One method's output on one pair.

    Attributes:
        cube: (B, H, W) float32 in 0..1 physical units.
        ms: Wall-clock milliseconds of the fusion call (timed after one untimed warm-up per method).
        tiled: Overlapping tiles were needed because the whole region did not fit in memory.
    """

    cube: np.ndarray
    ms: float
    tiled: bool = False


@dataclass
class Method(ABC):
    """A named fusion method.

    Attributes:
        name: Column/row label ('teacher', 'student', 'student (onnx)', 'gsa', ...).
        kind: 'network', 'onnx' or 'baseline'.
        params: Trainable parameters (None for baselines).
        macs_per_hr_pixel: Multiply-accumulates per output pixel for networks, None otherwise.
        repeats: Timed runs per pair; `predict` reports their median (a shared CPU's one-off stalls move a
            single run's time by tens of percent).
    """

    name: str
    kind: str
    params: int | None = None
    macs_per_hr_pixel: float | None = None
    repeats: int = 1
    _warm: set[tuple[int, ...]] = field(default_factory=set, repr=False)

    @abstractmethod
    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        """(prediction (B, H, W) float32, whether tiles were needed)."""

    def frame_blur(self, pair: FusionPair) -> np.ndarray | None:
        """(2, wide) the row and column taps a network's statistics graph finds for this pair, when it
        searches for a shifted blur; None for every other method."""
        return None

    def predict(self, pair: FusionPair) -> Prediction:
        """Fuse ``pair``; the first call per input shape runs once untimed so the timing excludes set-up."""
        shape = (*pair.lrhsi.data.shape, *pair.hrmsi.data.shape)
        if shape not in self._warm and self.kind != "baseline":
            self._fuse(pair)
            self._warm.add(shape)
        times = []
        for _ in range(max(1, self.repeats)):
            start = time.perf_counter()
            cube, tiled = self._fuse(pair)
            times.append((time.perf_counter() - start) * 1e3)
        return Prediction(cube=cube, ms=float(np.median(times)), tiled=tiled)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "params": self.params,
            "macs_per_hr_pixel": None if self.macs_per_hr_pixel is None else round(self.macs_per_hr_pixel),
        }


@dataclass
class BaselineMethod(Method):
    """A classical baseline of :mod:`spectra_distill.baselines` (CPU, NumPy)."""

    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        return run_baseline(self.name, pair), False


@dataclass
class TorchMethod(Method):
    """A checkpoint network on ``device``, whole-region forward (tiles only after an out-of-memory error)."""

    model: FusionNet | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        assert self.model is not None
        model = self.model

        lr_all, msi_all = pair.lrhsi.data[None], pair.hrmsi.data[None]
        stats = None
        if model.frame_statistics_length:
            # tiles (after an out-of-memory error) fuse with the whole frame's statistics, as the SDK does
            with torch.no_grad():
                stats = model.frame_statistics(
                    torch.from_numpy(lr_all).to(self.device), torch.from_numpy(msi_all).to(self.device)
                )

        @torch.no_grad()
        def fn(lr: np.ndarray, msi: np.ndarray) -> np.ndarray:
            dev = self.device
            out = model(torch.from_numpy(lr).to(dev), torch.from_numpy(msi).to(dev), stats).cube
            return out.float().cpu().numpy()

        cube, tiled = fuse_whole_or_tiled(fn, lr_all, msi_all, pair.scale)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return cube[0], tiled

    def frame_blur(self, pair: FusionPair) -> np.ndarray | None:
        assert self.model is not None
        lr, msi = (torch.from_numpy(c.data[None]).to(self.device) for c in (pair.lrhsi, pair.hrmsi))
        with torch.no_grad():
            taps = self.model.frame_blur(lr, msi)
        return None if taps is None else taps[0].double().cpu().numpy()


@dataclass
class PhysicsOnlyTorchMethod(TorchMethod):
    """The network's in-graph physics alone: its head's learnt detail set to zero, so the output is the HPM
    prior put through the back-projections. What the learnt part adds is the network's score minus this one's.
    The timing includes the unused network and means nothing."""

    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        assert self.model is not None
        hook = self.model.head.register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))
        try:
            return super()._fuse(pair)
        finally:
            hook.remove()


@dataclass
class RetargetedTorchMethod(TorchMethod):
    """The network with the blur each pair shows put inside its graph (`models.psf_estimate`), as `spectra
    retarget-psf` does for a camera; the estimate is part of the timed fusion."""

    def _blur(self, base: FusionNet, pair: FusionPair) -> float | np.ndarray:
        """The blur put in the graph: the Gaussian sigma the pair shows."""
        return estimate_psf_sigma(base, pair.lrhsi.data, pair.hrmsi.data)

    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        base = self.model
        assert base is not None
        self.model = retargeted(base, self._blur(base, pair)).to(self.device).eval()
        try:
            return super()._fuse(pair)
        finally:
            self.model = base


@dataclass
class SubspaceMethod(Method):
    """Another method fed the LR-HSI denoised with the HR-MSI's help (`models.subspace.msi_guided`, the
    HR-MSI degraded by the blur the network's statistics graph finds on the pair as captured, or by the card's
    PSF), its output projected onto the LR-HSI's signal subspace.

    As `spectra fuse --denoise subspace` does, or with `auto` as its default `--denoise auto` does (only when
    the LR-HSI reads below `AUTO_DENOISE_SNR_DB`); the subspace is estimated within the timed fusion.
    """

    inner: Method | None = None
    band_valid: np.ndarray | None = None
    psf: GaussianPSF | None = None
    auto: bool = False

    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        assert self.inner is not None and self.psf is not None
        valid = self.band_valid if pair.lrhsi.band_mask is None else self.band_valid & pair.lrhsi.band_mask
        subspace = signal_subspace(pair.lrhsi.data, valid)
        if self.auto and subspace.snr_db >= AUTO_DENOISE_SNR_DB:
            return self.inner._fuse(pair)
        # in the pair's own register when the network finds it out of the card's (the SDK's `fedInputs`)
        blur = self.inner.frame_blur(pair)
        hr = pair.hrmsi.data
        lrmsi = (
            spatial_degrade(hr, pair.scale, self.psf)
            if blur is None
            else separable_degrade(hr, pair.scale, *blur)
        )
        guided = replace(pair, lrhsi=pair.lrhsi.with_data(msi_guided(pair.lrhsi.data, lrmsi, subspace)))
        cube, tiled = self.inner._fuse(guided)
        return project(cube, subspace), tiled


def subspace_method(inner: Method, facts: ModelFacts, auto: bool = False) -> SubspaceMethod:
    """``inner`` followed by the signal-subspace projection, named ``<inner> + subspace`` (``+ auto denoise``
    with ``auto``: projected only below ``AUTO_DENOISE_SNR_DB``)."""
    return SubspaceMethod(
        name=f"{inner.name} + {'auto denoise' if auto else 'subspace'}",
        kind=inner.kind,
        params=inner.params,
        macs_per_hr_pixel=inner.macs_per_hr_pixel,
        inner=inner,
        band_valid=np.asarray(facts.band_valid, dtype=bool),
        psf=GaussianPSF(facts.psf_kernel_size, facts.psf_sigma),
        auto=auto,
    )


@dataclass
class FittedPsfTorchMethod(RetargetedTorchMethod):
    """The network with the blur each pair shows, fitted as free symmetric taps (`fit_psf_taps`), inside its
    graph, as `spectra retarget-psf --shape free` does; the fit is part of the timed fusion."""

    def _blur(self, base: FusionNet, pair: FusionPair) -> float | np.ndarray:
        return fit_psf_taps(base, pair.lrhsi.data, pair.hrmsi.data)


def torch_method(name: str, model: FusionNet, device: str) -> TorchMethod:
    """Wrap a network; MACs per HR pixel come from `per_pixel_complexity` (the mirror frame not counted)."""
    dev = torch.device(device)
    complexity = per_pixel_complexity(model.config)
    return TorchMethod(
        name=name,
        kind="network",
        params=complexity.params,
        macs_per_hr_pixel=complexity.macs_per_hr_pixel,
        model=model.to(dev).eval(),
        device=dev,
    )


@dataclass
class OnnxMethod(Method):
    """An exported model run through onnxruntime, so the shipped file is scored as shipped."""

    runner: OnnxFusion | None = None
    card: dict[str, Any] = field(default_factory=dict)

    def frame_blur(self, pair: FusionPair) -> np.ndarray | None:
        assert self.runner is not None
        stats = self.runner.statistics(pair.lrhsi.data[None], pair.hrmsi.data[None])
        return None if stats is None else fitted_blur(stats[0].astype(np.float64), self.card)

    def describe(self) -> dict[str, Any]:
        providers = [] if self.runner is None else self.runner.providers()
        return {**super().describe(), "providers": providers}

    def _fuse(self, pair: FusionPair) -> tuple[np.ndarray, bool]:
        assert self.runner is not None
        lr, msi = pair.lrhsi.data[None], pair.hrmsi.data[None]
        cube, tiled = fuse_whole_or_tiled(self.runner.tile_fn(lr, msi), lr, msi, pair.scale)
        return cube[0], tiled


def onnx_method(path: Path, facts: ModelFacts, device: str) -> OnnxMethod:
    """Open an ONNX export and check its card describes the checkpoint's model (bands, MSI, scale).

    Raises:
        CheckpointError: no readable card next to the ONNX, or a graph without inputs lrhsi/hrmsi.
        WavelengthError / BandCountError: the card's bands or MSI differ from the checkpoint's.
    """
    card_path = card_path_for(path)
    try:
        card = json.loads(card_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read the model card next to the ONNX: {exc}", card_path) from exc
    wl = np.asarray(card.get("hsi", {}).get("wavelengths_nm", []), dtype=np.float64)
    if wl.shape != facts.wavelengths.shape or not np.allclose(wl, facts.wavelengths):
        raise WavelengthError(
            f"ONNX card has {wl.size} bands; the checkpoint's model has {facts.wavelengths.size} "
            f"({facts.wavelengths[0]:.0f}-{facts.wavelengths[-1]:.0f} nm)",
            card_path,
        )
    names = tuple(card.get("msi", {}).get("band_names", ()))
    if names != facts.msi_band_names or int(card.get("scale", 0)) != facts.scale:
        raise BandCountError(
            f"ONNX card MSI {list(names)} at scale {card.get('scale')}; the checkpoint expects "
            f"{list(facts.msi_band_names)} at scale {facts.scale}",
            card_path,
        )
    providers = ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        runner = OnnxFusion(path, providers)
    except ExportError as exc:
        raise CheckpointError(exc.args[0] if exc.args else str(exc), path) from exc
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise CheckpointError(f"onnxruntime cannot open the model: {exc}", path) from exc
    inputs = runner.input_names
    if sorted(set(inputs) - {STATS_NAME}) != sorted(INPUT_NAMES):
        raise CheckpointError(f"ONNX inputs are {inputs}; expected {list(INPUT_NAMES)}", path)
    role = str(card.get("role", "model"))
    macs = card.get("macs_per_hr_pixel")
    return OnnxMethod(
        name=f"{role} (onnx)",
        kind="onnx",
        params=None if card.get("params") is None else int(card["params"]),
        macs_per_hr_pixel=None if macs is None else float(macs),
        runner=runner,
        card=card,
    )
