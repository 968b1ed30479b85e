"""Validation evidence for the spectral back-projection's gain, `physics.backprojection_gain`
(results/distill/calibration/backprojection-gain/).

The shipped students (PyTorch, as `spectra fuse` runs them: `--denoise auto`) on the validation regions of
their trained scenes, clean, with noise on both inputs or on one, and with the camera described slightly
wrong (where the residual the gain reads is a mismatch, not noise): the HR-MSI as captured, its detail shrunk
with the back-projection's residual kept whole (`physics.BACKPROJECTION_GAIN = False`), and shrunk with the
residual kept at its Wiener gain (shipped). No test scene is read.

    .venv/bin/python scripts/validation/backprojection_gain.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from msi_denoise import gate_main  # beside this script


def main() -> None:
    gate_main(
        __doc__,
        "backprojection_gain.py",
        "results/distill/calibration/backprojection-gain/validation.md",
        "BACKPROJECTION_GAIN",
        "residual",
        "Mean PSNR (dB) over the validation regions of each student's trained scenes, as `spectra fuse` "
        "runs it (`--denoise auto`): the HR-MSI's detail shrunk (`physics.MsiDenoise`) and the spectral "
        "back-projection's residual kept whole, the HR-MSI as captured (no shrinkage, residual whole), and "
        "the residual kept at its local Wiener gain (`physics.backprojection_gain`, shipped); in brackets "
        "the change from the first, mean and worst region. Noise: AWGN at that SNR on both inputs unless "
        "one is named.",
    )


if __name__ == "__main__":
    main()
