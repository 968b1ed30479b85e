import type { Cube } from '../cube/cube';
import { BandCountError, NonFiniteError } from '../core/errors';

/**
 * Full-reference metrics, the same formulas and constants as `spectra_distill.metrics.quality`
 * (see distill/METRICS.md); checked against `test/fixtures/metric-vectors.json`. Everything is computed in float64.
 */

/** How the PSNR/SSIM peak is chosen: per-band ground-truth maximum (default) or a fixed data range. */
export type PeakMode = 'band_max' | 'fixed';

/** A band whose error is exactly zero scores this instead of +Inf. */
export const PSNR_CAP_DB = 100;
const NORM_EPS = 1e-10;
const MEAN_EPS = 1e-12;
const SSIM_WINDOW = 11;
const SSIM_SIGMA = 1.5;
const SSIM_K1 = 0.01;
const SSIM_K2 = 0.03;

/** Masks and peak options shared by the metrics. */
export interface MetricOptions {
  /** H*W pixel mask; false pixels are excluded. */
  valid?: ArrayLike<boolean>;
  /** Per-band mask; false bands are excluded. */
  bandMask?: ArrayLike<boolean>;
  /** @defaultValue 'band_max' */
  peak?: PeakMode;
  /** Peak for `peak: 'fixed'`. @defaultValue 1 */
  dataRange?: number;
}

/** The five scores of {@link evaluate}. */
export interface FusionMetrics {
  psnr: number;
  sam: number;
  ergas: number;
  rmse: number;
  ssim: number;
}

interface Prepared {
  p: Float32Array;
  g: Float32Array;
  plane: number;
  H: number;
  W: number;
  valid: Uint8Array;
  pixels: number[];
  bands: number[];
}

function prepare(pred: Cube, gt: Cube, o: MetricOptions): Prepared {
  if (pred.bands !== gt.bands || pred.height !== gt.height || pred.width !== gt.width) {
    throw new BandCountError(
      `prediction (${pred.bands}x${pred.height}x${pred.width} vs ground truth ${gt.bands}x${gt.height}x${gt.width})`,
      gt.bands,
      pred.bands,
    );
  }
  const plane = gt.height * gt.width;
  const valid = new Uint8Array(plane).fill(1);
  if (o.valid !== undefined) {
    if (o.valid.length !== plane) throw new RangeError(`Expected a valid mask of ${plane} pixels but received ${o.valid.length}`);
    for (let i = 0; i < plane; i++) valid[i] = o.valid[i] ? 1 : 0;
  }
  if (o.bandMask !== undefined && o.bandMask.length !== gt.bands) {
    throw new RangeError(`Expected a band mask of ${gt.bands} entries but received ${o.bandMask.length}`);
  }
  const bands: number[] = [];
  for (let b = 0; b < gt.bands; b++) if (o.bandMask === undefined || o.bandMask[b]) bands.push(b);
  const pixels: number[] = [];
  for (let i = 0; i < plane; i++) if (valid[i]) pixels.push(i);
  if (bands.length === 0 || pixels.length === 0) throw new RangeError('Metrics need at least one valid band and one valid pixel');
  for (const [name, arr] of [['prediction', pred.data], ['ground truth', gt.data]] as const) {
    let bad = 0;
    for (const b of bands) for (const i of pixels) if (!Number.isFinite(arr[b * plane + i])) bad++;
    if (bad > 0) throw new NonFiniteError(`${name} holds ${bad} NaN/Inf values in valid pixels`);
  }
  return { p: pred.data, g: gt.data, plane, H: gt.height, W: gt.width, valid, pixels, bands };
}

function bandMse(s: Prepared, b: number): number {
  let acc = 0;
  for (const i of s.pixels) {
    const d = s.p[b * s.plane + i] - s.g[b * s.plane + i];
    acc += d * d;
  }
  return acc / s.pixels.length;
}

function peakOf(s: Prepared, b: number, o: MetricOptions): number {
  const mode = o.peak ?? 'band_max';
  if (mode === 'fixed') return o.dataRange ?? 1;
  if (mode !== 'band_max') throw new RangeError(`Unknown peak mode '${String(mode)}'; known: band_max, fixed`);
  let m = -Infinity;
  for (const i of s.pixels) m = Math.max(m, s.g[b * s.plane + i]);
  return m;
}

