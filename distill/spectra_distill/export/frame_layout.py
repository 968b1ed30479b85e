"""What an exported model's statistics vector says about a frame, read with its card alone, as the SDK
reads it (``sdk/spectral/frame-layout.ts``, ``sdk/spectral/blur-fit.ts``): the blocks `FrameStatistics.pack`
puts last are the PSF taps, the fitted SRF (card ``msi.per_frame``, b x B values), the HR-MSI's detail
gains (``msi.denoise``, b x levels) and, with ``msi.denoise.backprojection_window_px``, the noise the shrunk
HR-MSI keeps (b values)."""

from __future__ import annotations

from typing import Any

import numpy as np


def fitted_blur(frame: np.ndarray, card: dict[str, Any]) -> np.ndarray | None:
    """(..., 2, wide) the row and column taps the statistics graph chose for a frame (..., S), when the model
    searches for a shifted blur (card ``psf.per_frame.shift_taps``), else None."""
    wide = (card["psf"].get("per_frame") or {}).get("shift_taps")
    if wide is None:
        return None
    msi = card["msi"]
    end = frame.shape[-1]
    denoise = msi.get("denoise")
    if denoise is not None:
        kept_noise = 1 if "backprojection_window_px" in denoise else 0
        end -= msi["bands"] * (len(denoise["detail_sigmas_px"]) + kept_noise)
    if msi.get("per_frame") is not None:
        end -= msi["bands"] * card["hsi"]["bands"]
    return frame[..., end - 2 * wide : end].reshape(*frame.shape[:-1], 2, wide)
