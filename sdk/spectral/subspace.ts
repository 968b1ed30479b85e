/**
 * The LR-HSI's signal subspace, and fused rows projected onto it (`FuseOptions.denoise: 'subspace'`).
 *
 * A scene's spectra span few dimensions while sensor noise is spread over every band, and the LR-HSI alone tells
 * them apart (HySime, Bioucas-Dias and Nascimento 2008): a band's noise is what its spectral neighbours cannot
 * predict of it, and a direction of the spectral covariance holds signal where its variance exceeds the noise
 * variance along it. Projecting the output onto those directions removes the noise the network passed on outside
 * them; on a clean capture nearly every direction is signal and little changes. Measured on the generalisation
 * test scenes (30 dB SNR inputs, 206-band student): see docs/new-camera.md. The host's
 * `spectra_distill.models.subspace` is the same function; test vectors pin the two together.
 */
import type { Cube } from '../cube/cube';
import { solveSpd } from './linear-solve';
import { symmetricEigen } from './symmetric-eigen';

/** Spectral neighbours on each side that predict a band when its noise is estimated. */
export const SUBSPACE_NEIGHBOURS = 2;

/** Where a capture's spectra live. */
export interface SignalSubspace {
  /** Indices of the bands the subspace spans; the others are left alone. */
  bands: number[];
  /** Mean LR-HSI spectrum over `bands`. */
  mean: Float64Array;
  /** Orthonormal signal directions, strongest first: row-major `bands.length` x `rank`. */
  basis: Float64Array;
  rank: number;
  /** Estimated noise variance per band of `bands`. */
  noiseVariance: Float64Array;
}

/**
 * The signal subspace of an LR-HSI (on the model grid, in the network's units) over its valid bands.
 * @param lr - The LR-HSI.
 * @param bandValid - Bands to use (all-zero bands are left out regardless).
 * @returns See {@link SignalSubspace}.
 * @throws RangeError when fewer than two bands are valid or the image has fewer than two pixels.
 */
export function signalSubspace(lr: Cube, bandValid: readonly boolean[]): SignalSubspace {
  const N = lr.height * lr.width;
  const bands: number[] = [];
  for (let b = 0; b < lr.bands; b++) {
    if (!(bandValid[b] ?? true)) continue;
    const plane = lr.data.subarray(b * N, (b + 1) * N);
    if (plane.some((v) => v !== 0)) bands.push(b);
  }
  const nv = bands.length;
  if (nv < 2 || N < 2) throw new RangeError(`a signal subspace needs >= 2 valid bands and >= 2 pixels; got ${nv} and ${N}`);
  const x = new Float64Array(nv * N);
  bands.forEach((b, i) => x.set(lr.data.subarray(b * N, (b + 1) * N), i * N));
  const mean = new Float64Array(nv);
  for (let i = 0; i < nv; i++) {
    let s = 0;
    for (let p = 0; p < N; p++) s += x[i * N + p];
    mean[i] = s / N;
  }
  const noise = noiseVariance(x, nv, N);
  // Signal covariance: the sample covariance less the noise on its diagonal.
  const signal = new Float64Array(nv * nv);
  const c = new Float64Array(nv * N);
  for (let i = 0; i < nv; i++) for (let p = 0; p < N; p++) c[i * N + p] = x[i * N + p] - mean[i];
  for (let i = 0; i < nv; i++) {
    for (let j = i; j < nv; j++) {
      let s = 0;
      for (let p = 0; p < N; p++) s += c[i * N + p] * c[j * N + p];
      signal[i * nv + j] = signal[j * nv + i] = s / (N - 1);
    }
    signal[i * nv + i] -= noise[i];
  }
  const { values, vectors } = symmetricEigen(signal, nv);
  // Strongest first; keep as many directions as carry more signal than noise (at least one).
  let rank = 0;
  for (let j = 0; j < nv; j++) {
    let noisePower = 0;
    for (let i = 0; i < nv; i++) noisePower += vectors[i * nv + j] ** 2 * noise[i];
    if (values[j] > noisePower) rank++;
  }
  rank = Math.max(1, rank);
  const basis = new Float64Array(nv * rank);
  for (let i = 0; i < nv; i++) for (let r = 0; r < rank; r++) basis[i * rank + r] = vectors[i * nv + (nv - 1 - r)];
  return { bands, mean, basis, rank, noiseVariance: noise };
}

/**
 * Per-band noise variance of `nv` x `N` spectra: the residual variance of a least-squares fit of each band on its
 * {@link SUBSPACE_NEIGHBOURS} neighbours on each side and a constant, degrees of freedom of the fit removed.
 */
function noiseVariance(x: Float64Array, nv: number, N: number): Float64Array {
  const out = new Float64Array(nv);
  for (let i = 0; i < nv; i++) {
    const nb: number[] = [];
    for (let j = Math.max(0, i - SUBSPACE_NEIGHBOURS); j <= Math.min(nv - 1, i + SUBSPACE_NEIGHBOURS); j++) if (j !== i) nb.push(j);
    const p = nb.length + 1;
    const row = (r: number, q: number): number => (r < nb.length ? x[nb[r] * N + q] : 1);
    const gram = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    const rhs = new Array<number>(p).fill(0);
    for (let r = 0; r < p; r++) {
      for (let s = r; s < p; s++) {
        let acc = 0;
        for (let q = 0; q < N; q++) acc += row(r, q) * row(s, q);
        gram[r][s] = gram[s][r] = acc;
      }
      let acc = 0;
      for (let q = 0; q < N; q++) acc += row(r, q) * x[i * N + q];
      rhs[r] = acc;
    }
    let trace = 0;
    for (let r = 0; r < p; r++) trace += gram[r][r];
    for (let r = 0; r < p; r++) gram[r][r] += 1e-12 * Math.max(1, trace);
    const coef = solveSpd(gram, rhs);
    let rss = 0;
    for (let q = 0; q < N; q++) {
      let fit = 0;
      for (let r = 0; r < p; r++) fit += coef[r] * row(r, q);
      rss += (x[i * N + q] - fit) ** 2;
    }
    out[i] = rss / Math.max(1, N - p);
  }
  return out;
}

/**
 * Projects band-sequential rows (`bands` x n rows x width, as a {@link RowSink} receives them, or a whole cube) onto
 * the subspace, in place; bands outside `subspace.bands` are left as they are.
 * @param rows - The rows.
 * @param bands - Bands in `rows` (the model's band count).
 * @param subspace - From {@link signalSubspace}.
 */
export function projectRows(rows: Float32Array, bands: number, subspace: SignalSubspace): void {
  const P = rows.length / bands;
  const { bands: idx, mean, basis, rank } = subspace;
  const nv = idx.length;
  const y = new Float64Array(nv);
  const coef = new Float64Array(rank);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < nv; i++) y[i] = rows[idx[i] * P + p] - mean[i];
    coef.fill(0);
    for (let i = 0; i < nv; i++) {
      const yi = y[i];
      for (let r = 0; r < rank; r++) coef[r] += basis[i * rank + r] * yi;
    }
    for (let i = 0; i < nv; i++) {
      let v = mean[i];
      for (let r = 0; r < rank; r++) v += basis[i * rank + r] * coef[r];
      rows[idx[i] * P + p] = v;
    }
  }
}
