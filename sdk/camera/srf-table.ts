import { readFile } from 'node:fs/promises';
import { FileFormatError } from '../core/errors';

/** An MSI band's response on a cube's band grid can be below this share of its peak and still be "no response". */
const SUPPORT_THRESHOLD = 0.01;
/** A cube band covers its centre +- this x the median band spacing, as the host's `degrade.srf` cells. */
const COVER_HALF_WIDTH = 0.75;
/** 2 sqrt(2 ln 2): FWHM = this x sigma for a Gaussian. */
const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));

/** Tabulated band responses: `wavelength_nm` then one column per band (the format of `../shared/data/srf/*.csv`). */
export interface SrfTable {
  /** Strictly increasing, nm. */
  wavelengths: number[];
  /** Column names after `wavelength_nm`. */
  names: string[];
  /** `responses[k][i]`: band k at `wavelengths[i]`, non-negative. */
  responses: number[][];
  path: string;
}

/**
 * Reads an SRF CSV: a `wavelength_nm` column, then one column of non-negative responses per band.
 * @param path - The CSV.
 * @returns The table.
 * @throws {@link FileFormatError} when the file is missing, lacks `wavelength_nm`, has non-numeric cells,
 * negative responses or a grid that is not strictly increasing.
 */
export async function readSrfCsv(path: string): Promise<SrfTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FileFormatError(path, 'SRF CSV not found or unreadable', { cause: err });
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  if (header[0] !== 'wavelength_nm' || header.length < 2) {
    throw new FileFormatError(path, `an SRF CSV starts with a 'wavelength_nm' column and one column per band; the header is '${lines[0] ?? ''}'`);
  }
  const names = header.slice(1);
  const wavelengths: number[] = [];
  const responses = names.map(() => [] as number[]);
  lines.slice(1).forEach((line, r) => {
    const cells = line.split(',').map(Number);
    if (cells.length !== header.length || cells.some((v) => !Number.isFinite(v))) {
      throw new FileFormatError(path, `row ${r + 2} does not hold ${header.length} numbers`);
    }
    if (wavelengths.length > 0 && cells[0] <= wavelengths[wavelengths.length - 1]) {
      throw new FileFormatError(path, `wavelength_nm must increase strictly; row ${r + 2} has ${cells[0]}`);
    }
    if (cells.slice(1).some((v) => v < 0)) throw new FileFormatError(path, `row ${r + 2} holds a negative response`);
    wavelengths.push(cells[0]);
    names.forEach((_, k) => responses[k].push(cells[k + 1]));
  });
  if (wavelengths.length < 2) throw new FileFormatError(path, 'an SRF CSV needs at least two rows');
  return { wavelengths, names, responses, path };
}

/**
 * Gaussian responses for bands known only by centre and FWHM, tabulated every 1 nm over +-3 FWHM.
 * @param centres - Band centres in nm.
 * @param fwhm - Band FWHM in nm.
 * @param names - Band names. @defaultValue `b1`, `b2`, …
 * @returns An SRF table.
 */
export function gaussianSrfTable(centres: readonly number[], fwhm: readonly number[], names?: readonly string[]): SrfTable {
  const lo = Math.floor(Math.min(...centres.map((c, k) => c - 3 * fwhm[k])));
  const hi = Math.ceil(Math.max(...centres.map((c, k) => c + 3 * fwhm[k])));
  const wavelengths = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const responses = centres.map((c, k) => wavelengths.map((w) => Math.exp(-0.5 * ((w - c) / (fwhm[k] / FWHM_PER_SIGMA)) ** 2)));
  return { wavelengths, names: names ? [...names] : centres.map((_, k) => `b${k + 1}`), responses, path: '(band centres and widths)' };
}

/** An MSI response on a cube's band grid. */
export interface SrfOnGrid {
  /** b x B, rows sum to 1 (all zeros for a band with no response on valid bands). */
  matrix: number[][];
  names: string[];
  /** Per band: share of its response integral outside the valid cube bands (clipped range, masked bands). */
  lostFraction: number[];
  /** Per band: response-weighted centre on the cube's grid, nm (NaN for an all-zero row). */
  centroids: number[];
}

