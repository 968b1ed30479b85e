import type { Cube } from '../cube/cube';
import { SizeMismatchError } from '../core/errors';

/** A separable Gaussian point spread function, as in the model card's `psf` entry. */
export interface GaussianPsf {
  kernelSize: number;
  /** Standard deviation in HR pixels. */
  sigma: number;
}

/** A separable PSF given by its 1-D taps, for a camera whose blur is not Gaussian (card `psf.taps`). */
export interface PsfTaps {
  taps: ArrayLike<number>;
}

/** A separable PSF with its own taps per axis, for a blur off the middle of each block (an LR-HSI sampled at `[k::s]`, see `fittedBlur`); both the same length. */
export interface SeparablePsf {
  rows: ArrayLike<number>;
  cols: ArrayLike<number>;
}

/** A separable PSF: Gaussian, explicit taps, or explicit taps per axis. */
export type Psf = GaussianPsf | PsfTaps | SeparablePsf;

/** The 1-D taps of a PSF that is the same along both axes. */
export function psfTaps(psf: GaussianPsf | PsfTaps): Float64Array {
  return 'taps' in psf ? Float64Array.from(psf.taps) : gaussianTaps(psf);
}

/**
 * The row and column taps of a PSF.
 * @throws RangeError when a separable PSF's row and column taps differ in length.
 */
export function axisTaps(psf: Psf): { rows: Float64Array; cols: Float64Array } {
  if (!('rows' in psf)) {
    const taps = psfTaps(psf);
    return { rows: taps, cols: taps };
  }
  if (psf.rows.length !== psf.cols.length) throw new RangeError(`PSF row taps (${psf.rows.length}) and column taps (${psf.cols.length}) must have one length`);
  return { rows: Float64Array.from(psf.rows), cols: Float64Array.from(psf.cols) };
}

/** The PSF a model card's `psf` entry describes: its `taps` when given (a retargeted camera), else its Gaussian. */
export function cardPsf(psf: { kernel_size: number; sigma: number; taps?: readonly number[] }): GaussianPsf | PsfTaps {
  return psf.taps ? { taps: psf.taps } : { kernelSize: psf.kernel_size, sigma: psf.sigma };
}

/**
 * The 1-D Gaussian taps (sum 1, symmetric about the kernel centre), the same numbers as
 * `spectra_distill.degrade.psf.GaussianPSF.taps()`.
 * @param psf - Kernel size and sigma.
 * @returns float64 taps.
 */
export function gaussianTaps(psf: GaussianPsf): Float64Array {
  const taps = new Float64Array(psf.kernelSize);
  const centre = (psf.kernelSize - 1) / 2;
  let sum = 0;
  for (let k = 0; k < psf.kernelSize; k++) {
    taps[k] = Math.exp(-0.5 * ((k - centre) / psf.sigma) ** 2);
    sum += taps[k];
  }
  for (let k = 0; k < psf.kernelSize; k++) taps[k] /= sum;
  return taps;
}

/**
 * Blurs with the PSF and keeps one pixel per `scale x scale` block: the host's Wald degradation
 * (`spectra_distill.degrade.spatial_degrade`), reproduced step for step so the SDK's consistency check
 * measures the same thing training saw. The HR image is mirror-padded (edge pixel not repeated) by
 * `(kernelSize - scale) / 2` per side, so LR pixel i is centred on HR block [i*s, (i+1)*s); rows are
 * filtered before columns, in float64.
 * @param cube - HR cube; height and width must be multiples of `scale`.
 * @param scale - Decimation factor.
 * @param psf - Kernel; its size must have the parity of `scale`.
 * @returns The LR cube (same wavelengths and meta).
 * @throws {@link SizeMismatchError} when sizes are not multiples of the scale or too small for the padding.
 * @throws RangeError when kernel size and scale differ in parity.
 */
export function spatialDegrade(cube: Cube, scale: number, psf: Psf): Cube {
  const { bands, height: H, width: W } = cube;
  if (H % scale !== 0 || W % scale !== 0) {
    throw new SizeMismatchError(`HR image is ${H} x ${W}; both sizes must be multiples of the scale ${scale}`);
  }
  const { rows: rowTaps, cols: colTaps } = axisTaps(psf);
  const K = rowTaps.length;
  const pad = reflectPad(K, scale, H, W);
  const h = H / scale;
  const w = W / scale;
  const rowIdx = sourceIndices(H, h, scale, pad, K);
  const colIdx = sourceIndices(W, w, scale, pad, K);
  const out = new Float32Array(bands * h * w);
  const tmp = new Float64Array(h * W);
  for (let b = 0; b < bands; b++) {
    const plane = cube.data.subarray(b * H * W, (b + 1) * H * W);
    tmp.fill(0);
    for (let i = 0; i < h; i++) {
      for (let k = 0; k < K; k++) {
        const wk = rowTaps[k];
        const src = rowIdx[i * K + k] * W;
        const dst = i * W;
        for (let x = 0; x < W; x++) tmp[dst + x] += wk * plane[src + x];
      }
    }
    const o = b * h * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += colTaps[k] * tmp[i * W + colIdx[j * K + k]];
        out[o + i * w + j] = acc;
      }
    }
  }
  return { ...cube, height: h, width: w, data: out };
}

/**
 * Mirror padding per side of `spatialDegrade` for an H x W image: `(kernelSize - scale) / 2`.
 * @throws RangeError when kernel size and scale differ in parity.
 * @throws {@link SizeMismatchError} when the image is too small for the padding.
 */
export function reflectPad(kernelSize: number, scale: number, H: number, W: number): number {
  if ((kernelSize - scale) % 2 !== 0) {
    throw new RangeError(`PSF kernel size ${kernelSize} and scale ${scale} must have the same parity`);
  }
  const pad = (kernelSize - scale) / 2;
  if (pad >= H || pad >= W) {
    throw new SizeMismatchError(`Image of ${H} x ${W} is too small for a reflect pad of ${pad} pixels`);
  }
  return pad;
}

/** For output i and tap k, the source index after mirror padding (numpy 'reflect'), or cropping when pad < 0. */
export function sourceIndices(n: number, nOut: number, scale: number, pad: number, K: number): Int32Array {
  const idx = new Int32Array(nOut * K);
  for (let i = 0; i < nOut; i++) {
    for (let k = 0; k < K; k++) {
      let s = k + scale * i - pad;
      if (s < 0) s = -s;
      if (s >= n) s = 2 * (n - 1) - s;
      idx[i * K + k] = s;
    }
  }
  return idx;
}
