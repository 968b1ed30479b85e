"""Model card (`<name>.card.json`, schema `spectra-edge/model-card@1`, see docs/model-card.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from spectra_distill.errors import BandCountError, CheckpointError, ScaleError, WavelengthError
from spectra_distill.models.net import FusionNetConfig, InputStatistics
from spectra_distill.models.physics import (
    BACKPROJECTION_WINDOW,
    MSI_DETAIL_SIGMAS,
    MSI_NOISE_BLOCK,
    MSI_NOISE_COMMON,
    PAN_DETAIL_GAIN,
    PSF_SIGMAS,
    PSF_SWITCH_MARGIN,
    SHIFT_RESPONSE,
    SRF_FIT_RIDGE,
    SRF_NOISE_RIDGE,
    wide_taps,
)

CARD_SCHEMA = "spectra-edge/model-card@1"
NORMALISATION_TEXT = (
    "physical units 0..1 (reflectance, or raw values divided by value_scale); inside the graph each band "
    "maps x -> (x - mean) / std with the constants in `statistics`, and the output y -> y * std + mean "
    "(or, with architecture.lr_skip, y * std added to the bilinearly upsampled LR-HSI)"
)
INPUT_NORMALISATION_TEXT = (
    "any consistent units (reflectance, radiance or raw counts; value_scale only documents the training data): "
    "the graph measures each LR-HSI band's mean level and maps the HR-MSI onto the LR-HSI's units through the "
    "SRF (architecture.input_norm), so scaling both inputs by k scales the output by k; the output is in the "
    "LR-HSI's units. The HPM prior (architecture.prior) and the consistency steps (architecture."
    "consistency_steps) use the card's psf and msi.srf inside the graph"
)
SRF_ROW_SUM_TOL = 1e-4


@dataclass(frozen=True)
class CardFacts:
    """Data facts a model card needs, as the training checkpoint's `card` entry stores them.

    Attributes:
        wavelengths: (B,) HSI band centres in nm.
        msi: {'preset', 'band_names', 'srf' (b x B rows summing to 1), 'srf_file'}.
        psf: {'type', 'sigma', 'kernel_size'} used to simulate the LR-HSI.
        scale: Spatial ratio H / h.
        fwhm: (B,) band widths in nm, or None.
        band_valid: (B,) False for bands masked out of training; None means all valid.
        value_scale: Per dataset, what raw values were divided by to get 0..1 physical units.
        datasets: Training datasets.
        split: Split file or name used for training/validation.
    """

    wavelengths: list[float]
    msi: dict[str, Any]
    psf: dict[str, Any]
    scale: int
    fwhm: list[float] | None = None
    band_valid: list[bool] | None = None
    value_scale: dict[str, float] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    split: str | None = None

    @classmethod
    def from_dict(cls, facts: dict[str, Any], source: str | Path | None = None) -> CardFacts:
        """Validate a plain dict (e.g. `checkpoint['card']`); errors name `source`.

        Raises:
            CheckpointError: a required key is missing or an unknown key is present.
        """
        required = ("wavelengths", "msi", "psf", "scale")
        missing = [k for k in required if facts.get(k) is None]
        if missing:
            raise CheckpointError(
                f"card facts lack {', '.join(missing)}; required: {', '.join(required)}", source
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(facts) - known)
        if unknown:
            raise CheckpointError(
                f"unknown card fact(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}", source
            )
        for key in ("preset", "band_names", "srf"):
            if key not in facts["msi"]:
                raise CheckpointError(f"card facts msi lacks '{key}'", source)
        return cls(**facts)

    def check_against(self, config: FusionNetConfig, source: str | Path | None = None) -> None:
        """Raise a typed error when the facts do not describe a model with this config."""
        bands = config.hsi_bands
        wl = np.asarray(self.wavelengths, dtype=np.float64)
        if wl.shape != (bands,):
            raise WavelengthError(f"card has {wl.size} wavelengths for a {bands}-band model", source)
        if not np.all(np.isfinite(wl)) or np.any(np.diff(wl) <= 0):
            raise WavelengthError("card wavelengths must be finite and strictly increasing", source)
        for name, values in (("fwhm", self.fwhm), ("band_valid", self.band_valid)):
            if values is not None and len(values) != bands:
                raise BandCountError(
                    f"card {name} has {len(values)} entries for a {bands}-band model", source
                )
        srf = np.asarray(self.msi["srf"], dtype=np.float64)
        if srf.shape != (config.msi_bands, bands):
            raise BandCountError(
                f"card msi.srf has shape {srf.shape}; expected ({config.msi_bands}, {bands})", source
            )
        if np.any(np.abs(srf.sum(axis=1) - 1.0) > SRF_ROW_SUM_TOL):
            raise BandCountError(
                f"card msi.srf rows must sum to 1; sums are {srf.sum(axis=1).round(6)}", source
            )
        names = self.msi["band_names"]
        if len(names) != config.msi_bands:
            raise BandCountError(
                f"card msi.band_names has {len(names)} names for {config.msi_bands} MSI bands",
                source,
            )
        if int(self.scale) != config.scale:
            raise ScaleError(f"card scale {self.scale} differs from the model's scale {config.scale}", source)


def _psf(psf: dict[str, Any], config: FusionNetConfig) -> dict[str, Any]:
    """The card's PSF, and with `psf_estimate` the rule by which the statistics graph replaces it per
    frame: a Gaussian of `sigmas_px`, or (`free_taps`) symmetric taps fitted to the pair, or (`shift_taps`)
    those moved off the middle of each s x s block and refitted, over that many taps per axis, each move
    judged through the card's SRF or with its own fitted response (`shift_response`,
    `physics.SHIFT_RESPONSE`)."""
    out = {k: v for k, v in psf.items() if k != "per_frame"}
    if config.psf_estimate:
        out["per_frame"] = {
            "sigmas_px": [PSF_SIGMAS[0], PSF_SIGMAS[-1]],
            "step_px": round(PSF_SIGMAS[1] - PSF_SIGMAS[0], 3),
            "switch_margin": PSF_SWITCH_MARGIN,
            "free_taps": True,
            **(
                {
                    "shift_taps": wide_taps(config.psf_kernel, config.scale),
                    "shift_response": SHIFT_RESPONSE if config.srf_estimate else "card",
                }
                if config.shift_estimate
                else {}
            ),
        }
    return out


def build_card(
    facts: CardFacts,
    config: FusionNetConfig,
    *,
    name: str,
    role: str,
    preset: str,
    onnx_file: str,
    onnx_sha256: str,
    opset: int,
    params: int,
    macs_per_hr_pixel: float,
    statistics: InputStatistics,
    frame_statistics: dict[str, Any] | None = None,
    weights: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """The model card as a JSON-ready dict (docs/model-card.md).

    `statistics` are the graph's per-band normalisation constants (`FusionNet.input_statistics()`);
    `frame_statistics` names the statistics graph of a network that measures its inputs per image
    ({graph, sha256, input, length}), None for one that does not. `weights` names the PyTorch weights file
    beside the model that `spectra-distill adapt` (and `spectra adapt`) fine-tune ({file, sha256}).
    """
    bands, msi_bands = config.hsi_bands, config.msi_bands
    band_valid = facts.band_valid if facts.band_valid is not None else [True] * bands
    training_block = {"datasets": list(facts.datasets), "split": facts.split, **(training or {})}
    return {
        "schema": CARD_SCHEMA,
        "name": name,
        "role": role,
        "preset": preset,
        "onnx": onnx_file,
        "onnx_sha256": onnx_sha256,
        "precision": "fp32",
        "opset": opset,
        "scale": config.scale,
        "spatial_multiple": config.scale,
        # the graph mirrors border_pad LR pixels at each edge, which needs that many to mirror
        "min_lr_size": max(1, config.border_pad),
        "hsi": {
            "bands": bands,
            "wavelengths_nm": [float(w) for w in facts.wavelengths],
            "fwhm_nm": None if facts.fwhm is None else [float(f) for f in facts.fwhm],
            "band_valid": [bool(v) for v in band_valid],
        },
        "msi": {
            "preset": facts.msi["preset"],
            "bands": msi_bands,
            "band_names": list(facts.msi["band_names"]),
            "srf_file": facts.msi.get("srf_file"),
            "srf": [[float(v) for v in row] for row in facts.msi["srf"]],
            **(
                {
                    "per_frame": {
                        "fit": "ridge_to_card",
                        "ridge": SRF_FIT_RIDGE,
                        "noise_ridge": SRF_NOISE_RIDGE,
                    }
                }
                if config.srf_estimate
                else {}
            ),
            **(
                {
                    "denoise": {
                        "detail_sigmas_px": list(MSI_DETAIL_SIGMAS),
                        "block_px": MSI_NOISE_BLOCK,
                        "common_noise": MSI_NOISE_COMMON,
                        # the statistics carry b more values, the noise the shrunk HR-MSI keeps
                        "backprojection_window_px": BACKPROJECTION_WINDOW,
                        **(
                            {"pan_detail_window_px": BACKPROJECTION_WINDOW}
                            if PAN_DETAIL_GAIN and config.prior == "hpm_regression"
                            else {}
                        ),
                    }
                }
                if config.msi_denoise
                else {}
            ),
        },
        "psf": _psf(facts.psf, config),
        "io": {
            "inputs": {
                "lrhsi": {"shape": ["N", bands, "h", "w"], "dtype": "float32"},
                "hrmsi": {"shape": ["N", msi_bands, "H", "W"], "dtype": "float32"},
                **(
                    {
                        frame_statistics["input"]: {
                            "shape": ["N", frame_statistics["length"]],
                            "dtype": "float32",
                        }
                    }
                    if frame_statistics
                    else {}
                ),
            },
            "outputs": {"hrhsi": {"shape": ["N", bands, "H", "W"], "dtype": "float32"}},
            "layout": "NCHW",
        },
        "normalisation": {
            "inputs": INPUT_NORMALISATION_TEXT if config.input_norm else NORMALISATION_TEXT,
            "inside_graph": True,
            "value_scale": dict(facts.value_scale),
            "statistics": None
            if config.input_norm
            else {k: [float(v) for v in t] for k, t in statistics._asdict().items()},
        },
        **({"frame_statistics": frame_statistics} if frame_statistics else {}),
        **({"weights": weights} if weights else {}),
        "training": training_block,
        "validation": validation,
        "architecture": config.to_dict(),
        "params": int(params),
        "macs_per_hr_pixel": int(round(macs_per_hr_pixel)),
        "created": created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quantization": None,
    }


def write_card(card: dict[str, Any], path: str | Path) -> Path:
    """Write the card as indented JSON."""
    out = Path(path)
    out.write_text(json.dumps(card, indent=2) + "\n")
    return out
