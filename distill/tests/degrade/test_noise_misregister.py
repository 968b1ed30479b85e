from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.degrade.misregister import shift_hr
from spectra_distill.degrade.noise import add_awgn, measured_snr_db
from spectra_distill.errors import NonFiniteError


@pytest.mark.parametrize("snr_db", [20.0, 35.0, 50.0])
def test_awgn_reaches_requested_snr(snr_db: float) -> None:
    x = np.random.default_rng(0).random((8, 64, 64)).astype(np.float32) * 0.3
    noisy = add_awgn(x, snr_db, np.random.default_rng(1))
    assert measured_snr_db(x, noisy) == pytest.approx(snr_db, abs=0.5)


def test_awgn_power_is_per_sample_in_physical_units() -> None:
    # a 10x darker scene gets 10x smaller noise at the same SNR
    x = np.random.default_rng(0).random((4, 32, 32))
    a = add_awgn(x, 30.0, np.random.default_rng(5)) - x
    b = add_awgn(x * 0.1, 30.0, np.random.default_rng(5)) - x * 0.1
    np.testing.assert_allclose(b, a * 0.1, rtol=1e-3, atol=1e-6)


def test_awgn_is_seeded_and_skips_masked_bands() -> None:
    x = np.ones((3, 16, 16))
    mask = np.array([True, False, True])
    a = add_awgn(x, 30.0, np.random.default_rng(7), band_mask=mask)
    b = add_awgn(x, 30.0, np.random.default_rng(7), band_mask=mask)
    c = add_awgn(x, 30.0, np.random.default_rng(8), band_mask=mask)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a[1], 1.0)
    with pytest.raises(NonFiniteError):
        add_awgn(np.full((1, 4, 4), np.inf), 30.0, np.random.default_rng(0))


def test_shift_moves_content_down_right_with_mirrored_edges() -> None:
    hr = np.arange(36, dtype=np.float64).reshape(1, 6, 6)
    out = shift_hr(hr, 2, 1)
    np.testing.assert_array_equal(out[0, 2:, 1:], hr[0, :-2, :-1])
    np.testing.assert_array_equal(out[0, 0, 1:], hr[0, 2, :-1])  # row -2 mirrors row 2
    np.testing.assert_array_equal(shift_hr(hr, -1, 0)[0, :-1], hr[0, 1:])
    with pytest.raises(ValueError, match="outside the supported range 0-3"):
        shift_hr(hr, 4, 0)
