"""Validation evidence for the prior's pan-detail gain, `physics.pan_detail_gain`
(results/distill/calibration/pan-detail-gain/).

The shipped students (PyTorch, as `spectra fuse` runs them: `--denoise auto`) on the validation regions of
their trained scenes, clean, with noise on both inputs or on one, and with the camera described slightly
wrong: the HR-MSI as captured, its detail shrunk with each regression pan's detail kept whole in the prior
(`physics.PAN_DETAIL_GAIN = False`), and shrunk with that detail kept at its Wiener gain for the noise the
pan's weights carry (shipped). No test scene is read.

    .venv/bin/python scripts/validation/pan_detail_gain.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from msi_denoise import gate_main  # beside this script


def main() -> None:
    gate_main(
        __doc__,
        "pan_detail_gain.py",
        "results/distill/calibration/pan-detail-gain/validation.md",
        "PAN_DETAIL_GAIN",
        "pan detail",
        "Mean PSNR (dB) over the validation regions of each student's trained scenes, as `spectra fuse` "
        "runs it (`--denoise auto`): the HR-MSI's detail shrunk (`physics.MsiDenoise`) and each regression "
        "pan's detail kept whole in the prior, the HR-MSI as captured (no shrinkage, pan detail whole), and "
        "the pan detail kept at its local Wiener gain (`physics.pan_detail_gain`, shipped); in brackets the "
        "change from the first, mean and worst region. Noise: AWGN at that SNR on both inputs unless one is "
        "named.",
    )


if __name__ == "__main__":
    main()
