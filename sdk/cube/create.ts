import type { Cube, CubeMeta } from './cube';
import { DataTypeError, NonFiniteError, WavelengthError } from '../core/errors';

/** Fields for {@link createCube}; `data` may be omitted to allocate zeros. */
export interface CubeInit {
  bands: number;
  height: number;
  width: number;
  data?: Float32Array;
  wavelengths: readonly number[];
  fwhm?: readonly number[];
  meta?: CubeMeta;
}

/**
 * Builds a {@link Cube} after checking that every field agrees with the shape.
 * @param init - Shape, band-sequential data and wavelengths.
 * @returns The cube (the data array is used as given, not copied).
 * @throws {@link DataTypeError} when `data` is not a Float32Array of `bands * height * width` values.
 * @throws {@link WavelengthError} when wavelengths or fwhm do not have one finite entry per band.
 * @example
 * const cube = createCube({ bands: 3, height: 2, width: 2, wavelengths: [460, 550, 640] });
 */
export function createCube(init: CubeInit): Cube {
  for (const key of ['bands', 'height', 'width'] as const) {
    if (!Number.isInteger(init[key]) || init[key] <= 0) {
      throw new RangeError(`Expected ${key} to be a positive integer but received ${init[key]}`);
    }
  }
  const n = init.bands * init.height * init.width;
  const data = init.data ?? new Float32Array(n);
  checkData(data, n, `${init.bands}x${init.height}x${init.width} cube`);
  checkWavelengths(init.wavelengths, init.bands, 'wavelengths');
  if (init.fwhm !== undefined) checkWavelengths(init.fwhm, init.bands, 'fwhm');
  return {
    bands: init.bands,
    height: init.height,
    width: init.width,
    data,
    wavelengths: init.wavelengths,
    ...(init.fwhm !== undefined ? { fwhm: init.fwhm } : {}),
    ...(init.meta !== undefined ? { meta: init.meta } : {}),
  };
}

/**
 * Checks a cube that came from elsewhere (a user object, a decoder) against the Cube contract.
 * @param cube - The cube to check.
 * @param name - How to call it in error messages (e.g. `'lrhsi'`).
 * @throws {@link DataTypeError} when the data is not a Float32Array of the declared size.
 * @throws {@link WavelengthError} when wavelengths do not match the band count.
 */
export function assertCube(cube: Cube, name: string): void {
  if (typeof cube !== 'object' || cube === null) {
    throw new TypeError(`Expected ${name} to be a Cube object but received ${cube === null ? 'null' : typeof cube}`);
  }
  for (const key of ['bands', 'height', 'width'] as const) {
    if (!Number.isInteger(cube[key]) || cube[key] <= 0) {
      throw new DataTypeError(`${name}.${key} must be a positive integer but is ${String(cube[key])}`);
    }
  }
  checkData(cube.data, cube.bands * cube.height * cube.width, name);
  checkWavelengths(cube.wavelengths, cube.bands, `${name}.wavelengths`);
}

/**
 * Finds the first NaN or Inf in a cube.
 * @param cube - The cube to scan.
 * @param name - How to call it in the error message.
 * @throws {@link NonFiniteError} naming the band, its wavelength and the pixel.
 */
export function assertFinite(cube: Cube, name: string): void {
  const { data } = cube;
  for (let i = 0; i < data.length; i++) {
    // `x - x` is NaN exactly for NaN and +-Inf, and is cheaper than Number.isFinite in this loop.
    const v = data[i];
    if (v - v !== 0) {
      const plane = cube.height * cube.width;
      const band = Math.floor(i / plane);
      const y = Math.floor((i % plane) / cube.width);
      const x = i % cube.width;
      let count = 0;
      for (let j = i; j < data.length; j++) if (data[j] - data[j] !== 0) count++;
      throw new NonFiniteError(
        `${name} holds ${count} NaN/Inf values (first ${String(v)} in band ${band} ` +
          `(${cube.wavelengths[band]} nm) at x=${x}, y=${y}); mask or fill them before fusing`,
      );
    }
  }
}

/**
 * A spatial window of a cube (copied).
 * @param cube - Source cube.
 * @param top - First row.
 * @param left - First column.
 * @param height - Rows in the window.
 * @param width - Columns in the window.
 * @returns A new cube with the same wavelengths and meta.
 * @throws RangeError when the window leaves the cube.
 */
export function cropCube(cube: Cube, top: number, left: number, height: number, width: number): Cube {
  if (top < 0 || left < 0 || height <= 0 || width <= 0 || top + height > cube.height || left + width > cube.width) {
    throw new RangeError(
      `Window ${height}x${width} at (${top}, ${left}) leaves the ${cube.height}x${cube.width} cube`,
    );
  }
  const out = new Float32Array(cube.bands * height * width);
  for (let b = 0; b < cube.bands; b++) {
    for (let y = 0; y < height; y++) {
      const src = b * cube.height * cube.width + (top + y) * cube.width + left;
      out.set(cube.data.subarray(src, src + width), (b * height + y) * width);
    }
  }
  return { ...cube, height, width, data: out };
}

/**
 * Index of the band whose centre is nearest a wavelength.
 * @param wavelengths - Band centres in nm.
 * @param nm - Wanted wavelength in nm.
 * @returns The band index and its distance in nm.
 */
export function nearestBand(wavelengths: readonly number[], nm: number): { index: number; distance: number } {
  let index = 0;
  let distance = Infinity;
  wavelengths.forEach((w, i) => {
    const d = Math.abs(w - nm);
    if (d < distance) {
      distance = d;
      index = i;
    }
  });
  return { index, distance };
}

function checkData(data: unknown, expected: number, name: string): void {
  if (!(data instanceof Float32Array)) {
    const kind = data === null || data === undefined ? String(data) : (data as object).constructor?.name ?? typeof data;
    throw new DataTypeError(
      `Expected ${name} data to be a Float32Array but received ${kind}; convert with Float32Array.from(...)`,
    );
  }
  if (data.length !== expected) {
    throw new DataTypeError(`Expected ${expected} values for the ${name} but data holds ${data.length}`);
  }
}

function checkWavelengths(values: readonly number[] | undefined, bands: number, name: string): void {
  if (!Array.isArray(values) && !ArrayBuffer.isView(values)) {
    throw new WavelengthError(`Expected ${name} to list ${bands} values in nm but it is missing`);
  }
  if (values.length !== bands) {
    throw new WavelengthError(`Expected ${bands} ${name} (one per band) but received ${values.length}`);
  }
  const bad = Array.from(values).findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) throw new WavelengthError(`${name}[${bad}] is ${String(values[bad])}; expected a finite number of nm`);
}