/**
 * Mean over bands of `10 log10(peak_b^2 / MSE_b)` in dB, each band capped at {@link PSNR_CAP_DB};
 * bands with peak <= 0 are left out.
 * @param pred - Prediction.
 * @param gt - Reference.
 * @param options - Masks and peak mode.
 * @returns PSNR in dB.
 * @throws RangeError when every band has a peak <= 0.
 */
export function psnr(pred: Cube, gt: Cube, options: MetricOptions = {}): number {
  const s = prepare(pred, gt, options);
  const scores: number[] = [];
  for (const b of s.bands) {
    const peak = peakOf(s, b, options);
    if (!(peak > 0)) continue;
    const v = 10 * Math.log10((peak * peak) / bandMse(s, b));
    scores.push(Math.min(v, PSNR_CAP_DB));
  }
  if (scores.length === 0) throw new RangeError('PSNR: every ground-truth band has a peak <= 0');
  return mean(scores);
}

/**
 * Mean spectral angle in degrees over valid pixels (cosine clipped to [-1, 1]; pixels with a spectrum
 * norm <= 1e-10 skipped). NaN when no pixel is left.
 * @param pred - Prediction.
 * @param gt - Reference.
 * @param options - Masks.
 * @returns SAM in degrees.
 */
export function sam(pred: Cube, gt: Cube, options: MetricOptions = {}): number {
  const s = prepare(pred, gt, options);
  let acc = 0;
  let n = 0;
  for (const i of s.pixels) {
    let pp = 0;
    let gg = 0;
    let pg = 0;
    for (const b of s.bands) {
      const pv = s.p[b * s.plane + i];
      const gv = s.g[b * s.plane + i];
      pp += pv * pv;
      gg += gv * gv;
      pg += pv * gv;
    }
    const pn = Math.sqrt(pp);
    const gn = Math.sqrt(gg);
    if (!(pn > NORM_EPS && gn > NORM_EPS)) continue;
    acc += Math.acos(Math.min(1, Math.max(-1, pg / (pn * gn))));
    n++;
  }
  return n === 0 ? NaN : ((acc / n) * 180) / Math.PI;
}

/**
 * `(100 / scale) * sqrt(mean_b(MSE_b / mu_b^2))`, bands with |mu_b| <= 1e-12 left out.
 * @param pred - Prediction.
 * @param gt - Reference.
 * @param scale - Resolution ratio.
 * @param options - Masks.
 * @returns ERGAS.
 */
export function ergas(pred: Cube, gt: Cube, scale: number, options: MetricOptions = {}): number {
  if (!(scale > 0)) throw new RangeError(`ERGAS scale must be positive; got ${scale}`);
  const s = prepare(pred, gt, options);
  const terms: number[] = [];
  for (const b of s.bands) {
    let mu = 0;
    for (const i of s.pixels) mu += s.g[b * s.plane + i];
    mu /= s.pixels.length;
    if (Math.abs(mu) <= MEAN_EPS) continue;
    terms.push(bandMse(s, b) / (mu * mu));
  }
  if (terms.length === 0) throw new RangeError('ERGAS: every ground-truth band has a zero mean');
  return (100 / scale) * Math.sqrt(mean(terms));
}

/**
 * Root mean squared error over valid pixels and bands, in the inputs' units.
 * @param pred - Prediction.
 * @param gt - Reference.
 * @param options - Masks.
 * @returns RMSE.
 */
export function rmse(pred: Cube, gt: Cube, options: MetricOptions = {}): number {
  const s = prepare(pred, gt, options);
  let acc = 0;
  for (const b of s.bands) acc += bandMse(s, b);
  return Math.sqrt(acc / s.bands.length);
}

function filterValid(x: Float64Array, H: number, W: number, taps: Float64Array): { data: Float64Array; h: number; w: number } {
  const n = taps.length;
  const h = H - n + 1;
  const w = W - n + 1;
  const rows = new Float64Array(h * W);
  for (let k = 0; k < n; k++) for (let y = 0; y < h; y++) for (let xx = 0; xx < W; xx++) rows[y * W + xx] += taps[k] * x[(y + k) * W + xx];
  const out = new Float64Array(h * w);
  for (let k = 0; k < n; k++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) out[y * w + xx] += taps[k] * rows[y * W + xx + k];
  return { data: out, h, w };
}

