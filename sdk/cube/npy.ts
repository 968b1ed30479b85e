import { readFile } from 'node:fs/promises';
import type { Cube, CubeMeta } from './cube';
import { createCube } from './create';
import { writeFileAtomic } from './atomic-write';
import { FileFormatError, TruncatedFileError } from '../core/errors';

/** Axis order of a 3-D `.npy` array: `'chw'` = (bands, H, W) as the Python Cube; `'hwc'` = (H, W, bands) as shared/data. */
export type NpyLayout = 'chw' | 'hwc';

/** Options for {@link readNpy}. */
export interface ReadNpyOptions {
  /** @defaultValue 'chw' */
  layout?: NpyLayout;
  /** Band centres in nm; band indices are used when omitted (and `meta.wavelengthsFromHeader` is false). */
  wavelengths?: readonly number[];
  fwhm?: readonly number[];
}

/** A decoded `.npy` array: shape and values widened to float64-safe numbers in a Float32Array. */
export interface NpyArray {
  shape: number[];
  dtype: string;
  data: Float32Array;
}

const DTYPES: Record<string, { bytes: number; get: (v: DataView, o: number, le: boolean) => number }> = {
  f4: { bytes: 4, get: (v, o, le) => v.getFloat32(o, le) },
  f8: { bytes: 8, get: (v, o, le) => v.getFloat64(o, le) },
  u1: { bytes: 1, get: (v, o) => v.getUint8(o) },
  i1: { bytes: 1, get: (v, o) => v.getInt8(o) },
  u2: { bytes: 2, get: (v, o, le) => v.getUint16(o, le) },
  i2: { bytes: 2, get: (v, o, le) => v.getInt16(o, le) },
  u4: { bytes: 4, get: (v, o, le) => v.getUint32(o, le) },
  i4: { bytes: 4, get: (v, o, le) => v.getInt32(o, le) },
  b1: { bytes: 1, get: (v, o) => v.getUint8(o) },
};

/**
 * Decodes a NumPy `.npy` buffer (format versions 1–3, C or Fortran order, numeric dtypes, either byte order).
 * Values are returned in C (row-major) order.
 * @param buf - File contents.
 * @param path - For error messages.
 * @returns Shape, dtype string and values as float32.
 * @throws {@link FileFormatError} for a bad magic or an unsupported dtype.
 * @throws {@link TruncatedFileError} when the data is shorter than the shape requires.
 */
export function decodeNpy(buf: Uint8Array, path: string): NpyArray {
  const magic = Buffer.from(buf.subarray(0, 6)).toString('latin1');
  if (magic !== '\x93NUMPY') throw new FileFormatError(path, 'not a .npy file (bad magic)');
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = Buffer.from(buf.subarray(start, start + headerLen)).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FileFormatError(path, `.npy header is malformed: ${header.trim()}`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const order = descr[0];
  const kind = descr.slice(1);
  const spec = DTYPES[kind === '?' ? 'b1' : kind];
  if (spec === undefined || !'<>|='.includes(order)) {
    throw new FileFormatError(path, `.npy dtype '${descr}' is not supported (supported: f4 f8 u1 i1 u2 i2 u4 i4 bool)`);
  }
  const le = order !== '>';
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const need = offset + n * spec.bytes;
  if (buf.byteLength < need) throw new TruncatedFileError(path, need, buf.byteLength);
  let data: Float32Array;
  if (kind === 'f4' && le && (buf.byteOffset + offset) % 4 === 0) {
    // Little-endian float32 is already our layout: view the file's bytes instead of decoding a copy
    // (halves peak memory for large cubes; the view keeps only this file's buffer alive).
    data = new Float32Array(buf.buffer, buf.byteOffset + offset, n);
  } else {
    data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = spec.get(view, offset + i * spec.bytes, le);
  }
  return { shape, dtype: descr, data: fortran === 'True' ? fortranToC(data, shape) : data };
}

/**
 * Reads a `.npy` file as a cube. 2-D arrays are one band; 3-D arrays (or 4-D with a leading 1) follow `layout`.
 * @param path - The `.npy` file.
 * @param options - See {@link ReadNpyOptions}.
 * @returns A band-sequential float32 cube with values as stored (`meta.dtype` records the source type).
 * @throws {@link FileFormatError} when the file is missing, malformed or not 2-D/3-D.
 * @example
 * const cube = await readNpy('../shared/data/cave_kbr/cave_cloth_256x256x31_uint16.npy', { layout: 'hwc' });
 */
export async function readNpy(path: string, options: ReadNpyOptions = {}): Promise<Cube> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new FileFormatError(path, 'cannot read the .npy file', { cause: err });
  }
  const arr = decodeNpy(buf, path);
  // A batch of one, (1, ...) as PyTorch exports write it, is read as the single cube it holds.
  if (arr.shape.length === 4 && arr.shape[0] === 1) arr.shape = arr.shape.slice(1);
  let bands: number, height: number, width: number;
  let data = arr.data;
  if (arr.shape.length === 2) {
    [height, width] = arr.shape;
    bands = 1;
  } else if (arr.shape.length === 3 && (options.layout ?? 'chw') === 'chw') {
    [bands, height, width] = arr.shape;
  } else if (arr.shape.length === 3) {
    [height, width, bands] = arr.shape;
    data = new Float32Array(arr.data.length);
    const plane = height * width;
    for (let p = 0; p < plane; p++) for (let b = 0; b < bands; b++) data[b * plane + p] = arr.data[p * bands + b];
  } else {
    throw new FileFormatError(path, `.npy array has shape (${arr.shape.join(', ')}); expected 2-D, 3-D or (1, ...) 4-D`);
  }
  const meta: CubeMeta = { source: path, dtype: arr.dtype, wavelengthsFromHeader: options.wavelengths !== undefined };
  return createCube({
    bands,
    height,
    width,
    data,
    wavelengths: options.wavelengths ?? Array.from({ length: bands }, (_, b) => b),
    ...(options.fwhm ? { fwhm: options.fwhm } : {}),
    meta,
  });
}

/**
 * Writes a cube as a little-endian float32 `.npy` of shape (bands, H, W), atomically.
 * @param path - Target file.
 * @param cube - The cube.
 */
export async function writeNpy(path: string, cube: Cube): Promise<void> {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${cube.bands}, ${cube.height}, ${cube.width}), }`;
  // Pad so the data starts on a 64-byte boundary, as NumPy does.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = new Uint8Array(10 + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(head.buffer).setUint16(8, header.length, true);
  head.set(Buffer.from(header, 'latin1'), 10);
  const body = new Uint8Array(cube.data.length * 4);
  const dv = new DataView(body.buffer);
  for (let i = 0; i < cube.data.length; i++) dv.setFloat32(i * 4, cube.data[i], true);
  await writeFileAtomic(path, [head, body]);
}

/** Reorders column-major values to row-major for the given shape. */
function fortranToC(src: Float32Array, shape: number[]): Float32Array {
  const out = new Float32Array(src.length);
  const nd = shape.length;
  const fStride = new Array<number>(nd);
  for (let d = 0, s = 1; d < nd; d++) {
    fStride[d] = s;
    s *= shape[d];
  }
  const idx = new Array<number>(nd).fill(0);
  let f = 0;
  for (let c = 0; c < out.length; c++) {
    out[c] = src[f];
    // Advance the C-order multi-index (last axis fastest) and keep the Fortran offset in step.
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      f += fStride[d];
      if (idx[d] < shape[d]) break;
      f -= fStride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}