/**
 * The host's `spectra_distill.degrade.srf.srf_matrix` with `clip=True`, step for step: each MSI band's response
 * linearly interpolated at the cube's band centres (0 outside the table), times the width of each band's cell
 * (midpoints to its neighbours, each half capped at 0.75 x the median spacing), zero on invalid bands, rows
 * normalised. The part of a response the valid bands do not see is reported as `lostFraction`, not an error.
 * @param table - The SRF table.
 * @param bands - Columns to use, in order.
 * @param wavelengths - Cube band centres, nm.
 * @param valid - Valid cube bands; all when omitted.
 * @returns The matrix and what each band lost.
 * @throws {@link FileFormatError} when a requested band is not in the table.
 */
export function srfOnGrid(table: SrfTable, bands: readonly string[], wavelengths: readonly number[], valid?: readonly boolean[]): SrfOnGrid {
  const missing = bands.filter((b) => !table.names.includes(b));
  if (missing.length > 0) throw new FileFormatError(table.path, `has no band(s) ${missing.join(', ')}; it has ${table.names.join(', ')}`);
  const { lo, hi } = cells(wavelengths);
  const ok = valid ?? wavelengths.map(() => true);
  const matrix: number[][] = [];
  const lostFraction: number[] = [];
  for (const name of bands) {
    const g = table.responses[table.names.indexOf(name)];
    const total = g.reduce((a, v) => a + v, 0);
    const seen = g.reduce((a, v, i) => a + (wavelengths.some((_, b) => ok[b] && table.wavelengths[i] >= lo[b] && table.wavelengths[i] <= hi[b]) ? v : 0), 0);
    lostFraction.push(total > 0 ? 1 - seen / total : 1);
    const row = wavelengths.map((w, b) => (ok[b] ? interp(w, table.wavelengths, g) * (hi[b] - lo[b]) : 0));
    const sum = row.reduce((a, v) => a + v, 0);
    matrix.push(sum > 0 ? row.map((v) => v / sum) : row);
  }
  const centroids = matrix.map((row) => {
    const s = row.reduce((a, v) => a + v, 0);
    return s > 0 ? row.reduce((a, v, b) => a + v * wavelengths[b], 0) / s : NaN;
  });
  return { matrix, names: [...bands], lostFraction, centroids };
}

/** Peak-relative support of a response: where it exceeds 1 % of its maximum, as [first, last] nm. */
export function srfSupport(table: SrfTable, band: string): [number, number] {
  const g = table.responses[table.names.indexOf(band)];
  const peak = Math.max(...g);
  const idx = g.flatMap((v, i) => (v > SUPPORT_THRESHOLD * peak ? [i] : []));
  return [table.wavelengths[idx[0]], table.wavelengths[idx[idx.length - 1]]];
}

/** numpy.interp with left=right=0. */
function interp(x: number, xs: readonly number[], ys: readonly number[]): number {
  if (x < xs[0] || x > xs[xs.length - 1]) return 0;
  let k = 1;
  while (k < xs.length - 1 && xs[k] < x) k++;
  const t = (x - xs[k - 1]) / (xs[k] - xs[k - 1]);
  return ys[k - 1] + t * (ys[k] - ys[k - 1]);
}

/** Per band: lower and upper cell edge, as the host's `_cells`. */
function cells(wavelengths: readonly number[]): { lo: number[]; hi: number[] } {
  const order = wavelengths.map((_, i) => i).sort((a, b) => wavelengths[a] - wavelengths[b] || a - b);
  const wl = order.map((i) => wavelengths[i]);
  const spacing = wl.slice(1).map((v, i) => v - wl[i]);
  const pos = spacing.filter((d) => d > 0).sort((a, b) => a - b);
  const m = pos.length >> 1;
  const median = pos.length === 0 ? NaN : pos.length % 2 === 1 ? pos[m] : (pos[m - 1] + pos[m]) / 2;
  const h = pos.length > 0 ? COVER_HALF_WIDTH * median : 5;
  const n = wl.length;
  const lowerHalf = wl.map((_, i) => (i > 0 ? spacing[i - 1] / 2 : 0));
  const upperHalf = wl.map((_, i) => (i < n - 1 ? spacing[i] / 2 : 0));
  lowerHalf[0] = n > 1 ? upperHalf[0] : h;
  upperHalf[n - 1] = n > 1 ? lowerHalf[n - 1] : h;
  const lo = new Array<number>(n);
  const hi = new Array<number>(n);
  order.forEach((orig, i) => {
    lo[orig] = wl[i] - Math.min(lowerHalf[i], h);
    hi[orig] = wl[i] + Math.min(upperHalf[i], h);
  });
  return { lo, hi };
}
