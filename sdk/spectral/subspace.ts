/**
 * The LR-HSI's signal subspace, and fused rows projected onto it (`FuseOptions.denoise`).
 *
 * A scene's spectra span few dimensions while sensor noise is spread over every band, and the LR-HSI alone tells
 * them apart (HySime, Bioucas-Dias and Nascimento 2008): a band's noise is what its spectral neighbours cannot
 * predict of it, and a direction of the spectral covariance is kept where its signal variance exceeds the noise
 * variance along it and it stands out of the noise at all: from N pixels of nv bands, noise of variance s2 alone
 * spreads the sample eigenvalues up to s2 (1 + sqrt(nv / N))^2 (the Marchenko-Pastur edge), several times s2 on a
 * small capture with many bands (HySime's rule alone kept 30-39 directions of a 108-pixel, 206-band region where
 * 1-7 hold signal). Projecting the output onto those directions removes the noise the network passed on outside
 * them; on a clean capture nearly every direction is signal and little changes. Before the network runs, the LR-HSI
 * is denoised with the HR-MSI's help ({@link msiGuided}): its in-subspace noise would otherwise pass through the
 * network's back-projections into the output. Measured on the generalisation
 * test scenes (30 dB SNR inputs, 206-band student): see docs/new-camera.md. The host's
 * `spectra_distill.models.subspace` is the same function; test vectors pin the two together.
 */
import type { Cube } from '../cube/cube';
import { solveSpd } from './linear-solve';
import { symmetricEigen } from './symmetric-eigen';

/** Spectral neighbours on each side that predict a band when its noise is estimated. */
export const SUBSPACE_NEIGHBOURS = 2;

/**
 * `denoise: 'auto'` projects a capture whose LR-HSI reads below this SNR (dB, median over bands). On the validation
 * regions of both shipped students' trained scenes clean pairs read 39.7-69.9 dB, pairs with 30 dB noise 3.7-29.4 dB
 * and with 40 dB noise 11.8-39.2 dB; chosen there among 35, 40, 45, 50 dB and always, by the students' PSNR
 * (results/distill/calibration/denoise-auto/, the host's `AUTO_DENOISE_SNR_DB`).
 */
export const AUTO_DENOISE_SNR_DB = 40;

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
  /** Median over `bands` of each band's power over its noise variance, in dB. */
  snrDb: number;
}

/** The noise a capture shows, and the signal subspace when it is worth projecting onto ({@link autoSubspace}). */
export interface DenoiseDecision {
  /** The LR-HSI's SNR, as {@link SignalSubspace.snrDb}. */
  snrDb: number;
  /** Present when the output is to be projected. */
  subspace?: SignalSubspace;
}

/** The bands, data, mean, noise and SNR of an LR-HSI: what both the decision and the subspace need. */
interface NoiseStage {
  bands: number[];
  x: Float64Array;
  N: number;
  mean: Float64Array;
  noise: Float64Array;
  snrDb: number;
}

/**
 * The signal subspace of an LR-HSI (on the model grid, in the network's units) over its valid bands.
 * @param lr - The LR-HSI.
 * @param bandValid - Bands to use (all-zero bands are left out regardless).
 * @returns See {@link SignalSubspace}.
 * @throws RangeError when fewer than two bands are valid or the image has fewer than two pixels.
 */
export function signalSubspace(lr: Cube, bandValid: readonly boolean[]): SignalSubspace {
  return subspaceOf(noiseStage(lr, bandValid));
}

/**
 * `denoise: 'auto'`: the LR-HSI's SNR, and its signal subspace only when the SNR is below `threshold` (the noise
 * estimate is cheap, the eigen-decomposition is skipped on clean captures).
 * @param lr - As for {@link signalSubspace}.
 * @param bandValid - As for {@link signalSubspace}.
 * @param threshold - SNR (dB) below which to project; `Infinity` always projects (`denoise: 'subspace'`).
 * @returns The decision.
 * @throws RangeError as {@link signalSubspace}.
 */
export function autoSubspace(lr: Cube, bandValid: readonly boolean[], threshold = AUTO_DENOISE_SNR_DB): DenoiseDecision {
  const stage = noiseStage(lr, bandValid);
  return stage.snrDb < threshold ? { snrDb: stage.snrDb, subspace: subspaceOf(stage) } : { snrDb: stage.snrDb };
}

