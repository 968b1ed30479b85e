"""Misregistration of the LR-HSI against the HR-MSI.

The HR cube is shifted by a whole number of HR pixels (down and right for positive values, mirrored at the
borders) before blur and decimation, so the LR-HSI lands ``k / s`` LR pixels off the HR-MSI grid: 1-3 HR
pixels at s = 4 are the sub-LR-pixel errors of real co-registration. Whole HR pixels keep the shift exact (no
interpolation smoothing on top of the PSF).
"""

from __future__ import annotations

import numpy as np

MAX_SHIFT_PX = 3


def shift_hr(hr: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(..., H, W) shifted by (dy, dx) HR pixels: ``out[y, x] = hr[y - dy, x - dx]``, mirrored at edges."""
    for v in (dy, dx):
        if abs(v) > MAX_SHIFT_PX:
            raise ValueError(
                f"Misregistration of {v} HR pixels is outside the supported range 0-{MAX_SHIFT_PX}"
            )
    out = np.asarray(hr)
    for shift, axis in ((dy, out.ndim - 2), (dx, out.ndim - 1)):
        if shift == 0:
            continue
        n = out.shape[axis]
        widths = [(0, 0)] * out.ndim
        widths[axis] = (abs(shift), abs(shift))
        padded = np.pad(out, widths, mode="reflect")
        start = abs(shift) - shift
        sl = [slice(None)] * out.ndim
        sl[axis] = slice(start, start + n)
        out = padded[tuple(sl)]
    return out
