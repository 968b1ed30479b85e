import type { Cube } from '../cube/cube';
import { BandCountError } from '../core/errors';

/**
 * Projects a hyperspectral cube through spectral response functions: `msi[c] = sum_b srf[c][b] * hsi[b]`,
 * the host's HR-MSI simulation (the card's `msi.srf` is already on the HSI wavelengths, rows summing to 1).
 * @param cube - HSI cube with `srf[0].length` bands.
 * @param srf - b x B matrix.
 * @param wavelengths - Band centres of the result; SRF-weighted centroids when omitted.
 * @returns The b-band cube.
 * @throws {@link BandCountError} when the matrix width differs from the cube's band count.
 */
export function projectSrf(cube: Cube, srf: readonly (readonly number[])[], wavelengths?: readonly number[]): Cube {
  const B = cube.bands;
  if (srf.some((row) => row.length !== B)) {
    throw new BandCountError('srf projection', srf.find((row) => row.length !== B)?.length ?? 0, B);
  }
  const plane = cube.height * cube.width;
  const out = new Float32Array(srf.length * plane);
  const acc = new Float64Array(plane);
  srf.forEach((row, c) => {
    acc.fill(0);
    for (let b = 0; b < B; b++) {
      const wgt = row[b];
      if (wgt === 0) continue;
      const src = cube.data.subarray(b * plane, (b + 1) * plane);
      for (let p = 0; p < plane; p++) acc[p] += wgt * src[p];
    }
    out.set(acc, c * plane);
  });
  const { fwhm: _fwhm, ...rest } = cube;
  return { ...rest, bands: srf.length, data: out, wavelengths: wavelengths ?? srfCentroids(srf, cube.wavelengths) };
}

/**
 * The response-weighted centre wavelength of each SRF row (0 for a row without weight).
 * @param srf - b x B matrix.
 * @param wavelengths - The B band centres it is defined on.
 * @returns b centres in nm.
 */
export function srfCentroids(srf: readonly (readonly number[])[], wavelengths: readonly number[]): number[] {
  return srf.map((row) => {
    const s = row.reduce((a, v) => a + v, 0);
    return s > 0 ? row.reduce((a, v, b) => a + v * wavelengths[b], 0) / s : 0;
  });
}