function noiseStage(lr: Cube, bandValid: readonly boolean[]): NoiseStage {
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
  const products = bandProducts(x, nv, N);
  const noise = noiseVariance(x, nv, N, products);
  const mean = products.sums.map((v) => v / N);
  const snr = Array.from({ length: nv }, (_, i) => 10 * Math.log10(products.dot(i, i) / N / Math.max(noise[i], 1e-30)));
  snr.sort((a, b) => a - b);
  return { bands, x, N, mean, noise, snrDb: snr[Math.floor(nv / 2)] };
}

function subspaceOf({ bands, x, N, mean, noise, snrDb }: NoiseStage): SignalSubspace {
  const nv = bands.length;
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
  // Strongest first; keep the directions with more signal than noise and above the noise's spread (at least one).
  const spread = Math.max(1, (1 + Math.sqrt(nv / N)) ** 2 - 1);
  let rank = 0;
  for (let j = 0; j < nv; j++) {
    let noisePower = 0;
    for (let i = 0; i < nv; i++) noisePower += vectors[i * nv + j] ** 2 * noise[i];
    if (values[j] > spread * noisePower) rank++;
  }
  rank = Math.max(1, rank);
  const basis = new Float64Array(nv * rank);
  for (let i = 0; i < nv; i++) for (let r = 0; r < rank; r++) basis[i * rank + r] = vectors[i * nv + (nv - 1 - r)];
  return { bands, mean, basis, rank, noiseVariance: noise, snrDb };
}

/** Band sums and the products of bands at most 2 {@link SUBSPACE_NEIGHBOURS} apart (each computed once). */
interface BandProducts {
  sums: Float64Array;
  /** Sum over pixels of band a times band b, |a - b| <= 2 K. */
  dot: (a: number, b: number) => number;
}

function bandProducts(x: Float64Array, nv: number, N: number): BandProducts {
  const K = SUBSPACE_NEIGHBOURS;
  const sums = new Float64Array(nv);
  const dots = new Float64Array(nv * (2 * K + 1));
  for (let i = 0; i < nv; i++) {
    const xi = x.subarray(i * N, (i + 1) * N);
    let s = 0;
    for (let q = 0; q < N; q++) s += xi[q];
    sums[i] = s;
    for (let d = 0; d <= 2 * K && i + d < nv; d++) {
      const xj = x.subarray((i + d) * N, (i + d + 1) * N);
      let acc = 0;
      for (let q = 0; q < N; q++) acc += xi[q] * xj[q];
      dots[i * (2 * K + 1) + d] = acc;
    }
  }
  return { sums, dot: (a, b) => (a <= b ? dots[a * (2 * K + 1) + b - a] : dots[b * (2 * K + 1) + a - b]) };
}

/**
 * Per-band noise variance of `nv` x `N` spectra: the residual variance of a least-squares fit of each band on its
 * {@link SUBSPACE_NEIGHBOURS} neighbours on each side and a constant, degrees of freedom of the fit removed. Every
 * Gram entry a band's fit needs pairs bands at most 2K apart, so `products` holds them all.
 */
function noiseVariance(x: Float64Array, nv: number, N: number, { sums, dot }: BandProducts): Float64Array {
  const K = SUBSPACE_NEIGHBOURS;
  const out = new Float64Array(nv);
  for (let i = 0; i < nv; i++) {
    const nb: number[] = [];
    for (let j = Math.max(0, i - K); j <= Math.min(nv - 1, i + K); j++) if (j !== i) nb.push(j);
    const p = nb.length + 1;
    // rows: the neighbours, then the constant
    const gram = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    const rhs = new Array<number>(p).fill(0);
    for (let r = 0; r < nb.length; r++) {
      for (let c = r; c < nb.length; c++) gram[r][c] = gram[c][r] = dot(nb[r], nb[c]);
      gram[r][p - 1] = gram[p - 1][r] = sums[nb[r]];
      rhs[r] = dot(nb[r], i);
    }
    gram[p - 1][p - 1] = N;
    rhs[p - 1] = sums[i];
    addRidge(gram);
    const coef = solveSpd(gram, rhs);
    // the residual itself, not y'y - coef'rhs: on a clean capture that difference is all rounding
    const xi = x.subarray(i * N, (i + 1) * N);
    const rows = nb.map((j) => x.subarray(j * N, (j + 1) * N));
    const c0 = coef[p - 1];
    let rss = 0;
    for (let q = 0; q < N; q++) {
      let fit = c0;
      for (let r = 0; r < rows.length; r++) fit += coef[r] * rows[r][q];
      rss += (xi[q] - fit) ** 2;
    }
    out[i] = rss / Math.max(1, N - p);
  }
  return out;
}

