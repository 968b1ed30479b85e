"""Write the tiny real-architecture student (ONNX + card + reference pair) used by the TypeScript tests."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spectra_distill.errors import SRFCoverageError
from spectra_distill.export import CardFacts, export_model
from spectra_distill.models import create_model

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SRF_CSV = REPO_ROOT.parent / "shared" / "data" / "srf" / "nikon_d700_srf.csv"
# 8 bands inside the Nikon D700 response range (400-720 nm), so the RGB SRF is fully covered.
WAVELENGTHS = np.arange(420.0, 701.0, 40.0)
FWHM_NM = 40.0
SCALE = 4
LR_SIZE = 8


def gaussian_psf(scale: int) -> tuple[dict[str, object], np.ndarray]:
    """Kernel 2s x 2s, sigma s/2 (8 x 8, sigma 2 at s = 4), the literature default the degrade module uses.

    Returns the card's psf entry and the normalised 1-D taps.
    """
    size, sigma = 2 * scale, scale / 2.0
    offsets = np.arange(size) - (size - 1) / 2.0
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return {"type": "gaussian", "sigma": sigma, "kernel_size": size}, taps / taps.sum()


def rgb_srf(csv_path: Path, wavelengths: np.ndarray) -> np.ndarray:
    """Nikon D700 R, G, B responses sampled at the band centres, rows normalised to sum 1 (3 x B)."""
    if not csv_path.is_file():
        raise SRFCoverageError("SRF table not found (pass --srf-csv)", csv_path)
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    if wavelengths.min() < table[0, 0] or wavelengths.max() > table[-1, 0]:
        raise SRFCoverageError(
            f"bands {wavelengths.min():.0f}-{wavelengths.max():.0f} nm exceed the table's "
            f"{table[0, 0]:.0f}-{table[-1, 0]:.0f} nm",
            csv_path,
        )
    # The CSV columns are R, G, B; the card lists bands in wavelength order B, G, R.
    rows = [np.interp(wavelengths, table[:, 0], table[:, col]) for col in (3, 2, 1)]
    srf = np.stack(rows)
    return srf / srf.sum(axis=1, keepdims=True)


def synthetic_scene(bands: int, size: int, seed: int) -> np.ndarray:
    """A smooth (bands, size, size) scene in 0.05..0.95: Gaussian blobs, each with its own smooth spectrum."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    x = np.linspace(0.0, 1.0, bands)
    scene = np.full((bands, size, size), 0.1)
    for _ in range(6):
        cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
        spectrum = 0.4 + 0.3 * np.sin(2 * np.pi * (rng.uniform(0.3, 1.2) * x + rng.uniform()))
        scene += spectrum[:, None, None] * blob[None]
    return np.clip(scene / scene.max() * 0.95, 0.05, 0.95).astype(np.float32)


def degrade(
    truth: np.ndarray, taps: np.ndarray, srf: np.ndarray, scale: int
) -> tuple[np.ndarray, np.ndarray]:
    """Wald simulation: LR-HSI = Gaussian blur (reflect pad) + decimation; HR-MSI = SRF projection."""
    hr = torch.from_numpy(truth)[None]
    pad = (len(taps) - scale) // 2
    kernel = torch.from_numpy(np.outer(taps, taps)).float()[None, None].repeat(truth.shape[0], 1, 1, 1)
    lr = F.conv2d(F.pad(hr, (pad,) * 4, mode="reflect"), kernel, stride=scale, groups=truth.shape[0])
    msi = np.einsum("cb,bhw->chw", srf.astype(np.float32), truth)
    return lr.numpy()[0], msi.astype(np.float32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("test/fixtures/tiny"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and of the scene")
    parser.add_argument("--srf-csv", type=Path, default=DEFAULT_SRF_CSV, help="Nikon D700 SRF table")


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    bands = len(WAVELENGTHS)
    model = create_model("student", "test_tiny", hsi_bands=bands, msi_bands=3, scale=SCALE).eval()
    psf, taps = gaussian_psf(SCALE)
    srf = rgb_srf(args.srf_csv, WAVELENGTHS)
    facts = CardFacts(
        wavelengths=WAVELENGTHS.tolist(),
        fwhm=[FWHM_NM] * bands,
        msi={
            "preset": "rgb",
            "band_names": ["B", "G", "R"],
            "srf": srf.tolist(),
            "srf_file": args.srf_csv.name,
        },
        psf=psf,
        scale=SCALE,
        value_scale={"synthetic": 1.0},
        datasets=["synthetic"],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = export_model(
        model,
        facts,
        args.out / "tiny-student.onnx",
        role="student",
        preset="test_tiny",
        training={
            "command": f"spectra-distill fixture --out {args.out} --seed {args.seed}",
            "note": "untrained: random initialisation with a fixed seed; for tests only",
        },
    )
    truth = synthetic_scene(bands, LR_SIZE * SCALE, args.seed)
    lrhsi, hrmsi = degrade(truth, taps, srf, SCALE)
    with torch.no_grad():
        hrhsi = model(torch.from_numpy(lrhsi)[None], torch.from_numpy(hrmsi)[None]).cube.numpy()
    arrays = {"lrhsi": lrhsi[None], "hrmsi": hrmsi[None], "hrhsi": hrhsi, "truth": truth[None]}
    for key, value in arrays.items():
        np.save(args.out / f"reference-{key}.npy", value.astype(np.float32))
    (args.out / "README.md").write_text(README.format(seed=args.seed, out=args.out))
    worst = max(p.max_abs_diff for p in result.parity)
    print(f"wrote {result.onnx_path} and {result.card_path}; ONNX vs PyTorch max abs diff {worst:.2e}")
    return 0


README = """# Tiny real-architecture student (test fixture)

Generated by `spectra-distill fixture --out {out} --seed {seed}`; do not edit by hand.

- `tiny-student.onnx` + `tiny-student.card.json`: the CSAKD student at preset `test_tiny` (nf=8), 8 bands at
  420..700 nm (step 40), 3 MSI bands (B, G, R; Nikon D700 SRF sampled at the band centres), scale 4,
  random weights (seed {seed}), untrained. Inputs and output in physical units 0..1.
- `reference-truth.npy` (1, 8, 32, 32): smooth synthetic scene.
- `reference-lrhsi.npy` (1, 8, 8, 8): the scene blurred with the card's PSF (reflect padding),
  decimated x4.
- `reference-hrmsi.npy` (1, 3, 32, 32): the scene projected through the card's SRF.
- `reference-hrhsi.npy` (1, 8, 32, 32): the PyTorch output of the model for these inputs
  (parity target, 1e-4).
"""
