import type { Cube } from '../cube/cube';
import { WavelengthError } from '../core/errors';
import { bandValidity } from '../cube/band-validity';
import { resampleCube } from './resample';

/** A model's band grid: the card's `hsi.wavelengths_nm`, `fwhm_nm` and `band_valid`. */
export interface ModelBandGrid {
  wavelengths: readonly number[];
  /** FWHM in nm; the median spacing when absent. */
  fwhm?: readonly number[];
  /** Bands the model learnt; all when absent. */
  bandValid?: readonly boolean[];
}

/** An LR-HSI on a model's band grid, from {@link toModelGrid}. */
export interface ModelGridInput {
  /** On the model grid; `meta.bandValid` = bands the input covers; the others hold zeros. */
  cube: Cube;
  /** Covered by the input and learnt by the model. */
  bandValid: boolean[];
  /** False when the input was already on the grid with no masked band and passed through. */
  resampled: boolean;
}

/**
 * True when both grids have the same band count and every centre agrees within 0.5 nm.
 * @internal
 */
export function sameGrid(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 0.5);
}

/**
 * Puts an LR-HSI on a model's band grid when it covers only part of it, the way training treats a region
 * that lacks bands: covered model bands are resampled from the input's valid bands ({@link resampleCube}), the
 * others are zeros and marked invalid. The host's `spectra_distill.data.coverage.to_model_grid` is the same
 * function; `spectra-distill coverage-vectors` writes the test vectors that keep them equal.
 * @param cube - Input with wavelengths (and FWHM, `meta.bandValid` when known).
 * @param grid - The model's band grid.
 * @returns The cube on the grid (zeros in every band that is not valid) and which model bands are valid.
 * @throws {@link WavelengthError} when the input covers none of the model's learnt bands.
 */
export function toModelGrid(cube: Cube, grid: ModelBandGrid): ModelGridInput {
  const learnt = grid.bandValid ?? grid.wavelengths.map(() => true);
  const inputValid = bandValidity(cube);
  if (sameGrid(cube.wavelengths, grid.wavelengths) && inputValid.every((v) => v)) {
    return { cube, bandValid: [...learnt], resampled: false };
  }
  // No band is required: what the input cannot cover stays zero and is reported, never invented.
  const out = resampleCube(cube, grid.wavelengths, grid.fwhm, grid.wavelengths.map(() => false));
  const bandValid = bandValidity(out).map((v, b) => v && learnt[b]);
  // Training never fed a value in a band the model did not learn (every region had it masked): zero those too.
  const plane = cube.height * cube.width;
  bandValid.forEach((v, b) => {
    if (!v) out.data.fill(0, b * plane, (b + 1) * plane);
  });
  if (!bandValid.some((v) => v)) {
    throw new WavelengthError(
      `the input (${describeSpan(cube.wavelengths)}) covers none of the model's bands (${describeSpan(grid.wavelengths)}): ` +
        'each model band needs input bands across its +-FWHM/2 window; use a model trained for this range',
    );
  }
  return { cube: out, bandValid, resampled: true };
}

function describeSpan(w: readonly number[]): string {
  return `${w.length} bands, ${Math.min(...w)}..${Math.max(...w)} nm`;
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
