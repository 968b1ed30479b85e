import type { Cube } from '../cube/cube';
import { BandCountError, SizeMismatchError } from '../core/errors';
import { type Psf, spatialDegrade } from '../spectral/psf';
import { solveSpd } from '../spectral/linear-solve';

/**
 * How an MSI camera responds to the scene, on a model's HSI band grid: `msi[c] = sum_b matrix[c][b] * hsi[b] + offset[c]`
 * in the units the fusion sees (after value scaling). From a camera profile (an SRF: offsets 0) or estimated from the
 * image pair itself ({@link estimateMsiResponse}).
 */
export interface MsiResponse {
  /** b x B, non-negative; zero on HSI bands that are not valid. Row sums are the bands' gains. */
  matrix: number[][];
  /** b offsets (dark level, path radiance), same units as the MSI. */
  offset: number[];
  names: string[];
  /** Where it came from: `'profile'` (the camera's SRF) or `'estimated'` (from the pair). */
  source: 'profile' | 'estimated';
}

/** {@link estimateMsiResponse}'s result: the response and how well it explains the LR MSI. */
export interface MsiResponseEstimate extends MsiResponse {
  source: 'estimated';
  /** Per MSI band: PSNR (dB, peak = the band's maximum) of the fitted LR MSI against the degraded HR-MSI. */
  misfitPsnr: number[];
  /** Per MSI band: share of the LR MSI's variance the fit explains (R^2). */
  explained: number[];
  /** Per MSI band: response-weighted centre, nm. */
  centroids: number[];
  /** Per MSI band: sum of the response (1 = same radiometry as the HSI). */
  gains: number[];
}

/**
 * Estimates the MSI camera's spectral response from the pair itself, as CNMF does: the HR-MSI is blurred and
 * decimated with the model's PSF to the LR-HSI's grid, then each MSI band is fitted as a non-negative combination
 * of the LR-HSI's valid bands plus a free offset (non-negative least squares on mean-removed pixels, so a dark
 * level does not bend the response). Needs both inputs in the same value scale as fusion sees them.
 * @param lrhsi - LR-HSI on the model's band grid (0..1 units).
 * @param bandValid - Valid LR-HSI bands; others get zero response.
 * @param hrmsi - HR-MSI, `scale` x the LR-HSI (0..1 units).
 * @param scale - Resolution ratio.
 * @param psf - The model card's PSF (or the camera's measured one).
 * @returns The response with its misfit.
 * @throws {@link SizeMismatchError} when the HR-MSI is not `scale` x the LR-HSI.
 * @throws {@link BandCountError} when `bandValid` does not match the LR-HSI.
 * @example
 * const est = estimateMsiResponse(lrOnGrid, valid, rgb, 4, { kernelSize: 8, sigma: 2 });
 * console.log(est.centroids, est.misfitPsnr);
 */
export function estimateMsiResponse(lrhsi: Cube, bandValid: readonly boolean[], hrmsi: Cube, scale: number, psf: Psf): MsiResponseEstimate {
  if (bandValid.length !== lrhsi.bands) throw new BandCountError('bandValid', lrhsi.bands, bandValid.length);
  if (hrmsi.height !== lrhsi.height * scale || hrmsi.width !== lrhsi.width * scale) {
    throw new SizeMismatchError(`hrmsi is ${hrmsi.height} x ${hrmsi.width}; at scale ${scale} it must be ${lrhsi.height * scale} x ${lrhsi.width * scale} to estimate its response`);
  }
  const lrMsi = spatialDegrade(hrmsi, scale, psf);
  const P = lrhsi.height * lrhsi.width;
  const idx = bandValid.flatMap((v, b) => (v ? [b] : []));
  const n = idx.length;
  const X = idx.map((b) => centred(lrhsi.data.subarray(b * P, (b + 1) * P)));
  const G = gram(X.map((x) => x.values));
  // A whisper of ridge keeps the active-set solves stable where neighbouring bands are nearly collinear.
  const trace = G.reduce((a, row, i) => a + row[i], 0);
  for (let i = 0; i < n; i++) G[i][i] += (1e-6 * trace) / Math.max(1, n);
  const matrix: number[][] = [];
  const offset: number[] = [];
  const misfitPsnr: number[] = [];
  const explained: number[] = [];
  for (let c = 0; c < hrmsi.bands; c++) {
    const s = lrMsi.data.subarray(c * P, (c + 1) * P);
    const sc = centred(s);
    const h = X.map((x) => dot(x.values, sc.values));
    const r = nnls(G, h);
    const row = new Array<number>(lrhsi.bands).fill(0);
    idx.forEach((b, k) => (row[b] = r[k]));
    const o = sc.mean - idx.reduce((a, _, k) => a + r[k] * X[k].mean, 0);
    let se = 0;
    let peak = -Infinity;
    let variance = 0;
    for (let p = 0; p < P; p++) {
      let fit = o;
      for (let k = 0; k < n; k++) if (r[k] !== 0) fit += r[k] * lrhsi.data[idx[k] * P + p];
      se += (fit - s[p]) ** 2;
      variance += (s[p] - sc.mean) ** 2;
      if (s[p] > peak) peak = s[p];
    }
    matrix.push(row);
    offset.push(o);
    misfitPsnr.push(se === 0 ? 100 : Math.min(100, 10 * Math.log10((peak * peak) / (se / P))));
    explained.push(variance > 0 ? 1 - se / variance : 1);
  }
  const gains = matrix.map((row) => row.reduce((a, v) => a + v, 0));
  const centroids = matrix.map((row, c) => (gains[c] > 0 ? row.reduce((a, v, b) => a + v * lrhsi.wavelengths[b], 0) / gains[c] : NaN));
  const names = (hrmsi.meta?.bandNames as string[] | undefined) ?? Array.from({ length: hrmsi.bands }, (_, c) => `band ${c + 1}`);
  return { matrix, offset, names, source: 'estimated', misfitPsnr, explained, centroids, gains };
}

