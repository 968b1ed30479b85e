import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { Cube, CubeMeta } from './cube';
import { createCube } from './create';
import { writeFileAtomic } from './atomic-write';
import { FileFormatError, TruncatedFileError } from '../core/errors';

/** ENVI `data type` codes this module reads and writes. */
export type EnviDataType = 1 | 2 | 3 | 4 | 5 | 12;
/** ENVI sample interleave. */
export type EnviInterleave = 'bsq' | 'bil' | 'bip';

const BYTES: Record<EnviDataType, number> = { 1: 1, 2: 2, 3: 4, 4: 4, 5: 8, 12: 2 };
const DATA_SUFFIXES = ['', '.img', '.dat', '.raw', '.bsq', '.bil', '.bip', '.IMG', '.DAT'];

/** Parsed ENVI header: raw key/value strings plus the fields the reader needs. */
export interface EnviHeader {
  samples: number;
  lines: number;
  bands: number;
  headerOffset: number;
  dataType: EnviDataType;
  interleave: EnviInterleave;
  byteOrder: 0 | 1;
  wavelengths?: number[];
  fwhm?: number[];
  dataIgnoreValue?: number;
  /** Every key of the header, lower-cased, values unparsed (braces removed). */
  fields: Record<string, string>;
}

/** Options for {@link readEnvi}. */
export interface ReadEnviOptions {
  /** Data file; found next to the header (same stem, no extension or .img/.dat/.raw/...) when omitted. */
  dataPath?: string;
}

/** Options for {@link writeEnvi}. A cube whose `meta.bandValid` marks bands invalid also gets `bbl` and `band_valid` lines. */
export interface WriteEnviOptions {
  /** @defaultValue 4 (float32) */
  dataType?: EnviDataType;
  /** @defaultValue 'bsq' */
  interleave?: EnviInterleave;
  /** 0 = little endian, 1 = big endian. @defaultValue 0 */
  byteOrder?: 0 | 1;
  /** Written as `data ignore value`. */
  dataIgnoreValue?: number;
  /** Extra header lines, e.g. `{ description: 'fused by spectra' }`. */
  extra?: Record<string, string>;
}

/**
 * Parses the text of an ENVI header.
 * @param text - Header contents.
 * @param path - Header path, for error messages.
 * @returns The parsed header.
 * @throws {@link FileFormatError} when the magic line or a required field is missing or unsupported.
 */
export function parseEnviHeader(text: string, path: string): EnviHeader {
  if (!/^\s*ENVI/.test(text)) throw new FileFormatError(path, "not an ENVI header (first line must be 'ENVI')");
  const fields: Record<string, string> = {};
  const re = /^\s*([^=\n]+?)\s*=\s*(\{[^}]*\}|[^\n]*)/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const value = m[2].trim();
    fields[m[1].trim().toLowerCase()] = value.startsWith('{') ? value.slice(1, -1).trim() : value;
  }
  const int = (key: string, fallback?: number): number => {
    const raw = fields[key];
    if (raw === undefined) {
      if (fallback !== undefined) return fallback;
      throw new FileFormatError(path, `ENVI header lacks '${key}'`);
    }
    const v = Number(raw);
    if (!Number.isInteger(v) || v < 0) throw new FileFormatError(path, `ENVI '${key}' must be a non-negative integer, got '${raw}'`);
    return v;
  };
  const dataType = int('data type');
  if (!(dataType in BYTES)) {
    throw new FileFormatError(path, `ENVI data type ${dataType} is not supported (supported: 1, 2, 3, 4, 5, 12)`);
  }
  const interleave = (fields['interleave'] ?? 'bsq').toLowerCase();
  if (interleave !== 'bsq' && interleave !== 'bil' && interleave !== 'bip') {
    throw new FileFormatError(path, `ENVI interleave '${interleave}' is not one of bsq, bil, bip`);
  }
  const byteOrder = int('byte order', 0);
  if (byteOrder > 1) throw new FileFormatError(path, `ENVI byte order must be 0 or 1, got ${byteOrder}`);
  const bands = int('bands');
  const list = (key: string): number[] | undefined => {
    const raw = fields[key];
    if (raw === undefined) return undefined;
    const values = raw.split(',').map((s) => Number(s.trim()));
    if (values.length !== bands || values.some((v) => !Number.isFinite(v))) {
      throw new FileFormatError(path, `ENVI '${key}' must list ${bands} numbers, got ${values.length}`);
    }
    return values;
  };
  // Wavelengths may be stored in micrometres; the SDK works in nm everywhere.
  const units = (fields['wavelength units'] ?? 'nanometers').toLowerCase();
  const factor = /^(micrometers|microns|um|µm)$/.test(units) ? 1000 : 1;
  const wavelengths = list('wavelength')?.map((w) => w * factor);
  const fwhm = list('fwhm')?.map((w) => w * factor);
  const ignore = fields['data ignore value'];
  return {
    samples: int('samples'),
    lines: int('lines'),
    bands,
    headerOffset: int('header offset', 0),
    dataType: dataType as EnviDataType,
    interleave,
    byteOrder: byteOrder as 0 | 1,
    ...(wavelengths ? { wavelengths } : {}),
    ...(fwhm ? { fwhm } : {}),
    ...(ignore !== undefined && Number.isFinite(Number(ignore)) ? { dataIgnoreValue: Number(ignore) } : {}),
    fields,
  };
}

