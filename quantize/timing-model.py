"""Exports an UNTRAINED cpu_small student (31 CAVE bands, RGB, x4) for CPU timing of the quantized variants.

Random weights (seed 0): its PSNR means nothing, its size and operator mix are those of the shipped student.
Usage: .venv/bin/python quantize/timing-model.py out/cpu-small/cpu-small-random.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from spectra_distill.degrade import default_psf, srf_matrix
from spectra_distill.export import CardFacts, export_model
from spectra_distill.models import create_model

SRF_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "srf"


def main(out: Path) -> None:
    torch.manual_seed(0)
    wavelengths = np.arange(400.0, 701.0, 10.0)
    model = create_model(
        "student", "cpu_small", hsi_bands=len(wavelengths), msi_bands=3, scale=4
    ).eval()
    facts = CardFacts(
        wavelengths=wavelengths.tolist(),
        fwhm=[10.0] * len(wavelengths),
        msi=srf_matrix("rgb", wavelengths, srf_dir=SRF_DIR).as_card(),
        psf=default_psf(4).as_card(),
        scale=4,
        value_scale={"cave": 65535.0},
        datasets=["cave"],
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    result = export_model(
        model,
        facts,
        out,
        role="student",
        preset="cpu_small",
        training={"note": "untrained random weights (seed 0); for timing only"},
    )
    print(
        f"wrote {result.onnx_path} ({sum(p.numel() for p in model.parameters())} parameters)"
    )


if __name__ == "__main__":
    main(
        Path(
            sys.argv[1] if len(sys.argv) > 1 else "out/cpu-small/cpu-small-random.onnx"
        )
    )
