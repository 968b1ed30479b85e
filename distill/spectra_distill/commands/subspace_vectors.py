"""Write signal-subspace test vectors for the SDK's signalSubspace / projectRows (`--denoise subspace`).

Synthetic, seeded captures (no data file is read): spectra mixed from a few smooth endmembers, with noise of a
different level per case (never none: on exactly low-rank data the rank is decided by rounding), one case with
invalid and all-zero bands. Each case holds the LR-HSI, an LR-MSI on its grid (three smooth responses of
the clean LR-HSI, with a quarter of its noise), a cube to project, and what `spectra_distill.models.subspace`
finds: the bands used, mean, noise variance, rank, the projection and the LR-HSI guided by the LR-MSI.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spectra_distill.data.atomic import atomic_path
from spectra_distill.models.subspace import msi_guided, project, signal_subspace


def _case(
    name: str, seed: int, bands: int, side: int, snr_db: float | None, invalid: tuple[int, ...]
) -> dict:
    rng = np.random.default_rng(seed)
    wl = np.linspace(0.0, 1.0, bands)
    ends = np.stack([0.3 + 0.2 * np.sin(2 * np.pi * (f * wl + rng.random())) for f in (0.5, 1.0, 1.7, 2.3)])
    abund = rng.dirichlet(np.ones(len(ends)), size=(2 * side) * (2 * side)).T  # (k, HR pixels)
    hr = (ends.T @ abund).reshape(bands, 2 * side, 2 * side).astype(np.float32)
    lr = hr.reshape(bands, side, 2, side, 2).mean(axis=(2, 4))
    sigma = np.sqrt((lr**2).mean() / 10 ** (snr_db / 10))
    response = np.stack([np.exp(-0.5 * ((wl - c) / 0.15) ** 2) for c in (0.2, 0.5, 0.8)])
    response /= response.sum(axis=1, keepdims=True)
    lrmsi = np.einsum("mb,bhw->mhw", response, lr)
    lr = lr + rng.normal(0.0, sigma, lr.shape)
    hr = hr + rng.normal(0.0, sigma, hr.shape)
    lrmsi = (lrmsi + rng.normal(0.0, sigma / 4, lrmsi.shape)).astype(np.float32)
    valid = np.ones(bands, dtype=bool)
    valid[list(invalid)] = False
    lr = lr.astype(np.float32)
    lr[list(invalid)[:1]] = 0.0  # an uncovered band, zero as the SDK fills it
    hr = hr[:, :8, :8].astype(np.float32)  # the projection is per pixel: a crop pins it as well as the whole
    sub = signal_subspace(lr, valid)
    return {
        "name": name,
        "lrhsi": {"shape": list(lr.shape), "data": lr.ravel().tolist()},
        "band_valid": valid.tolist(),
        "lrmsi": {"shape": list(lrmsi.shape), "data": lrmsi.ravel().tolist()},
        "cube": {"shape": list(hr.shape), "data": hr.ravel().tolist()},
        "bands": sub.bands.tolist(),
        "mean": sub.mean.tolist(),
        "noise_variance": sub.noise_variance.tolist(),
        "rank": sub.rank,
        "snr_db": sub.snr_db,
        "projected": project(hr, sub).ravel().tolist(),
        "guided": msi_guided(lr, lrmsi, sub).ravel().tolist(),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("test/fixtures/sdk-parity/subspace-vectors.json"),
        help="JSON file the TypeScript parity test reads (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    doc = {
        "generated_by": "spectra-distill subspace-vectors",
        "layout": "cubes are band-sequential [band][row][col] float32; bands, mean and noise_variance "
        "are over the valid bands",
        "cases": [
            _case("60 dB", 1, 24, 8, 60.0, ()),
            _case("30 dB", 2, 40, 8, 30.0, ()),
            _case("20 dB, invalid and zero bands", 3, 33, 6, 20.0, (0, 31, 32)),
            # many pixels for few bands: HySime's bound decides the rank, not the noise spread
            _case("19 dB, many pixels", 4, 12, 24, 19.0, ()),
        ],
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(doc, allow_nan=False) + "\n")
    print(f"wrote {args.out}")
    return 0