/**
 * Reads an ENVI image (header + raw data file) into a band-sequential float32 {@link Cube}.
 * Values are returned as stored (no scaling); `meta.valueScale` is set from `reflectance scale factor`
 * when present, `meta.dataIgnoreValue` from `data ignore value`, `meta.bandValid` from `bbl` (or `band_valid`). Without wavelengths in the header,
 * band indices are used and `meta.wavelengthsFromHeader` is false.
 * @param hdrPath - Path of the `.hdr` file.
 * @param options - See {@link ReadEnviOptions}.
 * @returns The cube.
 * @throws {@link FileFormatError} when the header is unreadable or the data file is missing.
 * @throws {@link TruncatedFileError} when the data file is shorter than the header promises.
 * @example
 * const cube = await readEnvi('scene.hdr');
 */
export async function readEnvi(hdrPath: string, options: ReadEnviOptions = {}): Promise<Cube> {
  let text: string;
  try {
    text = await readFile(hdrPath, 'latin1');
  } catch (err) {
    throw new FileFormatError(hdrPath, 'cannot read the ENVI header', { cause: err });
  }
  const hdr = parseEnviHeader(text, hdrPath);
  const dataPath = options.dataPath ?? (await findDataFile(hdrPath));
  const bytes = BYTES[hdr.dataType];
  const n = hdr.samples * hdr.lines * hdr.bands;
  const expected = hdr.headerOffset + n * bytes;
  const size = await stat(dataPath).then(
    (st) => st.size,
    (err: unknown) => {
      throw new FileFormatError(dataPath, `ENVI data file for ${hdrPath} cannot be read`, { cause: err });
    },
  );
  if (size < expected) throw new TruncatedFileError(dataPath, expected, size);
  const buf = await readFile(dataPath);
  const view = new DataView(buf.buffer, buf.byteOffset + hdr.headerOffset, n * bytes);
  const get = reader(hdr.dataType, hdr.byteOrder === 0);
  const { samples: w, lines: h, bands } = hdr;
  const data = new Float32Array(n);
  // Map each stored sample index to its band-sequential position.
  let i = 0;
  if (hdr.interleave === 'bsq') {
    for (; i < n; i++) data[i] = get(view, i * bytes);
  } else if (hdr.interleave === 'bil') {
    for (let y = 0; y < h; y++) for (let b = 0; b < bands; b++) for (let x = 0; x < w; x++, i++) data[(b * h + y) * w + x] = get(view, i * bytes);
  } else {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let b = 0; b < bands; b++, i++) data[(b * h + y) * w + x] = get(view, i * bytes);
  }
  const meta: Record<string, unknown> = { source: hdrPath, dataType: hdr.dataType, interleave: hdr.interleave };
  const scale = Number(hdr.fields['reflectance scale factor']);
  if (Number.isFinite(scale) && scale > 0) meta.valueScale = scale;
  if (hdr.dataIgnoreValue !== undefined) meta.dataIgnoreValue = hdr.dataIgnoreValue;
  meta.wavelengthsFromHeader = hdr.wavelengths !== undefined;
  // ENVI's bad band list (1 = good) becomes the band mask resampling honours; `band_valid` is the same list under
  // the model card's name, which writers other than ours may put alone.
  const bbl = (hdr.fields['bbl'] ?? hdr.fields['band_valid'])?.split(',').map((v) => Number(v.trim()));
  if (bbl?.length === bands && bbl.every((v) => v === 0 || v === 1)) meta.bandValid = bbl.map((v) => v === 1);
  return createCube({
    bands,
    height: h,
    width: w,
    data,
    wavelengths: hdr.wavelengths ?? Array.from({ length: bands }, (_, b) => b),
    ...(hdr.fwhm ? { fwhm: hdr.fwhm } : {}),
    meta: meta as CubeMeta,
  });
}

