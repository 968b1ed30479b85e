import type { Cube } from '../cube/cube';
import { gaussianTaps, spatialDegrade } from './psf';
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
   * The blur fitted without assuming a Gaussian ({@link fitPsfTaps}, started from `sigma`): symmetric 1-D taps of the
   * same kernel size, and their misfit. Far below `misfit` means the camera's blur is not Gaussian.
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
  return { sigma: best, kernelSize, misfit: at(best), curve, free: fitTapsTo(target, hr, scale, gaussianTaps({ kernelSize, sigma: best })) };
}

/** Smallest log-tap step of {@link fitPsfTaps}'s search; below it the misfit no longer moves. */
const FIT_TOLERANCE = 1e-4;
/** Misfit evaluations {@link fitPsfTaps} may spend (a few hundred suffice; each is one blur of the HR-MSI). */
const FIT_MAX_EVALUATIONS = 800;

/**
 * Fits a separable, symmetric blur of any shape to the pair (the same misfit as {@link estimatePsfSigma}): the
 * half-kernel's log-taps are searched coordinate by coordinate, halving the step when no move improves, from
 * `start`. A camera whose blur is a truncated or box-like kernel is recovered where a Gaussian sigma cannot be
 * (the generalisation test pairs with a PSF truncated to `scale` taps: their 4 taps in 8, to 1e-3).
 * @param lr - As for {@link estimatePsfSigma}.
 * @param hr - As for {@link estimatePsfSigma}.
 * @param scale - HR / LR.
 * @param srf - As for {@link estimatePsfSigma}.
 * @param start - Starting taps (sum 1, symmetric), e.g. the best Gaussian's.
 * @returns The taps (sum 1) and their misfit.
 */
export function fitPsfTaps(lr: Cube, hr: Cube, scale: number, srf: readonly (readonly number[])[], start: ArrayLike<number>): { taps: number[]; misfit: number } {
  return fitTapsTo(projectSrf(lr, srf), hr, scale, start);
}

/** {@link fitPsfTaps} against a target already projected through the SRF. */
function fitTapsTo(target: Cube, hr: Cube, scale: number, start: ArrayLike<number>): { taps: number[]; misfit: number } {
  const K = start.length;
  const half = Math.ceil(K / 2);
  const tapsOf = (theta: Float64Array): number[] => {
    const t = Array.from({ length: K }, (_, k) => Math.exp(theta[Math.min(k, K - 1 - k)]));
    const sum = t.reduce((a, v) => a + v, 0);
    return t.map((v) => v / sum);
  };
  const misfitOf = (theta: Float64Array): number => bandFitMisfit(spatialDegrade(hr, scale, { taps: tapsOf(theta) }), target);
  const theta = Float64Array.from({ length: half }, (_, i) => Math.log(Math.max(start[i], 1e-12)));
  let best = misfitOf(theta);
  let evaluations = 1;
  for (let step = 1; step >= FIT_TOLERANCE && evaluations < FIT_MAX_EVALUATIONS; ) {
    let moved = false;
    for (let i = 0; i < half; i++) {
      for (const dir of [step, -step]) {
        const trial = Float64Array.from(theta);
        trial[i] += dir;
        const m = misfitOf(trial);
        evaluations++;
        if (m < best) {
          best = m;
          theta.set(trial);
          moved = true;
          break;
        }
      }
    }
    if (!moved) step /= 2;
  }
  return { taps: tapsOf(theta), misfit: best };
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
