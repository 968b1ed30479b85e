"""Signal-subspace projection: removes noise outside what the LR-HSI spans, changes little on clean data."""

from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.models.subspace import AUTO_DENOISE_SNR_DB, project, signal_subspace


def _scene(
    bands: int = 60, side: int = 16, materials: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    wl = np.linspace(0, 1, bands)
    # smooth spectra, as real ones are at this sampling: a band is predictable from its neighbours
    ends = np.stack(
        [0.3 + 0.2 * np.sin(2 * np.pi * (f * wl + rng.random())) for f in rng.uniform(0.2, 1.0, materials)]
    )
    abund = rng.dirichlet(np.ones(materials), size=(4 * side) ** 2).T
    hr = (ends.T @ abund).reshape(bands, 4 * side, 4 * side)
    lr = hr.reshape(bands, side, 4, side, 4).mean(axis=(2, 4))
    return lr, hr


def _psnr(x: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(ref.max() ** 2 / np.mean((x - ref) ** 2)))


@pytest.mark.parametrize("snr_db", [20.0, 30.0])
def test_projection_removes_noise_spread_over_the_bands(snr_db: float) -> None:
    lr, truth = _scene()
    rng = np.random.default_rng(1)
    sigma = np.sqrt((lr**2).mean() / 10 ** (snr_db / 10))
    noisy_lr = lr + rng.normal(0, sigma, lr.shape)
    # a fused output carrying the same noise level as its input
    fused = truth + rng.normal(0, sigma, truth.shape)
    sub = signal_subspace(noisy_lr)
    # the SNR it reads is the one the noise was drawn at (what `--denoise auto` decides on)
    assert abs(sub.snr_db - snr_db) < 3.0 and sub.snr_db < AUTO_DENOISE_SNR_DB, sub.snr_db
    # 5 materials mixed with abundances summing to one span 4 directions; those weaker than the noise are dropped
    assert 1 <= sub.rank <= 4, sub.rank
    gain = _psnr(project(fused, sub), truth) - _psnr(fused, truth)
    assert gain > 2.0, gain  # 60 bands onto a few directions: most of the noise power goes


def test_a_small_capture_with_many_bands_keeps_only_its_signal_directions() -> None:
    # 206 bands over 10 x 10 LR pixels (a validation region holds 108): sampling alone spreads the noise
    # eigenvalues far above the noise variance; HySime's plain rule took most of them for signal
    lr, truth = _scene(bands=206, side=10, materials=4, seed=7)
    rng = np.random.default_rng(8)
    sigma = np.sqrt((lr**2).mean() / 10 ** (30.0 / 10))
    noisy_lr = lr + rng.normal(0, sigma, lr.shape)
    fused = truth + rng.normal(0, sigma, truth.shape)
    sub = signal_subspace(noisy_lr)
    assert 1 <= sub.rank <= 3, sub.rank  # 4 materials summing to one span 3 directions
    assert _psnr(project(fused, sub), truth) - _psnr(fused, truth) > 2.0


def test_on_a_clean_capture_it_changes_little() -> None:
    lr, truth = _scene(seed=2)
    rng = np.random.default_rng(3)
    lr = lr + rng.normal(0, 1e-5, lr.shape)  # a 70 dB sensor
    sub = signal_subspace(lr)
    assert _psnr(project(truth, sub), truth) > 60.0
    assert sub.snr_db > AUTO_DENOISE_SNR_DB


def test_invalid_and_empty_bands_are_left_alone() -> None:
    lr, truth = _scene(seed=4)
    valid = np.ones(lr.shape[0], dtype=bool)
    valid[:3] = False
    lr[-1] = 0.0
    sub = signal_subspace(lr, valid)
    assert 0 not in sub.bands and lr.shape[0] - 1 not in sub.bands
    out = project(truth, sub)
    np.testing.assert_array_equal(out[:3], truth[:3])
    np.testing.assert_array_equal(out[-1], truth[-1])
    with pytest.raises(ValueError, match=">= 2 valid bands"):
        signal_subspace(lr, np.eye(lr.shape[0], dtype=bool)[0])


def test_auto_denoise_method_projects_only_below_the_threshold() -> None:
    # generalise --denoise-auto scores the ONNX student as spectra fuse runs it by default
    from dataclasses import dataclass
    from types import SimpleNamespace

    from spectra_distill.evaluate.methods import Method, subspace_method

    lr, truth = _scene(seed=5)
    rng = np.random.default_rng(6)
    fused = truth + rng.normal(0, 0.01, truth.shape)

    @dataclass
    class Fixed(Method):
        def _fuse(self, pair):  # type: ignore[no-untyped-def]
            return fused, False

    facts = SimpleNamespace(band_valid=[True] * lr.shape[0])
    auto = subspace_method(Fixed(name="net", kind="onnx"), facts, auto=True)  # type: ignore[arg-type]
    assert auto.name == "net + auto denoise"
    for noise, projected in ((1e-5, False), (0.03, True)):
        noisy = lr + rng.normal(0, noise, lr.shape)
        pair = SimpleNamespace(lrhsi=SimpleNamespace(data=noisy, band_mask=None))
        out, _ = auto._fuse(pair)  # type: ignore[arg-type]
        expected = project(fused, signal_subspace(noisy)) if projected else fused
        np.testing.assert_array_equal(out, expected)
        assert (signal_subspace(noisy).snr_db < AUTO_DENOISE_SNR_DB) == projected
