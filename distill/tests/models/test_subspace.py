"""Signal-subspace projection: removes noise outside what the LR-HSI spans, changes little on clean data."""

from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.models.subspace import AUTO_DENOISE_SNR_DB, msi_guided, project, signal_subspace


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
    # 5 materials mixed with abundances summing to one span 4 directions; those below the noise are dropped
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


def _msi(cube: np.ndarray) -> np.ndarray:
    """Three broad bands of a (B, h, w) cube: a camera that sees the mixture."""
    return np.stack([part.mean(axis=0) for part in np.array_split(cube, 3)])


def test_msi_guided_removes_the_noise_the_subspace_keeps() -> None:
    lr, _ = _scene(bands=60, side=24, materials=4, seed=9)
    rng = np.random.default_rng(10)
    sigma = np.sqrt((lr**2).mean() / 10 ** (30.0 / 10))
    noisy = lr + rng.normal(0, sigma, lr.shape)
    sub = signal_subspace(noisy)
    lrmsi = _msi(lr) + rng.normal(0, sigma / 4, (3, *lr.shape[1:]))
    projected, guided = _psnr(project(noisy, sub), lr), _psnr(msi_guided(noisy, lrmsi, sub), lr)
    assert guided > projected + 1.0, (guided, projected)
    # an LR-MSI that knows nothing of the scene: its prediction explains nothing, the gains stay near 1
    blind = _psnr(msi_guided(noisy, rng.random((3, *lr.shape[1:])), sub), lr)
    assert blind > projected - 0.3, (blind, projected)
    with pytest.raises(ValueError, match="must share h, w"):
        msi_guided(noisy, lrmsi[:, 1:], sub)


def test_msi_guided_keeps_what_the_msi_cannot_tell() -> None:
    # a clean capture: the residual is all signal (the gains are 1) and the LR-HSI comes back as projected
    lr, _ = _scene(seed=11)
    lr = lr + np.random.default_rng(12).normal(0, 1e-5, lr.shape)
    sub = signal_subspace(lr)
    np.testing.assert_allclose(msi_guided(lr, _msi(lr), sub), project(lr, sub), atol=1e-4)


def test_auto_denoise_method_guides_and_projects_only_below_the_threshold() -> None:
    # generalise --denoise-auto scores the ONNX student as spectra fuse runs it by default
    from dataclasses import dataclass
    from types import SimpleNamespace

    from spectra_distill.data.cube import Cube
    from spectra_distill.degrade.pipeline import FusionPair
    from spectra_distill.degrade.psf import GaussianPSF, separable_degrade, spatial_degrade
    from spectra_distill.evaluate.methods import Method, subspace_method

    lr, truth = _scene(seed=5)
    rng = np.random.default_rng(6)
    fused = truth + rng.normal(0, 0.01, truth.shape)
    hrmsi = _msi(truth)
    seen: list[np.ndarray] = []

    # a network's statistics graph that finds the pair 1.5 HR px off the block middles
    moved = np.exp(-0.5 * ((np.arange(12) - 5.5 + 1.5) / 1.7) ** 2)
    found = np.stack([moved, moved]) / moved.sum()

    @dataclass
    class Fixed(Method):
        blur: np.ndarray | None = None

        def _fuse(self, pair):  # type: ignore[no-untyped-def]
            seen.append(pair.lrhsi.data)
            return fused, False

        def frame_blur(self, pair):  # type: ignore[no-untyped-def]
            return self.blur

    facts = SimpleNamespace(band_valid=[True] * lr.shape[0], psf_kernel_size=8, psf_sigma=1.7)
    auto = subspace_method(Fixed(name="net", kind="onnx"), facts, auto=True)  # type: ignore[arg-type]
    assert auto.name == "net + auto denoise"
    for noise, projected in ((1e-5, False), (0.03, True)):
        noisy = lr + rng.normal(0, noise, lr.shape)
        pair = FusionPair(
            lrhsi=Cube(noisy, np.arange(noisy.shape[0], dtype=float)),
            hrmsi=Cube(hrmsi, np.arange(3, dtype=float)),
            hrhsi=Cube(truth, np.arange(truth.shape[0], dtype=float)),
            srf=None,
            psf=GaussianPSF(8, 1.7),
            scale=4,
        )
        out, _ = auto._fuse(pair)
        lr_in, lrmsi = pair.lrhsi.data, spatial_degrade(pair.hrmsi.data, 4, GaussianPSF(8, 1.7))
        sub = signal_subspace(lr_in)
        np.testing.assert_array_equal(seen[-1], msi_guided(lr_in, lrmsi, sub) if projected else lr_in)
        np.testing.assert_array_equal(out, project(fused, sub) if projected else fused)
        assert (sub.snr_db < AUTO_DENOISE_SNR_DB) == projected
        if projected:
            # the HR-MSI is degraded in the register the network found, not the card's
            auto.inner.blur = found
            auto._fuse(pair)
            in_register = separable_degrade(pair.hrmsi.data, 4, *found)
            np.testing.assert_array_equal(seen[-1], msi_guided(lr_in, in_register, sub))
            assert np.abs(seen[-1] - msi_guided(lr_in, lrmsi, sub)).max() > 1e-4