/**
 * Writes a cube as ENVI (`<stem>.hdr` + `<stem>.img`), each file atomically (temporary file + rename),
 * data first so a header never points at missing data.
 * @param hdrPath - Path of the `.hdr` to write; the data file is the same stem with `.img`.
 * @param cube - The cube to write.
 * @param options - See {@link WriteEnviOptions}.
 * @returns The paths written.
 * @throws RangeError when values do not fit an integer data type.
 * @example
 * await writeEnvi('out/fused.hdr', fused, { dataType: 4 });
 */
export async function writeEnvi(
  hdrPath: string,
  cube: Cube,
  options: WriteEnviOptions = {},
): Promise<{ header: string; data: string }> {
  const dataType = options.dataType ?? 4;
  const interleave = options.interleave ?? 'bsq';
  const byteOrder = options.byteOrder ?? 0;
  if (!(dataType in BYTES)) throw new RangeError(`Expected dataType one of 1, 2, 3, 4, 5, 12 but received ${dataType}`);
  const bytes = BYTES[dataType];
  const { bands, height: h, width: w } = cube;
  const n = bands * h * w;
  const buf = new Uint8Array(n * bytes);
  const view = new DataView(buf.buffer);
  const put = writer(dataType, byteOrder === 0);
  let i = 0;
  if (interleave === 'bsq') {
    for (; i < n; i++) put(view, i * bytes, cube.data[i]);
  } else if (interleave === 'bil') {
    for (let y = 0; y < h; y++) for (let b = 0; b < bands; b++) for (let x = 0; x < w; x++, i++) put(view, i * bytes, cube.data[(b * h + y) * w + x]);
  } else {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let b = 0; b < bands; b++, i++) put(view, i * bytes, cube.data[(b * h + y) * w + x]);
  }
  const dataPath = enviDataPath(hdrPath);
  const extra = { ...bandValidHeader(cube.meta?.bandValid as boolean[] | undefined), ...(options.extra ?? {}) };
  await writeFileAtomic(dataPath, [buf]);
  await writeFileAtomic(hdrPath, [Buffer.from(enviHeaderText(cube, { ...options, dataType, interleave, byteOrder, extra }), 'latin1')]);
  return { header: hdrPath, data: dataPath };
}

/**
 * The data file {@link writeEnvi} pairs with a header: the same stem with `.img`.
 * @internal
 */
export function enviDataPath(hdrPath: string): string {
  return `${hdrPath.replace(/\.hdr$/i, '')}.img`;
}

/**
 * Header text for a cube of this shape, as {@link writeEnvi} writes it (shared with the streaming writer).
 * @internal
 */
export function enviHeaderText(
  cube: Pick<Cube, 'bands' | 'height' | 'width' | 'wavelengths' | 'fwhm'>,
  options: WriteEnviOptions & Required<Pick<WriteEnviOptions, 'dataType' | 'interleave' | 'byteOrder'>>,
): string {
  const lines = [
    'ENVI',
    `description = {${headerText(options.extra?.description ?? 'written by spectra-edge')}}`,
    `samples = ${cube.width}`,
    `lines = ${cube.height}`,
    `bands = ${cube.bands}`,
    'header offset = 0',
    'file type = ENVI Standard',
    `data type = ${options.dataType}`,
    `interleave = ${options.interleave}`,
    `byte order = ${options.byteOrder}`,
    `wavelength units = Nanometers`,
    `wavelength = {${cube.wavelengths.join(', ')}}`,
  ];
  if (cube.fwhm) lines.push(`fwhm = {${cube.fwhm.join(', ')}}`);
  if (options.dataIgnoreValue !== undefined) lines.push(`data ignore value = ${options.dataIgnoreValue}`);
  for (const [k, v] of Object.entries(options.extra ?? {})) if (k !== 'description') lines.push(`${headerKey(k)} = ${headerText(v)}`);
  return lines.join('\n') + '\n';
}