function gaussianWindow(): Float64Array {
  const t = new Float64Array(SSIM_WINDOW);
  let sum = 0;
  for (let i = 0; i < SSIM_WINDOW; i++) {
    const x = i - (SSIM_WINDOW - 1) / 2;
    t[i] = Math.exp(-(x * x) / (2 * SSIM_SIGMA * SSIM_SIGMA));
    sum += t[i];
  }
  for (let i = 0; i < SSIM_WINDOW; i++) t[i] /= sum;
  return t;
}

/**
 * Mean over bands of the mean SSIM map (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, 'valid' filtering,
 * only windows entirely inside valid pixels; L = the PSNR peak).
 * @param pred - Prediction.
 * @param gt - Reference (at least 11 x 11).
 * @param options - Masks and peak mode.
 * @returns SSIM.
 * @throws RangeError when the image is smaller than the window or no window is fully valid.
 */
export function ssim(pred: Cube, gt: Cube, options: MetricOptions = {}): number {
  const s = prepare(pred, gt, options);
  const { H, W, plane } = s;
  if (Math.min(H, W) < SSIM_WINDOW) throw new RangeError(`SSIM needs images of at least ${SSIM_WINDOW} x ${SSIM_WINDOW}; got ${H} x ${W}`);
  const taps = gaussianWindow();
  const invalid = new Float64Array(plane);
  for (let i = 0; i < plane; i++) invalid[i] = s.valid[i] ? 0 : 1;
  const ok = filterValid(invalid, H, W, new Float64Array(SSIM_WINDOW).fill(1)).data.map((v) => (v === 0 ? 1 : 0));
  if (!ok.some((v) => v === 1)) throw new RangeError('SSIM: no 11 x 11 window lies entirely inside valid pixels');
  const scores: number[] = [];
  const x = new Float64Array(plane);
  const y = new Float64Array(plane);
  const prod = new Float64Array(plane);
  for (const b of s.bands) {
    const L = peakOf(s, b, options);
    if (!(L > 0)) continue;
    for (let i = 0; i < plane; i++) {
      x[i] = s.p[b * plane + i];
      y[i] = s.g[b * plane + i];
    }
    const c1 = (SSIM_K1 * L) ** 2;
    const c2 = (SSIM_K2 * L) ** 2;
    const mx = filterValid(x, H, W, taps).data;
    const my = filterValid(y, H, W, taps).data;
    for (let i = 0; i < plane; i++) prod[i] = x[i] * x[i];
    const exx = filterValid(prod, H, W, taps).data;
    for (let i = 0; i < plane; i++) prod[i] = y[i] * y[i];
    const eyy = filterValid(prod, H, W, taps).data;
    for (let i = 0; i < plane; i++) prod[i] = x[i] * y[i];
    const exy = filterValid(prod, H, W, taps).data;
    let acc = 0;
    let n = 0;
    for (let i = 0; i < mx.length; i++) {
      if (!ok[i]) continue;
      const sxx = exx[i] - mx[i] * mx[i];
      const syy = eyy[i] - my[i] * my[i];
      const sxy = exy[i] - mx[i] * my[i];
      acc += ((2 * mx[i] * my[i] + c1) * (2 * sxy + c2)) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (sxx + syy + c2));
      n++;
    }
    scores.push(acc / n);
  }
  if (scores.length === 0) throw new RangeError('SSIM: every ground-truth band has a peak <= 0');
  return mean(scores);
}

/**
 * All five metrics with one set of masks.
 * @param pred - Prediction.
 * @param gt - Reference.
 * @param scale - Resolution ratio for ERGAS.
 * @param options - Masks and peak mode.
 * @returns PSNR, SAM, ERGAS, RMSE, SSIM.
 * @example
 * const m = evaluate(fused, truth, 4);
 */
export function evaluate(pred: Cube, gt: Cube, scale: number, options: MetricOptions = {}): FusionMetrics {
  return {
    psnr: psnr(pred, gt, options),
    sam: sam(pred, gt, options),
    ergas: ergas(pred, gt, scale, options),
    rmse: rmse(pred, gt, options),
    ssim: ssim(pred, gt, options),
  };
}