/**
 * Re-expresses an HR-MSI from one camera in the bands a model was trained with: a linear map (with offset) from
 * the camera's bands to the model's, fitted on the scene's own LR-HSI spectra through both responses. The
 * fit uses only spectra (the LR-HSI), so it needs no registration, and it handles a different band count (an
 * RGB camera feeding a 4-band model predicts the fourth band as well as its three bands allow).
 * @param hrmsi - The camera's HR-MSI (0..1 units), `camera.matrix.length` bands.
 * @param camera - The camera's response on the model grid.
 * @param modelSrf - b' x B: the card's SRF (renormalised on the valid bands).
 * @param lrhsi - LR-HSI on the model grid (0..1 units): the spectra the map is fitted on.
 * @returns The HR-MSI in the model's b' bands, with `meta.msiMap` recording the map.
 * @throws {@link BandCountError} when the HR-MSI's band count differs from the response's.
 */
export function msiToModelBands(hrmsi: Cube, camera: MsiResponse, modelSrf: readonly (readonly number[])[], lrhsi: Cube): Cube {
  const b = camera.matrix.length;
  if (hrmsi.bands !== b) throw new BandCountError('hrmsi (camera response)', b, hrmsi.bands);
  const P = lrhsi.height * lrhsi.width;
  const project = (rows: readonly (readonly number[])[], offsets?: readonly number[]): Float64Array[] =>
    rows.map((row, c) => {
      const out = new Float64Array(P).fill(offsets?.[c] ?? 0);
      row.forEach((w, k) => {
        if (w === 0) return;
        const src = lrhsi.data.subarray(k * P, (k + 1) * P);
        for (let p = 0; p < P; p++) out[p] += w * src[p];
      });
      return out;
    });
  // Design: the camera's bands as the LR-HSI predicts them, plus a constant; target: the model's bands.
  const D = [...project(camera.matrix, camera.offset), new Float64Array(P).fill(1)];
  const T = project(modelSrf);
  const DtD = gram(D);
  const scaleRidge = DtD.reduce((a, row, i) => a + row[i], 0) * 1e-9;
  for (let i = 0; i < DtD.length; i++) DtD[i][i] += scaleRidge;
  const A = T.map((t) => solveSpd(DtD, D.map((d) => dot(d, t))));
  const plane = hrmsi.height * hrmsi.width;
  const out = new Float32Array(A.length * plane);
  A.forEach((a, k) => {
    for (let p = 0; p < plane; p++) {
      let v = a[b];
      for (let c = 0; c < b; c++) v += a[c] * hrmsi.data[c * plane + p];
      out[k * plane + p] = v;
    }
  });
  const centroids = modelSrf.map((row) => row.reduce((acc, w, k) => acc + w * lrhsi.wavelengths[k], 0) / Math.max(1e-12, row.reduce((acc, w) => acc + w, 0)));
  const { fwhm: _fwhm, ...rest } = hrmsi;
  return { ...rest, bands: A.length, data: out, wavelengths: centroids, meta: { ...(hrmsi.meta ?? {}), msiMap: { from: camera.names, source: camera.source, coefficients: A } } };
}

/**
 * Non-negative least squares on the normal equations: minimises 1/2 x'Gx - h'x subject to x >= 0 (Lawson and
 * Hanson's active-set method; G symmetric positive definite).
 * @internal
 */
export function nnls(G: readonly (readonly number[])[], h: readonly number[]): number[] {
  const n = h.length;
  const x = new Array<number>(n).fill(0);
  const passive = new Array<boolean>(n).fill(false);
  const gradient = (): number[] => h.map((hi, i) => hi - G[i].reduce((a, g, j) => a + g * x[j], 0));
  const tol = 1e-12 * Math.max(1, ...h.map(Math.abs));
  for (let outer = 0; outer < 3 * n + 10; outer++) {
    const w = gradient();
    let j = -1;
    for (let i = 0; i < n; i++) if (!passive[i] && w[i] > tol && (j < 0 || w[i] > w[j])) j = i;
    if (j < 0) break;
    passive[j] = true;
    for (let inner = 0; inner < 3 * n + 10; inner++) {
      const P = passive.flatMap((p, i) => (p ? [i] : []));
      const zP = solveSpd(
        P.map((a) => P.map((b) => G[a][b])),
        P.map((a) => h[a]),
      );
      if (zP.every((v) => v > 0)) {
        x.fill(0);
        P.forEach((a, k) => (x[a] = zP[k]));
        break;
      }
      let alpha = Infinity;
      P.forEach((a, k) => {
        if (zP[k] <= 0) alpha = Math.min(alpha, x[a] / (x[a] - zP[k]));
      });
      P.forEach((a, k) => {
        x[a] += alpha * (zP[k] - x[a]);
        if (x[a] <= 1e-15) {
          x[a] = 0;
          passive[a] = false;
        }
      });
    }
  }
  return x;
}

function centred(v: ArrayLike<number>): { values: Float64Array; mean: number } {
  let mean = 0;
  for (let i = 0; i < v.length; i++) mean += v[i];
  mean /= v.length;
  const values = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) values[i] = v[i] - mean;
  return { values, mean };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function gram(rows: readonly ArrayLike<number>[]): number[][] {
  const n = rows.length;
  const G = rows.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) G[i][j] = G[j][i] = dot(rows[i], rows[j]);
  return G;
}
