from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data.cube import Cube
from spectra_distill.degrade.srf import project_cube, srf_matrix
from spectra_distill.errors import BandCountError, SRFCoverageError

VNIR = np.arange(400.0, 1001.0, 10.0)


def test_rows_sum_to_one_and_centroids_near_band_centres(srf_dir: Path) -> None:
    m = srf_matrix("srf=synthetic.csv:B,G,R,NIR", VNIR, srf_dir=srf_dir)
    assert m.matrix.shape == (4, VNIR.size)
    np.testing.assert_allclose(m.matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(m.centroids, [470, 550, 650, 850], atol=0.5)
    np.testing.assert_allclose(m.lost_fraction, 0.0, atol=1e-6)
    assert m.band_names == ("B", "G", "R", "NIR")


def test_support_outside_cube_raises_with_band_and_missing_range(srf_dir: Path) -> None:
    wl = np.arange(400.0, 801.0, 10.0)
    with pytest.raises(SRFCoverageError, match=r"NIR.*bands \(395.0-805.0 nm\) miss 806-910 nm"):
        srf_matrix("srf=synthetic.csv:B,NIR", wl, srf_dir=srf_dir)


def test_clip_renormalises_and_reports_lost_fraction(srf_dir: Path) -> None:
    wl = np.arange(400.0, 851.0, 10.0)  # cuts the NIR band (850 nm centre) in half
    m = srf_matrix("srf=synthetic.csv:G,NIR", wl, clip=True, srf_dir=srf_dir)
    np.testing.assert_allclose(m.matrix.sum(axis=1), 1.0)
    assert m.lost_fraction[0] == pytest.approx(0.0, abs=1e-6)
    assert 0.3 < m.lost_fraction[1] < 0.5


def test_masked_bands_get_zero_weight_and_count_as_lost(srf_dir: Path) -> None:
    mask = np.ones(VNIR.size, dtype=bool)
    mask[(VNIR >= 540) & (VNIR <= 560)] = False
    m = srf_matrix("srf=synthetic.csv:G,R", VNIR, band_mask=mask, srf_dir=srf_dir)
    assert np.all(m.matrix[:, ~mask] == 0)
    np.testing.assert_allclose(m.matrix.sum(axis=1), 1.0)
    assert m.lost_fraction[0] > 0.3
    assert m.lost_fraction[1] < 0.01


def test_project_checks_band_count(srf_dir: Path) -> None:
    m = srf_matrix("srf=synthetic.csv:B,G", VNIR, srf_dir=srf_dir)
    hsi = np.ones((VNIR.size, 4, 4), dtype=np.float32)
    np.testing.assert_allclose(m.project(hsi), 1.0, atol=1e-6)
    with pytest.raises(BandCountError, match="built for 61 HSI bands"):
        m.project(np.ones((60, 4, 4)))
    with pytest.raises(BandCountError, match="61 bands; cube has 31"):
        project_cube(Cube(np.ones((31, 4, 4)), np.arange(31.0)), m)


def test_unknown_preset_and_missing_band(srf_dir: Path) -> None:
    with pytest.raises(ValueError, match="Unknown MSI preset 'rgbx'; known: rgb, s2_4, s2_6"):
        srf_matrix("rgbx", VNIR, srf_dir=srf_dir)
    with pytest.raises(BandCountError, match=r"\['SWIR'\] not in SRF file"):
        srf_matrix("srf=synthetic.csv:B,SWIR", VNIR, srf_dir=srf_dir)


def test_nikon_on_cave_grid_is_the_sampled_table(shared_srf: Path) -> None:
    cave = np.arange(400.0, 701.0, 10.0)
    m = srf_matrix("rgb", cave, srf_dir=shared_srf)
    table = np.loadtxt(shared_srf / "nikon_d700_srf.csv", delimiter=",", skiprows=1)[:31, 1:4].T
    np.testing.assert_allclose(m.matrix, table / table.sum(axis=1, keepdims=True), rtol=1e-10)


def test_sentinel2_presets_need_their_ranges(shared_srf: Path) -> None:
    cave = np.arange(400.0, 701.0, 10.0)
    with pytest.raises(SRFCoverageError, match="MSI band B8"):
        srf_matrix("s2_4", cave, srf_dir=shared_srf)
    vnir_swir = np.arange(400.0, 2451.0, 10.0)
    m = srf_matrix("s2_6", vnir_swir, srf_dir=shared_srf)
    assert m.band_names == ("B2", "B3", "B4", "B8", "B11", "B12")
    np.testing.assert_allclose(m.centroids, [492, 560, 665, 833, 1614, 2202], atol=15)
    with pytest.raises(SRFCoverageError, match="MSI band B11"):
        srf_matrix("s2_6", np.arange(400.0, 1001.0, 10.0), srf_dir=shared_srf)


def test_custom_file_relative_to_srf_dir(tmp_path: Path, make_srf_csv: Callable[..., Path]) -> None:
    make_srf_csv(tmp_path / "cam.csv", {"X": 600.0})
    m = srf_matrix("srf=cam.csv:X", VNIR, srf_dir=tmp_path)
    assert m.srf_file == "cam.csv" and m.preset == "srf=cam.csv:X"


def test_internal_gap_is_not_covered(srf_dir: Path) -> None:
    wl = VNIR[(VNIR < 800) | (VNIR > 900)]  # a removed absorption band under the NIR response
    with pytest.raises(SRFCoverageError, match=r"MSI band NIR.*miss 798-902 nm"):
        srf_matrix("srf=synthetic.csv:NIR", wl, srf_dir=srf_dir)


def test_uneven_sampling_is_weighted_by_band_width(srf_dir: Path) -> None:
    # extra bands on the short-wave side of the NIR response would pull a point-sampled centroid down
    dense = np.sort(np.concatenate([VNIR, np.arange(801.0, 850.0, 2.0)]))
    m = srf_matrix("srf=synthetic.csv:NIR", dense, srf_dir=srf_dir)
    assert m.centroids[0] == pytest.approx(850.0, abs=1.0)
    point = np.interp(
        dense, np.arange(400.0, 1001.0), np.exp(-0.5 * ((np.arange(400.0, 1001.0) - 850) / 20) ** 2)
    )
    assert (point @ dense) / point.sum() < 845.0
