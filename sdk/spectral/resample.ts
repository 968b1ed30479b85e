import type { Cube } from '../cube/cube';
import { WavelengthError } from '../errors';

const FWHM_TO_SIGMA = 2.3548200450309493;

/** A resampling matrix from source bands to target bands, and which target bands it can fill. */
export interface ResamplingMatrix {
  /** B_dst x B_src, each valid row sums to 1; invalid rows are zero. */
  matrix: Float64Array[];
  /** false where the target band is outside the source coverage or falls in a source gap. */
  valid: boolean[];
}

/**
 * Gaussian spectral resampling, the host's `spectra_distill.data.resample.resampling_matrix`:
 * each target band is a Gaussian of sigma = FWHM / 2.3548 (target FWHM, or the target spacing when
 * unknown) evaluated at the source band centres, rows normalised to sum 1. A target band is valid only
 * if valid source bands cover its +-1 FWHM window with no gap wider than 1.5 x the source spacing.
 * @param srcWl - Source centres in nm.
 * @param srcFwhm - Source FWHM (unused by the weights; kept for signature parity).
 * @param srcMask - Valid source bands (all when omitted).
 * @param dstWl - Target centres in nm.
 * @param dstFwhm - Target FWHM in nm; the local target spacing when omitted.
 * @returns The matrix and target validity.
 */
export function resamplingMatrix(
  srcWl: readonly number[],
  srcFwhm: readonly number[] | undefined,
  srcMask: readonly boolean[] | undefined,
  dstWl: readonly number[],
  dstFwhm?: readonly number[],
): ResamplingMatrix {
  void srcFwhm;
  const src = srcWl.map((w, i) => ({ w, i })).filter(({ i }) => srcMask === undefined || srcMask[i]).sort((a, b) => a.w - b.w);
  const spacing = medianStep(src.map((s) => s.w));
  const matrix: Float64Array[] = [];
  const valid: boolean[] = [];
  dstWl.forEach((c, j) => {
    const fwhm = dstFwhm?.[j] ?? localStep(dstWl, j);
    const sigma = fwhm / FWHM_TO_SIGMA;
    const row = new Float64Array(srcWl.length);
    const lo = c - fwhm;
    const hi = c + fwhm;
    const inside = src.filter((s) => s.w >= lo && s.w <= hi).map((s) => s.w);
    const edges = [lo, ...inside, hi];
    const covered =
      src.length > 0 &&
      src[0].w <= lo + 1.5 * spacing &&
      src[src.length - 1].w >= hi - 1.5 * spacing &&
      inside.length > 0 &&
      edges.every((e, k) => k === 0 || e - edges[k - 1] <= 1.5 * spacing);
    let sum = 0;
    if (covered) {
      for (const s of src) {
        const v = Math.exp(-0.5 * ((s.w - c) / sigma) ** 2);
        row[s.i] = v;
        sum += v;
      }
    }
    if (covered && sum > 0) for (let i = 0; i < row.length; i++) row[i] /= sum;
    else row.fill(0);
    matrix.push(row);
    valid.push(covered && sum > 0);
  });
  return { matrix, valid };
}

/**
 * Resamples a cube onto another band grid with {@link resamplingMatrix}.
 * @param cube - Source cube with wavelengths in nm.
 * @param wavelengths - Target grid.
 * @param fwhm - Target FWHM.
 * @param required - Target bands that must be filled (e.g. the card's `band_valid`); all when omitted.
 * @returns The resampled cube; unfillable bands are zero and listed in `meta.bandValid`.
 * @throws {@link WavelengthError} when a required target band is outside the source coverage.
 */
export function resampleCube(
  cube: Cube,
  wavelengths: readonly number[],
  fwhm?: readonly number[],
  required?: readonly boolean[],
): Cube {
  const srcMask = cube.meta?.bandValid as boolean[] | undefined;
  const { matrix, valid } = resamplingMatrix(cube.wavelengths, cube.fwhm, srcMask, wavelengths, fwhm);
  const missing = wavelengths.filter((_, j) => !valid[j] && (required === undefined || required[j]));
  if (missing.length > 0) {
    throw new WavelengthError(
      `cannot resample onto ${missing.length} model band(s) (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} nm): ` +
        `the input covers ${Math.min(...cube.wavelengths)}..${Math.max(...cube.wavelengths)} nm with gaps; use a sensor that covers the model's range`,
    );
  }
  const plane = cube.height * cube.width;
  const out = new Float32Array(wavelengths.length * plane);
  const acc = new Float64Array(plane);
  matrix.forEach((row, j) => {
    acc.fill(0);
    row.forEach((w, i) => {
      if (w === 0) return;
      const s = cube.data.subarray(i * plane, (i + 1) * plane);
      for (let p = 0; p < plane; p++) acc[p] += w * s[p];
    });
    out.set(acc, j * plane);
  });
  return {
    ...cube,
    bands: wavelengths.length,
    data: out,
    wavelengths,
    ...(fwhm ? { fwhm } : {}),
    meta: { ...(cube.meta ?? {}), bandValid: valid, resampledFrom: cube.wavelengths.length },
  };
}

function medianStep(w: number[]): number {
  if (w.length < 2) return Infinity;
  const steps = w.slice(1).map((v, i) => v - w[i]).sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)];
}

function localStep(w: readonly number[], j: number): number {
  const prev = j > 0 ? w[j] - w[j - 1] : Infinity;
  const next = j < w.length - 1 ? w[j + 1] - w[j] : Infinity;
  const s = Math.min(Math.abs(prev), Math.abs(next));
  return Number.isFinite(s) ? s : 10;
}
