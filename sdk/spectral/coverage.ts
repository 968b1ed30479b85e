import type { Cube } from '../cube/cube';
import { BandCountError } from '../core/errors';

/**
 * Which bands of a cube hold data: `meta.bandValid` (ENVI `bbl`, a resampler's coverage, a fused cube's
 * `band_valid`) or every band when the cube says nothing.
 * @param cube - Any cube.
 * @returns One flag per band.
 * @throws {@link BandCountError} when `meta.bandValid` does not have one entry per band.
 */
export function bandValidity(cube: Pick<Cube, 'bands' | 'meta'>): boolean[] {
  const v = cube.meta?.bandValid;
  if (v === undefined) return new Array<boolean>(cube.bands).fill(true);
  if (!Array.isArray(v) || v.length !== cube.bands || !v.every((x) => typeof x === 'boolean')) {
    throw new BandCountError('meta.bandValid', cube.bands, Array.isArray(v) ? v.length : 0);
  }
  return v as boolean[];
}

/**
 * The wavelength ranges of the bands with `valid[b] === want`, merged over neighbouring bands, for messages and
 * reports ("400-410, 1340-1450 nm").
 * @param wavelengths - Band centres in nm.
 * @param valid - One flag per band.
 * @param want - Which bands to describe. @defaultValue false (the invalid ones)
 * @returns The ranges, or 'none'.
 */
export function describeBandRanges(wavelengths: readonly number[], valid: readonly boolean[], want = false): string {
  const order = wavelengths.map((_, b) => b).sort((a, b) => wavelengths[a] - wavelengths[b]);
  const runs: [number, number][] = [];
  let open = false;
  for (const b of order) {
    if (valid[b] === want) {
      if (open) runs[runs.length - 1][1] = wavelengths[b];
      else runs.push([wavelengths[b], wavelengths[b]]);
      open = true;
    } else open = false;
  }
  if (runs.length === 0) return 'none';
  return runs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ') + ' nm';
}

/**
 * A cube of the listed bands only, in that order, with wavelengths, FWHM and `meta.bandValid` to match.
 * @param cube - Source cube.
 * @param bands - Band indices to keep.
 * @returns A new cube (pixel data copied).
 * @throws RangeError when an index is outside the cube or the list is empty.
 */
export function selectBands(cube: Cube, bands: readonly number[]): Cube {
  const grid = selectBandGrid(cube, bands);
  const plane = cube.height * cube.width;
  const data = new Float32Array(bands.length * plane);
  bands.forEach((b, k) => data.set(cube.data.subarray(b * plane, (b + 1) * plane), k * plane));
  return { ...grid, data };
}

/**
 * {@link selectBands} without pixels: the shape, band grid and metadata of the kept bands (for a writer's header).
 * @param cube - Source cube or its header.
 * @param bands - Band indices to keep.
 * @returns Everything of the selected cube but its data.
 * @throws RangeError when an index is outside the cube or the list is empty.
 */
export function selectBandGrid(cube: Omit<Cube, 'data'>, bands: readonly number[]): Omit<Cube, 'data'> {
  if (bands.length === 0) throw new RangeError('Expected at least one band to keep but received none');
  const bad = bands.find((b) => !Number.isInteger(b) || b < 0 || b >= cube.bands);
  if (bad !== undefined) throw new RangeError(`Expected band indices within 0..${cube.bands - 1} but received ${bad}`);
  const valid = cube.meta?.bandValid === undefined ? undefined : bandValidity(cube);
  const { data: _data, ...rest } = cube as Cube;
  return {
    ...rest,
    bands: bands.length,
    wavelengths: bands.map((b) => cube.wavelengths[b]),
    ...(cube.fwhm ? { fwhm: bands.map((b) => cube.fwhm![b]) } : {}),
    ...(cube.meta ? { meta: { ...cube.meta, ...(valid ? { bandValid: bands.map((b) => valid[b]) } : {}) } } : {}),
  };
}

/**
 * SRF rows restricted to valid HSI bands and renormalised to sum 1, as the host builds the HR-MSI of a region
 * with masked bands (`srf_for_cube` zeroes masked bands and divides each row by its sum). A row with no weight
 * on a valid band stays all zero: that MSI band cannot be predicted from the valid bands and is not scored.
 * @param srf - b x B matrix (the card's `msi.srf`).
 * @param valid - B flags.
 * @returns The b x B matrix on the valid bands.
 */
export function srfOnValidBands(srf: readonly (readonly number[])[], valid: readonly boolean[]): number[][] {
  return srf.map((row) => {
    const kept = row.map((w, b) => (valid[b] ? w : 0));
    const sum = kept.reduce((a, w) => a + w, 0);
    return sum > 0 ? kept.map((w) => w / sum) : kept;
  });
}