/** Adds 1e-12 of the trace (at least 1e-12) to the diagonal of normal equations, in place: a band or regressor that is all zero must not leave them singular. The host adds the same. */
function addRidge(gram: number[][]): void {
  let trace = 0;
  for (let r = 0; r < gram.length; r++) trace += gram[r][r];
  for (let r = 0; r < gram.length; r++) gram[r][r] += 1e-12 * Math.max(1, trace);
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

/**
 * The LR-HSI denoised with the help of the HR-MSI degraded to its grid (`lrmsi`, by the blur the pair shows: the one
 * the statistics graph finds, `fittedBlur`, else the card's PSF): each signal
 * direction's coordinate is regressed on the LR-MSI bands and a constant (least squares over the pixels), the
 * prediction kept and the rest shrunk by the Wiener gain max(0, 1 - n / v), n the noise variance along the
 * direction, v the residual's variance. The residual holds the noise and what the LR-MSI cannot tell (spectral
 * detail, another camera's response, a misregistered pair); where it is mostly signal the gain stays near 1.
 * Outside the subspace the LR-HSI is dropped, as the projection of the output drops it; bands outside
 * `subspace.bands` are kept. The host's `spectra_distill.models.subspace.msi_guided`.
 * @param lr - The LR-HSI the subspace was found on.
 * @param lrmsi - The HR-MSI degraded to the LR-HSI's grid.
 * @param subspace - From {@link signalSubspace} or {@link autoSubspace}.
 * @returns A new cube (same wavelengths and meta).
 * @throws RangeError when `lrmsi` is not on the LR-HSI's grid.
 */
export function msiGuided(lr: Cube, lrmsi: Cube, subspace: SignalSubspace): Cube {
  if (lrmsi.height !== lr.height || lrmsi.width !== lr.width) {
    throw new RangeError(`the LR-MSI is ${lrmsi.height} x ${lrmsi.width} but the LR-HSI is ${lr.height} x ${lr.width}; they must share a grid`);
  }
  const N = lr.height * lr.width;
  const { bands: idx, mean, basis, rank, noiseVariance } = subspace;
  const nv = idx.length;
  const coords = new Float64Array(rank * N);
  for (let i = 0; i < nv; i++) {
    const plane = lr.data.subarray(idx[i] * N, (idx[i] + 1) * N);
    for (let r = 0; r < rank; r++) {
      const e = basis[i * rank + r];
      const row = r * N;
      for (let q = 0; q < N; q++) coords[row + q] += e * (plane[q] - mean[i]);
    }
  }
  // regressors, p x N: the LR-MSI bands, then the constant
  const p = lrmsi.bands + 1;
  const regressors = new Float64Array(p * N);
  regressors.set(lrmsi.data);
  regressors.fill(1, lrmsi.bands * N);
  const gram = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  for (let a = 0; a < p; a++) for (let b = a; b < p; b++) {
    let s = 0;
    for (let q = 0; q < N; q++) s += regressors[a * N + q] * regressors[b * N + q];
    gram[a][b] = gram[b][a] = s;
  }
  addRidge(gram);
  const shrunk = new Float64Array(rank * N);
  for (let r = 0; r < rank; r++) {
    const c = coords.subarray(r * N, (r + 1) * N);
    const rhs = new Array<number>(p).fill(0);
    for (let a = 0; a < p; a++) for (let q = 0; q < N; q++) rhs[a] += regressors[a * N + q] * c[q];
    const coef = solveSpd(gram, rhs);
    const predicted = new Float64Array(N);
    let rss = 0;
    for (let q = 0; q < N; q++) {
      let v = 0;
      for (let a = 0; a < p; a++) v += coef[a] * regressors[a * N + q];
      predicted[q] = v;
      rss += (c[q] - v) ** 2;
    }
    let noise = 0;
    for (let i = 0; i < nv; i++) noise += basis[i * rank + r] ** 2 * noiseVariance[i];
    const gain = Math.min(1, Math.max(0, 1 - noise / Math.max(rss / Math.max(1, N - p), 1e-30)));
    for (let q = 0; q < N; q++) shrunk[r * N + q] = predicted[q] + gain * (c[q] - predicted[q]);
  }
  const data = Float32Array.from(lr.data);
  for (let i = 0; i < nv; i++) {
    const o = idx[i] * N;
    for (let q = 0; q < N; q++) {
      let v = mean[i];
      for (let r = 0; r < rank; r++) v += basis[i * rank + r] * shrunk[r * N + q];
      data[o + q] = v;
    }
  }
  return { ...lr, data };
}
