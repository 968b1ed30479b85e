import { BandCountError } from '../core/errors';
import type { Cube } from './cube';

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
