"""Write partial-coverage test vectors (real band tables -> model grids) for the TypeScript SDK's toModelGrid."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from spectra_distill.data.atomic import atomic_path
from spectra_distill.data.coverage import to_model_grid
from spectra_distill.data.cube import Cube
from spectra_distill.data.descriptors import default_data_root
from spectra_distill.data.resample import GRIDS

REPO_ROOT = Path(__file__).resolve().parents[3]

# EO-1 Hyperion as commonly delivered for analysis (no Hyperion cube is in the shared data): VNIR channels 8-57
# (426.8-925.4 nm, 10.18 nm apart) and SWIR channels 77-224 (912.5-2395.5 nm, 10.09 nm apart), minus the
# water-vapour and noisy channels 121-126, 167-180 and 222-224; FWHM about 11 nm. Only the grid matters here.
HYPERION_VNIR = 426.82 + 10.18 * np.arange(50)
HYPERION_SWIR = 912.45 + 10.09 * np.arange(148)
HYPERION_DROPPED = set(range(121, 127)) | set(range(167, 181)) | {222, 223, 224}


def hyperion_like() -> tuple[np.ndarray, np.ndarray]:
    swir_channels = np.arange(77, 225)
    keep = np.array([c not in HYPERION_DROPPED for c in swir_channels])
    wl = np.concatenate([HYPERION_VNIR, HYPERION_SWIR[keep]])
    return wl, np.full(wl.shape, 11.0)


def _columns(path: Path, *names: str) -> list[np.ndarray]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return [np.array([float(r[n]) for r in rows]) for n in names]


def _card_band_valid(name: str, bands: int) -> np.ndarray:
    card = REPO_ROOT / "models" / f"{name}.card.json"
    if not card.exists():
        return np.ones(bands, dtype=bool)
    valid = json.loads(card.read_text())["hsi"].get("band_valid")
    return np.ones(bands, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)


def _cube(wl: np.ndarray, fwhm: np.ndarray | None, mask: np.ndarray | None, seed: int) -> Cube:
    """A 3 x 4 cube of smooth, pixel-varying spectra on the source grid (zeros in masked bands, as readers give)."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(0.1, 0.4, (3, 1, 12))
    x = wl[:, None] / 1000.0
    data = (a + b * np.sin(3.0 * x + c) + 0.05 * x).astype(np.float32)
    if mask is not None:
        data[~mask] = 0.0
    return Cube(data.reshape(wl.size, 3, 4), wl, fwhm=fwhm, band_mask=mask)


def build_cases(root: Path) -> list[dict[str, object]]:
    vnir, cave = GRIDS["vnir_swir_10nm"], GRIDS["cave31"]
    rs_valid = _card_band_valid("student-rs206-s2x4-x4", vnir.wavelengths.size)
    (houston,) = _columns(root / "houston2018_crop" / "houston_bands.csv", "approx_wavelength_nm")
    (urban1,) = _columns(root / "abu_anomaly" / "abu_urban_1_bands.csv", "approx_center_nm")
    (samson,) = _columns(root / "samson" / "samson_bands.csv", "approx_wavelength_nm")
    sal_wl, sal_fw = _columns(
        root / "salinas_a" / "salinas_a_bands.csv", "center_nm_aviris1995_table", "fwhm_nm_aviris1995_table"
    )
    en_wl, en_fw, en_ok = _columns(
        root / "enmap_potsdam" / "enmap_potsdam_bands.csv", "center_nm", "fwhm_nm", "bbl_good"
    )
    hyp_wl, hyp_fw = hyperion_like()
    cave_gap = np.ones(31, dtype=bool)
    cave_gap[14] = False
    specs = [
        (
            "EO-1 Hyperion-like grid (water bands removed) -> vnir_swir_10nm",
            hyp_wl,
            hyp_fw,
            None,
            vnir,
            rs_valid,
        ),
        ("Houston CASI 48 bands 380-1050 nm, no fwhm -> vnir_swir_10nm", houston, None, None, vnir, rs_valid),
        ("Houston CASI -> cave31", houston, None, None, cave, None),
        ("ABU urban-1 AVIRIS (own removed bands) -> vnir_swir_10nm", urban1, None, None, vnir, rs_valid),
        ("Salinas-A (fwhm, spectrometer overlap) -> vnir_swir_10nm", sal_wl, sal_fw, None, vnir, rs_valid),
        ("EnMAP (bbl masks 6 bands) -> vnir_swir_10nm", en_wl, en_fw, en_ok > 0.5, vnir, rs_valid),
        ("Samson 401-889 nm -> cave31", samson, None, None, cave, None),
        (
            "cave31 with 540 nm marked bad -> cave31 (resampled, the gap stays invalid)",
            cave.wavelengths,
            None,
            cave_gap,
            cave,
            None,
        ),
        ("cave31 complete -> cave31 (passes through)", cave.wavelengths, None, None, cave, None),
    ]
    cases = []
    for i, (name, wl, fw, mask, grid, learnt) in enumerate(specs):
        cube = _cube(np.asarray(wl, dtype=np.float64), fw, mask, seed=i)
        out = to_model_grid(cube, grid.wavelengths, grid.fwhm, learnt)
        cases.append(
            {
                "name": name,
                "src_wl": cube.wavelengths.tolist(),
                "src_fwhm": None if fw is None else np.asarray(fw).tolist(),
                "src_mask": None if mask is None else np.asarray(mask, dtype=bool).tolist(),
                "shape": [cube.bands, cube.height, cube.width],
                "src": cube.data.ravel().tolist(),
                "dst_wl": grid.wavelengths.tolist(),
                "dst_fwhm": grid.fwhm.tolist(),
                "model_band_valid": None if learnt is None else np.asarray(learnt, dtype=bool).tolist(),
                "band_valid": out.band_valid.tolist(),
                "covered": out.covered.tolist(),
                "resampled": out.resampled,
                "dst": out.data.ravel().tolist(),
            }
        )
    return cases


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("test/fixtures/sdk-parity/coverage-vectors.json"),
        help="JSON file the TypeScript parity test reads (default: %(default)s)",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="data root (default: SPECTRA_DATA or ../shared/data)"
    )


def run(args: argparse.Namespace) -> int:
    root = args.data or default_data_root()
    doc = {
        "generated_by": "spectra-distill coverage-vectors",
        "layout": "src/dst are band-sequential [band][row][col] float32 values; null = not given",
        "cases": build_cases(Path(root)),
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(doc, allow_nan=False) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {args.out}")
    for c in doc["cases"]:
        print(f"  {c['name']}: {sum(c['band_valid'])} of {len(c['band_valid'])} model bands valid")
    return 0
