import type { Cube } from '../cube/cube';
import { reflectPad, sourceIndices, spatialDegrade } from './psf';
import { projectSrf } from './srf';

/** The blur of a camera pair, as {@link estimatePsfSigma} finds it. */
export interface PsfEstimate {
  /** Gaussian sigma in HR pixels that best explains the pair. */
  sigma: number;
  /** Taps per axis (the model card's; the estimate keeps the kernel size). */
  kernelSize: number;
  /** Relative RMS misfit at `sigma` (residual of R x_LR against the blurred, decimated HR-MSI, per-band gain/offset fitted). */
  misfit: number;
  /** Every sigma tried with its misfit, ascending sigma. */
  curve: { sigma: number; misfit: number }[];
  /**
   * The blur fitted without assuming a Gaussian ({@link fitPsfTaps}): symmetric 1-D taps of the same kernel size,
   * and their misfit. Far below `misfit` means the camera's blur is not Gaussian.
   */
  free: { taps: number[]; misfit: number };
}

/** Search range and resolution of {@link estimatePsfSigma}. */
export interface PsfSearch {
  /** @defaultValue 0.5 */
  min?: number;
  /** @defaultValue 4 */
  max?: number;
  /** Coarse step; the best one is then refined to a fifth of it. @defaultValue 0.1 */
  step?: number;
}

/**
 * Estimates the camera's PSF width from the pair itself: the LR-HSI projected through the SRF is what the HR-MSI
 * looks like after the true blur and decimation, so the Gaussian sigma whose blur of the HR-MSI fits it best
 * (per-band gain and offset fitted, as a camera's gain is unknown) is the camera's. On the test scenes of the
 * generalisation tables it finds the true sigma to 0.1 px for pairs blurred 0.5 px narrower or wider than the card says.
 * @param lr - LR-HSI on the model grid, 0..1 units (invalid bands zero).
 * @param hr - HR-MSI on the model's MSI bands, same units.
 * @param scale - HR / LR.
 * @param kernelSize - Taps per axis (the card's `psf.kernel_size`).
 * @param srf - b x B SRF on the model grid, rows over the valid bands only.
 * @param search - See {@link PsfSearch}.
 * @returns The estimate and the misfit curve.
 */
export function estimatePsfSigma(lr: Cube, hr: Cube, scale: number, kernelSize: number, srf: readonly (readonly number[])[], search: PsfSearch = {}): PsfEstimate {
  const { min = 0.5, max = 4, step = 0.1 } = search;
  if (!(min > 0 && max > min && step > 0)) throw new RangeError(`Expected 0 < min < max and step > 0 but received ${min}, ${max}, ${step}`);
  const target = projectSrf(lr, srf);
  const misfitAt = (sigma: number): number => bandFitMisfit(spatialDegrade(hr, scale, { kernelSize, sigma }), target);
  const curve: { sigma: number; misfit: number }[] = [];
  const tried = new Map<number, number>();
  const at = (sigma: number): number => {
    const key = Math.round(sigma * 1000) / 1000;
    let m = tried.get(key);
    if (m === undefined) {
      m = misfitAt(key);
      tried.set(key, m);
      curve.push({ sigma: key, misfit: m });
    }
    return m;
  };
  let best = min;
  for (let s = min; s <= max + 1e-9; s += step) if (at(s) < at(best)) best = Math.round(s * 1000) / 1000;
  const fine = step / 5;
  for (let s = Math.max(min, best - step); s <= Math.min(max, best + step) + 1e-9; s += fine) if (at(s) < at(best)) best = Math.round(s * 1000) / 1000;
  curve.sort((a, b) => a.sigma - b.sigma);
  return { sigma: best, kernelSize, misfit: at(best), curve, free: fitTapsTo(target, hr, scale, kernelSize) };
}

/** Ridge of the tap fit's normal equations, relative to their mean diagonal (the graph's `PSF_FIT_RIDGE`). */
const FIT_RIDGE = 1e-6;

/**
 * Fits a separable, symmetric blur of any shape to the pair (misfit as {@link estimatePsfSigma}). Blurring and
 * decimating are linear in the 2-D kernel, so the kernel with the four-fold symmetry of a separable symmetric one
 * is a least-squares solve (per-band offsets removed, one kernel for all bands); its row sums are the taps,
 * negative ones cut to zero. This is the fit the statistics graph of a model with `psf.per_frame.free_taps` makes
 * on every frame (`Degradation.fit_taps`), so the two agree to float rounding. A camera whose blur is a truncated
 * or box-like kernel is recovered where a Gaussian sigma cannot be.
 * @param lr - As for {@link estimatePsfSigma}.
 * @param hr - As for {@link estimatePsfSigma}.
 * @param scale - HR / LR.
 * @param srf - As for {@link estimatePsfSigma}.
 * @param kernelSize - Taps per axis (the card's `psf.kernel_size`).
 * @returns The taps (sum 1) and their misfit.
 */