const PLAIN_LIST = /^\{[A-Za-z0-9_.=+\-, ]*\}$/;

/**
 * Free text made safe for one ENVI header value: a line break would start a new field and a brace would
 * close a `{…}` value, so text that came from elsewhere (a received meta, a model name) could otherwise add
 * fields such as `data ignore value` to a header. Braces become parentheses, control characters spaces.
 */
function headerText(value: string): string {
  // An ENVI array of plain items ({1, 0, 1}, {spatial_psnr_db=41.2, ...}) holds no brace or line break of its
  // own, so it cannot close the value early or start a field.
  if (PLAIN_LIST.test(value)) return value;
  // eslint-disable-next-line no-control-regex
  return String(value).replace(/[\x00-\x1f\x7f\u2028\u2029]/g, ' ').replace(/\{/g, '(').replace(/\}/g, ')');
}

/** A header field name: letters, digits, spaces, `_.-` only (anything else becomes `_`). */
function headerKey(key: string): string {
  return key.replace(/[^A-Za-z0-9 _.-]/g, '_');
}

async function findDataFile(hdrPath: string): Promise<string> {
  const stem = join(dirname(hdrPath), basename(hdrPath, extname(hdrPath)));
  for (const suffix of DATA_SUFFIXES) {
    const candidate = stem + suffix;
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // Not this one; try the next conventional suffix.
    }
  }
  throw new FileFormatError(hdrPath, `no ENVI data file next to the header (tried ${stem}{${DATA_SUFFIXES.join(',')}})`);
}

type Get = (v: DataView, offset: number) => number;
type Put = (v: DataView, offset: number, value: number) => void;

function reader(t: EnviDataType, le: boolean): Get {
  switch (t) {
    case 1: return (v, o) => v.getUint8(o);
    case 2: return (v, o) => v.getInt16(o, le);
    case 3: return (v, o) => v.getInt32(o, le);
    case 4: return (v, o) => v.getFloat32(o, le);
    case 5: return (v, o) => v.getFloat64(o, le);
    case 12: return (v, o) => v.getUint16(o, le);
  }
}

const INT_RANGE: Partial<Record<EnviDataType, [number, number]>> = {
  1: [0, 255],
  2: [-32768, 32767],
  3: [-2147483648, 2147483647],
  12: [0, 65535],
};

function writer(t: EnviDataType, le: boolean): Put {
  const range = INT_RANGE[t];
  const check = (value: number): number => {
    if (range === undefined) return value;
    const r = Math.round(value);
    if (!(r >= range[0] && r <= range[1])) {
      throw new RangeError(`Value ${value} does not fit ENVI data type ${t} (${range[0]}..${range[1]}); scale it or write float32`);
    }
    return r;
  };
  switch (t) {
    case 1: return (v, o, x) => v.setUint8(o, check(x));
    case 2: return (v, o, x) => v.setInt16(o, check(x), le);
    case 3: return (v, o, x) => v.setInt32(o, check(x), le);
    case 4: return (v, o, x) => v.setFloat32(o, x, le);
    case 5: return (v, o, x) => v.setFloat64(o, x, le);
    case 12: return (v, o, x) => v.setUint16(o, check(x), le);
  }
}

/**
 * The ENVI header fields that mark which bands hold data: `bbl` (ENVI's bad band list, 1 = good, read back by
 * {@link readEnvi} into `meta.bandValid`) and `band_valid`, the same list under the model card's name. Empty
 * when every band is valid, so complete cubes keep their usual header.
 * @param valid - One flag per band (`meta.bandValid` of a fused cube).
 * @returns Zero or two header fields.
 * @example
 * await rowWriter.commit(bandValidHeader(fusedSummary.meta?.bandValid as boolean[] | undefined));
 */
export function bandValidHeader(valid: readonly boolean[] | undefined): Record<string, string> {
  if (valid === undefined || valid.every((v) => v)) return {};
  const list = `{${valid.map((v) => (v ? 1 : 0)).join(', ')}}`;
  return { bbl: list, band_valid: list };
}
