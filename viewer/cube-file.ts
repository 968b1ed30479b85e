/**
 * What the file viewer does with cubes on the server: opens them with the SDK's readers (so a bad file fails before
 * the server listens), checks that a reference matches, and cuts the planes the page asks for. The page receives
 * one band plane (or one derived plane) at a time as float32, never a whole cube.
 * @internal
 */
import type { Cube } from '../sdk/cube/cube';
import { bandValidity } from '../sdk/cube/band-validity';
import { type ReadCubeOptions, readCube } from '../sdk/cube/read-cube';
import { FileFormatError } from '../sdk/core/errors';
import { ShapeMismatchError } from './errors';

/** A cube opened from disk, with the path it came from. */
export interface CubeFile {
  path: string;
  cube: Cube;
  /** One flag per band: ENVI `bbl` / `band_valid`, or every band when the file says nothing. */
  bandValid: boolean[];
}

const HINT = 'give spectra view a cube file: an ENVI .hdr with its data file beside it, a GeoTIFF .tif or a .npy';

/**
 * Opens a cube for the viewer.
 * @param path - The file (any format {@link readCube} reads).
 * @param options - Passed to {@link readCube} (`.npy` layout and wavelengths).
 * @returns The cube and its band validity.
 * @throws {@link FileFormatError} naming the path, what is wrong and what the viewer accepts.
 * @throws {@link TruncatedFileError} when the data file is shorter than its header says.
 */
export async function openCubeFile(path: string, options: ReadCubeOptions = {}): Promise<CubeFile> {
  let cube: Cube;
  try {
    cube = await readCube(path, options);
  } catch (err) {
    // The SDK's message says what is wrong with the file; a viewer user also needs to hear what to give instead.
    // PathError messages start with '<path>: ', which the new error puts back in front.
    if (err instanceof FileFormatError) throw new FileFormatError(err.path, `${err.message.slice(err.path.length + 2)}; ${HINT}`, { cause: err });
    throw err;
  }
  return { path, cube, bandValid: bandValidity(cube) };
}

/**
 * Checks that a reference can be compared with a cube pixel by pixel.
 * @throws {@link ShapeMismatchError} naming both files when bands, height or width differ.
 */
export function assertSameShape(a: CubeFile, b: CubeFile): void {
  const shape = (c: Cube): [number, number, number] => [c.bands, c.height, c.width];
  const [sa, sb] = [shape(a.cube), shape(b.cube)];
  if (sa.some((v, i) => v !== sb[i])) throw new ShapeMismatchError(a.path, sa, b.path, sb);
}

/** Band `band` of `cube` as a view into its data (no copy). */
export function bandPlane(cube: Cube, band: number): Float32Array {
  const plane = cube.width * cube.height;
  return cube.data.subarray(band * plane, (band + 1) * plane);
}

/** |a − b| of one band, per pixel. */
export function absDifferencePlane(a: Cube, b: Cube, band: number): Float32Array {
  const pa = bandPlane(a, band);
  const pb = bandPlane(b, band);
  const out = new Float32Array(pa.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.abs(pa[i] - pb[i]);
  return out;
}

/**
 * Spectral angle between `a` and `b` per pixel, in degrees, over the bands valid in both: acos(a·b / |a||b|).
 * NaN where either spectrum is all zero (the angle is undefined there).
 */
export function spectralAnglePlane(a: Cube, b: Cube, valid: readonly boolean[]): Float32Array {
  const plane = a.width * a.height;
  const dot = new Float64Array(plane);
  const na = new Float64Array(plane);
  const nb = new Float64Array(plane);
  // Band-major loops read both cubes sequentially, which matters for cubes of hundreds of MB.
  for (let band = 0; band < a.bands; band++) {
    if (!valid[band]) continue;
    const pa = bandPlane(a, band);
    const pb = bandPlane(b, band);
    for (let i = 0; i < plane; i++) {
      dot[i] += pa[i] * pb[i];
      na[i] += pa[i] * pa[i];
      nb[i] += pb[i] * pb[i];
    }
  }
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) {
    const norm = Math.sqrt(na[i] * nb[i]);
    out[i] = norm > 0 ? (Math.acos(Math.min(1, Math.max(-1, dot[i] / norm))) * 180) / Math.PI : NaN;
  }
  return out;
}

/** One pixel's spectrum, `null` for bands marked invalid (drawn as gaps). */
export function spectrumAt(file: CubeFile, x: number, y: number): (number | null)[] {
  const { cube } = file;
  const plane = cube.width * cube.height;
  return Array.from({ length: cube.bands }, (_, b) => (file.bandValid[b] ? cube.data[b * plane + y * cube.width + x] : null));
}