function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/**
 * Per-band PSNR (per-band peak) and mean SAM without pixel masks, accumulated row by row of pixels:
 * {@link psnrAndSam} feeds a whole cube as one row, the streaming consistency check one output row at a time,
 * so both give identical scores.
 * @internal
 */
export class ScoreAccumulator {
  private readonly se: Float64Array;
  private readonly peak: Float64Array;
  private readonly pp: Float64Array;
  private readonly gg: Float64Array;
  private readonly pg: Float64Array;
  private samSum = 0;
  private samCount = 0;
  private pixels = 0;

  constructor(
    private readonly bands: readonly number[],
    rowLength: number,
  ) {
    this.se = new Float64Array(bands.length);
    this.peak = new Float64Array(bands.length).fill(-Infinity);
    this.pp = new Float64Array(rowLength);
    this.gg = new Float64Array(rowLength);
    this.pg = new Float64Array(rowLength);
  }

  /** One row of n pixels; band b of pixel j is `pred[predAt(b) + j]` and `ref[refAt(b) + j]`. */
  addRow(pred: Float32Array, predAt: (b: number) => number, ref: Float32Array, refAt: (b: number) => number, n: number): void {
    const { pp, gg, pg } = this;
    pp.fill(0, 0, n);
    gg.fill(0, 0, n);
    pg.fill(0, 0, n);
    this.bands.forEach((b, k) => {
      const po = predAt(b);
      const ro = refAt(b);
      let se = this.se[k];
      let peak = this.peak[k];
      for (let j = 0; j < n; j++) {
        const pv = pred[po + j];
        const gv = ref[ro + j];
        if (pv - pv !== 0 || gv - gv !== 0) throw new NonFiniteError(`NaN/Inf in band ${b} at pixel ${this.pixels + j}`);
        const d = pv - gv;
        se += d * d;
        if (gv > peak) peak = gv;
        pp[j] += pv * pv;
        gg[j] += gv * gv;
        pg[j] += pv * gv;
      }
      this.se[k] = se;
      this.peak[k] = peak;
    });
    for (let j = 0; j < n; j++) {
      const pn = Math.sqrt(pp[j]);
      const gn = Math.sqrt(gg[j]);
      if (!(pn > NORM_EPS && gn > NORM_EPS)) continue;
      this.samSum += Math.acos(Math.min(1, Math.max(-1, pg[j] / (pn * gn))));
      this.samCount++;
    }
    this.pixels += n;
  }

  score(): { psnr: number; sam: number } {
    const scores: number[] = [];
    this.bands.forEach((_, k) => {
      const peak = this.peak[k];
      if (peak > 0) scores.push(Math.min(10 * Math.log10((peak * peak) / (this.se[k] / this.pixels)), PSNR_CAP_DB));
    });
    return {
      psnr: scores.length ? scores.reduce((a, v) => a + v, 0) / scores.length : NaN,
      sam: this.samCount === 0 ? NaN : ((this.samSum / this.samCount) * 180) / Math.PI,
    };
  }
}

/**
 * PSNR (per-band peak) and SAM in one pass without pixel masks: the same numbers as {@link psnr} and
 * {@link sam}, at a fraction of the cost, for the per-frame consistency check.
 * @param pred - Prediction.
 * @param ref - Reference (same shape).
 * @param bandMask - Bands to include (all when omitted).
 * @returns PSNR in dB and SAM in degrees.
 * @internal
 */
export function psnrAndSam(pred: Cube, ref: Cube, bandMask?: ArrayLike<boolean>): { psnr: number; sam: number } {
  if (pred.bands !== ref.bands || pred.height !== ref.height || pred.width !== ref.width) {
    throw new BandCountError('prediction', ref.bands, pred.bands);
  }
  const plane = ref.height * ref.width;
  const bands: number[] = [];
  for (let b = 0; b < ref.bands; b++) if (bandMask === undefined || bandMask[b]) bands.push(b);
  const scores = new ScoreAccumulator(bands, plane);
  scores.addRow(pred.data, (b) => b * plane, ref.data, (b) => b * plane, plane);
  return scores.score();
}
