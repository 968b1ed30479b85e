"""The LR-HSI's signal subspace, and a fused cube projected onto it: noise the network passes on is removed.

A scene's spectra span few dimensions (tens of materials, smooth spectra), while sensor noise is spread over
every band. The LR-HSI alone tells both apart (HySime, Bioucas-Dias and Nascimento 2008): each band's noise
is what its spectral neighbours cannot predict of it, and a direction of the spectral covariance holds signal
where its signal variance exceeds the noise variance along it (HySime's rule: a sample eigenvalue above twice
the noise) and where it stands out of the noise at all: from N pixels of nv bands, noise of variance s2 alone
spreads the sample eigenvalues up to s2 (1 + sqrt(nv / N))^2 (the Marchenko-Pastur edge). The first bound
decides on large captures, the second on small ones with many bands: on a 72 x 24 px region of 206 bands (108
LR pixels) HySime's rule alone kept 30-39 directions where 1-7 hold signal, and the edge alone, on large
captures, keeps weak directions that carry more noise than signal into the output
(``results/distill/calibration/subspace-rank/``). Projecting the fused cube onto the kept directions removes
the noise outside them. On a clean capture the estimated noise is small, nearly every direction is
signal, and the projection changes little.

When the output is projected, the LR-HSI is first denoised with the HR-MSI's help (``msi_guided``): on the
signal directions the network would otherwise copy the LR-HSI's in-subspace noise into its output through its
back-projections, and the HR-MSI, degraded to the LR grid, predicts most of each direction's coordinate with
little noise (``results/distill/calibration/msi-guided/``).

The TypeScript SDK's ``sdk/spectral/subspace.ts`` is the same function (``spectra fuse --denoise subspace``);
``spectra-distill subspace-vectors`` writes test vectors that pin the two together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Spectral neighbours on each side that predict a band when its noise is estimated.
NEIGHBOURS = 2
#: ``spectra fuse --denoise auto`` (the default) projects a capture whose LR-HSI reads below this SNR (dB):
#: on the validation regions of both students' trained scenes clean pairs read 39.7-69.9 dB, pairs with 30 dB
#: noise 3.7-29.4 dB and with 40 dB noise 11.8-39.2 dB. Chosen there among 35, 40, 45, 50 dB and always: 40 dB
#: projects every 40 dB pair (+2.5 dB CAVE grid, +0.5 dB 206 bands over 35 dB) at 0.00 / 0.02 dB on clean ones
#: (``results/distill/calibration/denoise-auto/``).
AUTO_DENOISE_SNR_DB = 40.0


@dataclass(frozen=True)
class SignalSubspace:
    """Where a capture's spectra live.

    Attributes:
        bands: (nv,) indices of the valid bands the subspace spans (the others are left alone).
        mean: (nv,) mean LR-HSI spectrum.
        basis: (nv, k) orthonormal columns: the signal directions, strongest first.
        noise_variance: (nv,) estimated noise variance per valid band.
        snr_db: median over the valid bands of each band's power over its noise variance (the SNR the LR-HSI
            reads, which ``--denoise auto`` compares with ``AUTO_DENOISE_SNR_DB``).
    """

    bands: np.ndarray
    mean: np.ndarray
    basis: np.ndarray
    noise_variance: np.ndarray
    snr_db: float

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])


def _ridged(gram: np.ndarray) -> np.ndarray:
    """Normal equations with 1e-12 of their trace (at least 1e-12) added to the diagonal, in place: a band or
    regressor that is all zero must not leave them singular. The SDK adds the same."""
    gram[np.diag_indices_from(gram)] += 1e-12 * max(1.0, float(np.trace(gram)))
    return gram


def noise_variance(x: np.ndarray) -> np.ndarray:
    """Per-band noise variance of (nv, N) spectra.

    The residual variance of a least-squares fit of each band on its ``NEIGHBOURS`` neighbours on each side
    and a constant, with the fitted parameters' degrees of freedom removed (normal equations in float64, as
    the SDK solves them).
    """
    nv, n = x.shape
    out = np.zeros(nv)
    for i in range(nv):
        nb = [j for j in range(max(0, i - NEIGHBOURS), min(nv, i + NEIGHBOURS + 1)) if j != i]
        a = np.vstack([x[nb], np.ones(n)])  # (p, N)
        coef = np.linalg.solve(_ridged(a @ a.T), a @ x[i])
        r = x[i] - coef @ a
        out[i] = float(r @ r) / max(1, n - a.shape[0])
    return out


def noise_spread(bands: int, pixels: int) -> float:
    """How far noise alone spreads the sample eigenvalues above its variance, from ``pixels`` samples of
    ``bands`` bands: (1 + sqrt(bands / pixels))^2 - 1 (the Marchenko-Pastur edge)."""
    return (1.0 + np.sqrt(bands / pixels)) ** 2 - 1.0


def signal_directions(x: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions of the band covariance of (nv, N) spectra with per-band ``noise`` variance, strongest first.

    Returns:
        Signal variance along each direction (sample eigenvalue less the noise), the (nv, nv) directions as
        columns, and the noise variance along each direction.
    """
    centred = x - x.mean(axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(centred @ centred.T / (x.shape[1] - 1) - np.diag(noise))
    order = np.argsort(values)[::-1]
    vectors = vectors[:, order]
    return values[order], vectors, (vectors**2 * noise[:, None]).sum(axis=0)


def signal_subspace(lrhsi: np.ndarray, band_valid: np.ndarray | None = None) -> SignalSubspace:
    """The signal subspace of an LR-HSI (B, h, w) over its valid bands (``band_valid``; never all-zero bands).

    Raises:
        ValueError: fewer than two valid bands, or fewer than two pixels.
    """
    bands = lrhsi.shape[0]
    valid = np.ones(bands, dtype=bool) if band_valid is None else np.asarray(band_valid, dtype=bool).copy()
    valid &= np.any(lrhsi.reshape(bands, -1) != 0, axis=1)
    idx = np.flatnonzero(valid)
    x = lrhsi[idx].reshape(idx.size, -1).astype(np.float64)
    if idx.size < 2 or x.shape[1] < 2:
        raise ValueError(
            f"a signal subspace needs >= 2 valid bands and >= 2 pixels; got {idx.size} and {x.shape[1]}"
        )
    noise = noise_variance(x)
    values, vectors, noise_along = signal_directions(x, noise)
    # signal along each direction against the noise there (HySime) and the spread of noise alone
    keep = values > max(1.0, noise_spread(idx.size, x.shape[1])) * noise_along
    k = max(1, int(keep.sum()))
    snr = np.sort(10 * np.log10((x * x).mean(axis=1) / np.maximum(noise, 1e-30)))
    return SignalSubspace(
        bands=idx,
        mean=x.mean(axis=1),
        basis=vectors[:, :k],
        noise_variance=noise,
        snr_db=float(snr[idx.size // 2]),
    )


def project(cube: np.ndarray, subspace: SignalSubspace) -> np.ndarray:
    """``cube`` (B, H, W) with its valid bands replaced by their projection onto ``subspace`` (a copy)."""
    out = cube.copy()
    idx, e = subspace.bands, subspace.basis
    y = cube[idx].reshape(idx.size, -1).astype(np.float64) - subspace.mean[:, None]
    out[idx] = (subspace.mean[:, None] + e @ (e.T @ y)).reshape(idx.size, *cube.shape[1:]).astype(cube.dtype)
    return out


def msi_guided(lrhsi: np.ndarray, lrmsi: np.ndarray, subspace: SignalSubspace) -> np.ndarray:
    """``lrhsi`` (B, h, w) with its valid bands denoised with the help of ``lrmsi`` (b, h, w): the HR-MSI
    degraded to the LR grid by the blur the pair shows (the one the network's statistics graph finds, else
    the card's PSF; `evaluate.methods.SubspaceMethod`) (a copy).

    Each signal direction's coordinate is regressed on the LR-MSI bands and a constant (least squares over the
    pixels); the prediction is kept and the rest is shrunk by the Wiener gain max(0, 1 - n / v), n the noise
    variance along the direction (from the per-band estimate), v the residual's variance. The residual holds
    the LR-HSI's noise and what the LR-MSI cannot tell (spectral detail, another camera's response, a
    misregistered pair); where it is mostly signal the gain stays near 1. Outside the subspace the LR-HSI is
    dropped, as the projection of the output drops it.

    Raises:
        ValueError: ``lrmsi`` is not on the LR-HSI's grid.
    """
    if lrmsi.ndim != 3 or lrmsi.shape[1:] != lrhsi.shape[1:]:
        raise ValueError(f"the LR-MSI is {lrmsi.shape} but the LR-HSI is {lrhsi.shape}; they must share h, w")
    idx, e = subspace.bands, subspace.basis
    n = lrhsi.shape[1] * lrhsi.shape[2]
    coords = e.T @ (lrhsi[idx].reshape(idx.size, n).astype(np.float64) - subspace.mean[:, None])  # (k, N)
    a = np.vstack([lrmsi.reshape(lrmsi.shape[0], n).astype(np.float64), np.ones(n)])  # (p, N)
    predicted = np.linalg.solve(_ridged(a @ a.T), a @ coords.T).T @ a
    residual = coords - predicted
    variance = (residual * residual).sum(axis=1) / max(1, n - a.shape[0])
    noise = (e**2 * subspace.noise_variance[:, None]).sum(axis=0)
    gain = np.clip(1.0 - noise / np.maximum(variance, 1e-30), 0.0, 1.0)
    out = lrhsi.copy()
    guided = subspace.mean[:, None] + e @ (predicted + gain[:, None] * residual)
    out[idx] = guided.reshape(idx.size, *lrhsi.shape[1:]).astype(lrhsi.dtype)
    return out