export function fitPsfTaps(lr: Cube, hr: Cube, scale: number, srf: readonly (readonly number[])[], kernelSize: number): { taps: number[]; misfit: number } {
  return fitTapsTo(projectSrf(lr, srf), hr, scale, kernelSize);
}

/** {@link fitPsfTaps} against a target already projected through the SRF. */
function fitTapsTo(target: Cube, hr: Cube, scale: number, K: number): { taps: number[]; misfit: number } {
  const { height: h, width: w } = target;
  const { height: H, width: W } = hr;
  const pad = reflectPad(K, scale, H, W);
  const rowIdx = sourceIndices(H, h, scale, pad, K);
  const colIdx = sourceIndices(W, w, scale, pad, K);
  const half = Math.ceil(K / 2);
  // the taps kernel entry (p, q) weighs, folded by the symmetry: p and its mirror K - 1 - p
  const mirrored = (p: number): number[] => (p === K - 1 - p ? [p] : [p, K - 1 - p]);
  const pairs: [number, number][] = [];
  for (let p = 0; p < half; p++) for (let q = p; q < half; q++) pairs.push([p, q]);
  const U = pairs.length;
  const n = h * w;
  const gram = new Float64Array(U * U);
  const rhs = new Float64Array(U);
  const basis = Array.from({ length: U }, () => new Float64Array(n));
  for (let b = 0; b < hr.bands; b++) {
    const plane = hr.data.subarray(b * H * W, (b + 1) * H * W);
    const cell = (p: number, q: number, i: number, j: number): number => {
      let acc = 0;
      for (const r of mirrored(p)) for (const c of mirrored(q)) acc += plane[rowIdx[i * K + r] * W + colIdx[j * K + c]];
      return acc;
    };
    pairs.forEach(([p, q], u) => {
      const img = basis[u];
      let mean = 0;
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const v = p === q ? cell(p, q, i, j) : cell(p, q, i, j) + cell(q, p, i, j);
          img[i * w + j] = v;
          mean += v;
        }
      }
      mean /= n;
      for (let k = 0; k < n; k++) img[k] -= mean;
    });
    const y = target.data.subarray(b * n, (b + 1) * n);
    let yMean = 0;
    for (let k = 0; k < n; k++) yMean += y[k];
    yMean /= n;
    for (let u = 0; u < U; u++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += basis[u][k] * (y[k] - yMean);
      rhs[u] += acc;
      for (let v = u; v < U; v++) {
        let g = 0;
        for (let k = 0; k < n; k++) g += basis[u][k] * basis[v][k];
        gram[u * U + v] += g;
        if (v !== u) gram[v * U + u] += g;
      }
    }
  }
  let trace = 0;
  for (let u = 0; u < U; u++) trace += gram[u * U + u];
  const ridge = (FIT_RIDGE * trace) / U + 1e-30;
  for (let u = 0; u < U; u++) gram[u * U + u] += ridge;
  const coef = solveSpd(gram, rhs, U);
  // the kernel's row sums: entry (p, q) stands for two columns unless q is the middle tap
  const halfTaps = Array.from({ length: half }, (_, p) => {
    let sum = 0;
    pairs.forEach(([a, c], u) => {
      if (a !== p && c !== p) return;
      const other = a === p ? c : a;
      sum += coef[u] * (other === K - 1 - other ? 1 : 2);
    });
    return Math.max(0, sum);
  });
  const taps = Array.from({ length: K }, (_, k) => halfTaps[Math.min(k, K - 1 - k)]);
  const total = taps.reduce((a, v) => a + v, 0);
  // a flat frame shows no blur: uniform taps, whose misfit then says so
  const normalised = total > 0 ? taps.map((v) => v / total) : taps.map(() => 1 / K);
  return { taps: normalised, misfit: bandFitMisfit(spatialDegrade(hr, scale, { taps: normalised }), target) };
}

/** x with A x = b for a small symmetric positive-definite A (n x n, row-major), by Cholesky. */
function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / l[j * n + j];
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * z[k];
    z[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Relative RMS residual of `target` against `x`, band by band, after a least-squares gain and offset. */
function bandFitMisfit(x: Cube, target: Cube): number {
  const n = x.height * x.width;
  let residual = 0;
  let energy = 0;
  for (let b = 0; b < x.bands; b++) {
    const xs = x.data.subarray(b * n, (b + 1) * n);
    const ys = target.data.subarray(b * n, (b + 1) * n);
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    let syy = 0;
    for (let i = 0; i < n; i++) {
      sx += xs[i];
      sy += ys[i];
      sxx += xs[i] * xs[i];
      sxy += xs[i] * ys[i];
      syy += ys[i] * ys[i];
    }
    const vx = sxx - (sx * sx) / n;
    const cxy = sxy - (sx * sy) / n;
    const vy = syy - (sy * sy) / n;
    // residual variance of y after regressing on x
    residual += vx > 0 ? Math.max(0, vy - (cxy * cxy) / vx) : vy;
    energy += syy;
  }
  return energy > 0 ? Math.sqrt(residual / energy) : 0;
}
