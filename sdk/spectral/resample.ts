import type { Cube } from '../cube/cube';
import { BandCountError, WavelengthError } from '../core/errors';

/** 2 sqrt(2 ln 2): FWHM = this x sigma for a Gaussian. */
const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));
/** A valid source band covers its centre +- this x its FWHM (host constant COVER_HALF_WIDTH). */
const COVER_HALF_WIDTH = 0.75;

/** Resampling kernel: Gaussian response per target band, or linear interpolation between neighbours. */
export type ResampleMethod = 'gaussian' | 'linear';

/** A resampling matrix from source bands to target bands, and which target bands it can fill. */
export interface ResamplingMatrix {
  /** B_dst rows of B_src weights; each valid row sums to 1, invalid rows are zero. */
  matrix: Float64Array[];
  /** false where the target band is outside the source coverage or falls in a source gap. */
  valid: boolean[];
}

/**
 * The host's `spectra_distill.data.resample.resampling_matrix`, step for step in float64 (the formula is
 * its contract; see distill/DATA.md):
 * 1. Source width f_j = FWHM, or the median positive spacing of the sorted source centres when unknown;
 *    target width F_i likewise from the target centres.
 * 2. Coverage = union over valid source bands of [s_j - 0.75 f_j, s_j + 0.75 f_j], merged.
 * 3. Target i is valid iff [c_i - F_i/2, c_i + F_i/2] lies inside one coverage interval.
 * 4. Gaussian: w_ij = exp(-0.5 ((s_j - c_i) / sigma_i)^2), sigma_i = F_i / 2.3548…, over valid j, row-normalised;
 *    linear: (1 - t, t) on the nearest valid source bands below and above c_i.
 * @param srcWl - Source centres in nm (any order).
 * @param srcFwhm - Source FWHM, or undefined.
 * @param srcMask - Valid source bands, or undefined for all.
 * @param dstWl - Target centres in nm.
 * @param dstFwhm - Target FWHM, or undefined.
 * @param method - @defaultValue 'gaussian'
 * @returns The matrix and target validity.
 * @throws {@link WavelengthError} for non-finite values or fewer than two distinct centres.
 * @throws {@link BandCountError} when array lengths disagree.
 */
export function resamplingMatrix(
  srcWl: readonly number[],
  srcFwhm: readonly number[] | undefined,
  srcMask: readonly boolean[] | undefined,
  dstWl: readonly number[],
  dstFwhm?: readonly number[],
  method: ResampleMethod = 'gaussian',
): ResamplingMatrix {
  if (srcFwhm && srcFwhm.length !== srcWl.length) throw new BandCountError('src_fwhm', srcWl.length, srcFwhm.length);
  if (srcMask && srcMask.length !== srcWl.length) throw new BandCountError('src_mask', srcWl.length, srcMask.length);
  if (dstFwhm && dstFwhm.length !== dstWl.length) throw new BandCountError('dst_fwhm', dstWl.length, dstFwhm.length);
  for (const [name, arr] of [['src_wl', srcWl], ['dst_wl', dstWl], ['src_fwhm', srcFwhm], ['dst_fwhm', dstFwhm]] as const) {
    if (arr && arr.some((v) => !Number.isFinite(v))) throw new WavelengthError(`${name} holds NaN or Inf`);
  }
  const F = dstFwhm ?? new Array<number>(dstWl.length).fill(medianSpacing(dstWl));
  const validSrc = srcWl.map((_, j) => srcMask === undefined || srcMask[j]);
  const cover = coverage(srcWl, srcFwhm, validSrc);
  const valid = dstWl.map((c, i) => cover.some(([lo, hi]) => lo <= c - F[i] / 2 && c + F[i] / 2 <= hi));
  const idx = validSrc.flatMap((v, j) => (v ? [j] : []));
  const matrix = dstWl.map(() => new Float64Array(srcWl.length));
  if (method === 'gaussian') {
    dstWl.forEach((c, i) => {
      const sigma = F[i] / FWHM_PER_SIGMA;
      let sum = 0;
      const w = idx.map((j) => {
        const v = Math.exp(-0.5 * ((srcWl[j] - c) / sigma) ** 2);
        sum += v;
        return v;
      });
      if (!(sum > 0)) {
        valid[i] = false;
        return;
      }
      if (valid[i]) idx.forEach((j, k) => (matrix[i][j] = w[k] / sum));
    });
  } else {
    const order = [...idx].sort((a, b) => srcWl[a] - srcWl[b] || a - b);
    const ws = order.map((j) => srcWl[j]);
    dstWl.forEach((c, i) => {
      if (!valid[i]) return;
      let k = ws.findIndex((w) => w >= c);
      if (k < 0) k = ws.length;
      if (k < ws.length && ws[k] === c) matrix[i][order[k]] = 1;
      else if (k > 0 && k < ws.length) {
        const t = (c - ws[k - 1]) / (ws[k] - ws[k - 1]);
        matrix[i][order[k - 1]] = 1 - t;
        matrix[i][order[k]] = t;
      } else matrix[i][order[k === 0 ? 0 : ws.length - 1]] = 1;
    });
  }
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
  // As the host's resample_cube: an unknown target FWHM is the median target spacing.
  const { matrix, valid } = resamplingMatrix(cube.wavelengths, cube.fwhm, srcMask, wavelengths, fwhm);
  const missing = wavelengths.filter((_, j) => !valid[j] && (required === undefined || required[j]));
  if (missing.length > 0) {
    throw new WavelengthError(
      `cannot resample onto ${missing.length} model band(s) (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} nm): ` +
        `the input's valid bands (${Math.min(...cube.wavelengths)}..${Math.max(...cube.wavelengths)} nm, each +-0.75 FWHM) do not cover ` +
        "those bands' +-FWHM/2 windows, and bands are never extrapolated; use a sensor that covers the model's range",
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

/** Median positive difference of the sorted centres (numpy's median: mean of the two middle values). */
function medianSpacing(w: readonly number[]): number {
  const sorted = [...w].sort((a, b) => a - b);
  const d = sorted.slice(1).map((v, i) => v - sorted[i]).filter((x) => x > 0).sort((a, b) => a - b);
  if (d.length === 0) throw new WavelengthError('Need at least two distinct wavelengths to infer a band spacing');
  const m = d.length >> 1;
  return d.length % 2 === 1 ? d[m] : (d[m - 1] + d[m]) / 2;
}

/** Merged intervals covered by valid source bands. */
function coverage(wl: readonly number[], fwhm: readonly number[] | undefined, valid: readonly boolean[]): [number, number][] {
  const spacing = fwhm === undefined ? medianSpacing(wl) : 0;
  const spans = wl
    .flatMap((w, j) => {
      if (!valid[j]) return [];
      const f = fwhm === undefined ? spacing : fwhm[j];
      return [[w - COVER_HALF_WIDTH * f, w + COVER_HALF_WIDTH * f] as [number, number]];
    })
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [a, b] of spans) {
    const last = out[out.length - 1];
    if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
