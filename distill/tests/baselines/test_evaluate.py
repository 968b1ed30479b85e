from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.baselines.evaluate import evaluate_baselines, fit_to_scale, to_markdown
from spectra_distill.data.cube import Cube
from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.degrade.psf import default_psf, spatial_degrade
from spectra_distill.degrade.srf import SRFMatrix
from spectra_distill.errors import SRFCoverageError

WL = np.arange(400.0, 701.0, 30.0)


def _make(cube: Cube, preset: str) -> FusionPair:
    if preset == "wide":
        raise SRFCoverageError(
            "MSI band NIR of 'wide' responds over 780-900 nm but the cube covers 385-715 nm"
        )
    m = np.zeros((2, WL.size))
    m[0, :5], m[1, 5:] = 0.2, 1 / (WL.size - 5)
    srf = SRFMatrix(m, ("A", "B"), m @ WL, np.zeros(2), preset, "x.csv")
    psf = default_psf(4)
    lr = cube.with_data(spatial_degrade(cube.data, 4, psf))
    return FusionPair(lr, Cube(srf.project(cube.data), srf.centroids), cube, srf, psf, 4)


def test_report_rows_skips_and_markdown() -> None:
    rng = np.random.default_rng(0)
    regions = [("synth", Cube(rng.random((WL.size, 32, 32)) + 0.1, WL)) for _ in range(2)]
    regions.append(("tiny", Cube(rng.random((WL.size, 8, 8)) + 0.1, WL)))
    report = evaluate_baselines(regions, ["narrow", "wide"], ["bicubic", "sfim"], 4, _make)
    assert set(report.rows) == {("narrow", "synth", "bicubic"), ("narrow", "synth", "sfim")}
    assert report.regions[("narrow", "synth")] == 2
    assert "too small" in report.skipped[("narrow", "tiny")]
    assert "780-900 nm" in report.skipped[("wide", "synth")]
    row = report.rows[("narrow", "synth", "sfim")]
    assert np.isfinite(row["psnr"]) and row["seconds"] >= 0
    md = to_markdown(report, "spectra-distill baselines --msi narrow wide")
    assert "Regenerate: `spectra-distill baselines --msi narrow wide`" in md
    assert "| synth | 2 | sfim |" in md and "- synth: MSI band NIR" in md
    doc = report.as_json()
    assert len(doc["results"]) == 2 and len(doc["skipped"]) == 3


def test_fit_to_scale_crops_remainder() -> None:
    cube = Cube(np.zeros((2, 30, 35)), np.array([500.0, 600.0]))
    assert (fit_to_scale(cube, 4).height, fit_to_scale(cube, 4).width) == (28, 32)


def test_pixels_without_msi_data_are_not_scored() -> None:
    rng = np.random.default_rng(1)
    cube = Cube(rng.random((WL.size, 32, 32)) + 0.1, WL)
    gap = np.ones((32, 32), dtype=bool)
    gap[:, 20:] = False

    def with_gap(c: Cube, preset: str) -> FusionPair:
        p = _make(c, preset)
        msi = Cube(np.where(gap, p.hrmsi.data, 0.0), p.hrmsi.wavelengths, valid=gap)
        return FusionPair(p.lrhsi, msi, p.hrhsi, p.srf, p.psf, 4)

    full = evaluate_baselines([("d", cube)], ["n"], ["bicubic"], 4, _make).rows[("n", "d", "bicubic")]
    masked = evaluate_baselines([("d", cube)], ["n"], ["bicubic"], 4, with_gap).rows[("n", "d", "bicubic")]
    from spectra_distill.baselines import bicubic

    expected = bicubic(_make(cube, "n"))[:, :, :20]
    assert masked["rmse"] == pytest.approx(float(np.sqrt(np.mean((expected - cube.data[:, :, :20]) ** 2))))
    assert masked["rmse"] != pytest.approx(full["rmse"])
