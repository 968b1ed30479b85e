import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Cube } from '../cube/cube';
import { type ModelBandGrid, toModelGrid } from '../spectral/coverage';
import { SpectraError } from '../core/errors';
import type { MsiResponse } from './response';
import { type SrfTable, gaussianSrfTable, readSrfCsv, srfOnGrid } from './srf-table';

/** Value of a camera profile's `schema`. */
export const CAMERA_PROFILE_SCHEMA = 'spectra-edge/camera@1';

/**
 * A camera profile is missing, malformed, or does not describe the data or model it is used with. `field` is
 * the profile key at fault (`hsi.wavelengths_nm`, `msi.srf_csv.bands`, …) and `fix` says what to change.
 * Nothing is written when this is thrown.
 */
export class CameraProfileError extends SpectraError {
  readonly code = 'E_CAMERA_PROFILE';
  constructor(
    readonly path: string,
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${field}: ${problem}; ${fix}`, options);
  }
}

/** The hyperspectral imager of a camera. */
export interface HsiDescription {
  /** Band centres, nm. */
  wavelengths: number[];
  /** Band FWHM, nm; the median spacing when absent. */
  fwhm?: number[];
  /** false for bands the sensor delivers but that hold no usable signal (ENVI `bbl`). */
  bandValid?: boolean[];
  /** Raw value that means 1.0 in the model's physical units (e.g. 10000 for reflectance x 1e4). */
  valueScale?: number;
  /** What the values are, for people (e.g. 'at-sensor radiance, uW/(cm2 sr nm) x 100'). */
  units?: string;
}

/** The multispectral (or RGB) imager of a camera. */
export interface MsiDescription {
  /** Band responses: from an SRF CSV, or Gaussians from centres and widths. */
  srf?: SrfTable;
  /** The bands of `srf` the images hold, in their order. */
  bands?: string[];
  valueScale?: number;
  units?: string;
}

/** A camera described once: `spectra fuse --camera`, `spectra run --camera`, the capture adapters and `adapt` take it. */
export interface CameraProfile {
  name: string;
  /** The file it was read from (errors name it). */
  path: string;
  hsi: HsiDescription;
  msi?: MsiDescription;
  /** Measured PSF of the LR-HSI relative to the HR-MSI, in HR pixels. */
  psf?: { sigma: number; kernelSize: number };
}

type Json = Record<string, unknown>;

/**
 * Reads and checks a camera profile (JSON, schema `spectra-edge/camera@1`; see docs/new-camera.md). CSV paths in it
 * are relative to the profile's folder.
 * @param path - The profile.
 * @returns The profile with its band tables loaded.
 * @throws {@link CameraProfileError} naming the field and the fix for anything missing, malformed or inconsistent.
 * @example
 * const camera = await readCameraProfile('cameras/houston-casi.json');
 * const lrhsi = applyCameraProfile(await readCube('lr.npy'), camera, 'lrhsi');
 */
export async function readCameraProfile(path: string): Promise<CameraProfile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CameraProfileError(path, '(file)', missing ? 'not found' : `not valid JSON (${(err as Error).message})`, missing ? 'check the path given to --camera' : 'fix the JSON syntax', { cause: err });
  }
  const fail = (field: string, problem: string, fix: string): never => {
    throw new CameraProfileError(path, field, problem, fix);
  };
  if (!isObject(raw)) return fail('(file)', 'is not a JSON object', `write {"schema": "${CAMERA_PROFILE_SCHEMA}", "name": …, "hsi": {…}}`);
  if (raw.schema !== CAMERA_PROFILE_SCHEMA) fail('schema', `is ${JSON.stringify(raw.schema)}`, `set it to "${CAMERA_PROFILE_SCHEMA}"`);
  if (typeof raw.name !== 'string' || raw.name === '') fail('name', 'is missing', 'name the camera (it is recorded with every fused cube)');
  const base = dirname(path);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  if (!isObject(raw.hsi)) return fail('hsi', 'is missing', 'describe the hyperspectral bands: "hsi": {"wavelengths_nm": [...]} or "hsi": {"bands_csv": {...}}');
  const hsi = await readHsi(raw.hsi, at, fail);
  const msi = raw.msi === undefined ? undefined : isObject(raw.msi) ? await readMsi(raw.msi, at, path, fail) : fail('msi', 'is not an object', 'give "msi": {"srf_csv": {...}} or {"centres_nm": [...], "fwhm_nm": [...]}');
  let psf: CameraProfile['psf'];
  if (raw.psf !== undefined) {
    const p = raw.psf;
    if (!isObject(p) || p.type !== 'gaussian' || !(typeof p.sigma === 'number' && p.sigma > 0) || !(Number.isInteger(p.kernel_size) && (p.kernel_size as number) > 0)) {
      return fail('psf', `is ${JSON.stringify(p)}`, 'give {"type": "gaussian", "sigma": <HR px>, "kernel_size": <int>} or leave it out (the model card\'s PSF is used)');
    }
    psf = { sigma: p.sigma as number, kernelSize: p.kernel_size as number };
  }
  return { name: raw.name as string, path, hsi, ...(msi ? { msi } : {}), ...(psf ? { psf } : {}) };
}

async function readHsi(h: Json, at: (p: string) => string, fail: (f: string, p: string, x: string) => never): Promise<HsiDescription> {
  let wavelengths: number[] | undefined;
  let fwhm: number[] | undefined;
  let bandValid: boolean[] | undefined;
  if (h.bands_csv !== undefined) {
    const c = h.bands_csv;
    if (!isObject(c) || typeof c.file !== 'string' || typeof c.wavelength_column !== 'string') {
      fail('hsi.bands_csv', 'needs "file" and "wavelength_column"', 'e.g. {"file": "salinas_a_bands.csv", "wavelength_column": "center_nm", "fwhm_column": "fwhm_nm"}');
    }
    const csv = c as Json;
    const table = await readColumns(at(csv.file as string), 'hsi.bands_csv.file', fail);
    const column = (key: string): number[] | undefined => {
      const name = csv[key];
      if (name === undefined) return undefined;
      if (typeof name !== 'string' || !(name in table)) {
        return fail(`hsi.bands_csv.${key}`, `names column ${JSON.stringify(name)}, which ${csv.file as string} does not have`, `use one of ${Object.keys(table).join(', ')}`);
      }
      return table[name];
    };
    wavelengths = column('wavelength_column');
    fwhm = column('fwhm_column');
    bandValid = column('valid_column')?.map((v) => v > 0.5);
  }
  if (h.wavelengths_nm !== undefined) {
    if (wavelengths !== undefined) fail('hsi.wavelengths_nm', 'is given twice (also by hsi.bands_csv)', 'keep one of them');
    wavelengths = numbers(h.wavelengths_nm, 'hsi.wavelengths_nm', fail);
  }
  if (wavelengths === undefined) return fail('hsi.wavelengths_nm', 'is missing', 'list the band centres in nm, or point "hsi.bands_csv" at a band table');
  if (wavelengths.length < 2 || wavelengths.some((w) => !(w > 0))) fail('hsi.wavelengths_nm', `holds ${wavelengths.length} value(s), not all positive`, 'list every band centre in nm');
  if (h.fwhm_nm !== undefined) fwhm = numbers(h.fwhm_nm, 'hsi.fwhm_nm', fail);
  if (fwhm !== undefined && (fwhm.length !== wavelengths.length || fwhm.some((f) => !(f > 0)))) {
    fail('hsi.fwhm_nm', `has ${fwhm.length} values for ${wavelengths.length} bands`, 'give one positive FWHM per band, or leave it out');
  }
  if (h.band_valid !== undefined) {
    const v = h.band_valid;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'boolean')) fail('hsi.band_valid', 'is not a list of booleans', 'give true/false per band (false = bad band)');
    bandValid = v as boolean[];
  }
  if (bandValid !== undefined && bandValid.length !== wavelengths.length) {
    fail('hsi.band_valid', `has ${bandValid.length} entries for ${wavelengths.length} bands`, 'give one flag per band');
  }
  const valueScale = scaleOf(h.value_scale, 'hsi.value_scale', fail);
  return {
    wavelengths,
    ...(fwhm ? { fwhm } : {}),
    ...(bandValid ? { bandValid } : {}),
    ...(valueScale !== undefined ? { valueScale } : {}),
    ...(typeof h.units === 'string' ? { units: h.units } : {}),
  };
}

async function readMsi(m: Json, at: (p: string) => string, path: string, fail: (f: string, p: string, x: string) => never): Promise<MsiDescription> {
  let srf: SrfTable | undefined;
  let bands: string[] | undefined;
  if (m.srf_csv !== undefined) {
    const c = m.srf_csv;
    if (!isObject(c) || typeof c.file !== 'string' || !Array.isArray(c.bands) || c.bands.length === 0 || !c.bands.every((b) => typeof b === 'string')) {
      fail('msi.srf_csv', 'needs "file" and "bands"', 'e.g. {"file": "srf/s2a_msi_srf.csv", "bands": ["B2", "B3", "B4", "B8"]}, the file relative to the profile');
    }
    const csv = c as { file: string; bands: string[] };
    try {
      srf = await readSrfCsv(at(csv.file));
    } catch (err) {
      throw new CameraProfileError(path, 'msi.srf_csv.file', (err as Error).message, 'point it at an SRF CSV (wavelength_nm, then one column per band)', { cause: err });
    }
    const missing = csv.bands.filter((b) => !srf!.names.includes(b));
    if (missing.length > 0) fail('msi.srf_csv.bands', `names ${missing.join(', ')}, not in ${csv.file}`, `use columns of that file: ${srf.names.join(', ')}`);
    bands = csv.bands;
  } else if (m.centres_nm !== undefined) {
    const centres = numbers(m.centres_nm, 'msi.centres_nm', fail);
    const fwhm = numbers(m.fwhm_nm, 'msi.fwhm_nm', fail);
    if (fwhm.length !== centres.length || fwhm.some((f) => !(f > 0))) fail('msi.fwhm_nm', `has ${fwhm.length} values for ${centres.length} bands`, 'give one positive FWHM per MSI band');
    const names = Array.isArray(m.band_names) && m.band_names.length === centres.length ? (m.band_names as string[]) : undefined;
    srf = gaussianSrfTable(centres, fwhm, names);
    bands = srf.names;
  }
  const valueScale = scaleOf(m.value_scale, 'msi.value_scale', fail);
  return {
    ...(srf ? { srf } : {}),
    ...(bands ? { bands } : {}),
    ...(valueScale !== undefined ? { valueScale } : {}),
    ...(typeof m.units === 'string' ? { units: m.units } : {}),
  };
}

/**
 * Puts a camera's description on a cube read from its files: wavelengths, FWHM and bad bands for the LR-HSI,
 * value scales for both. The profile wins over what a format guessed (band numbers, bit depth) but never silently
 * over wavelengths a file header states: a disagreement is an error.
 * @param cube - A cube as read (`readCube`).
 * @param profile - The camera.
 * @param input - Which input the cube is.
 * @returns The cube with the camera's description in place.
 * @throws {@link CameraProfileError} when the band counts or stated wavelengths disagree with the profile.
 */
export function applyCameraProfile(cube: Cube, profile: CameraProfile, input: 'lrhsi' | 'hrmsi'): Cube {
  const fail = (field: string, problem: string, fix: string): never => {
    throw new CameraProfileError(profile.path, field, problem, fix);
  };
  if (input === 'hrmsi') {
    const msi = profile.msi;
    if (msi?.bands && msi.bands.length !== cube.bands) {
      fail('msi.srf_csv.bands', `lists ${msi.bands.length} bands (${msi.bands.join(', ')}) but the HR-MSI has ${cube.bands}`, 'list the bands the HR-MSI file holds, in its order');
    }
    return msi?.valueScale !== undefined ? { ...cube, meta: { ...(cube.meta ?? {}), valueScale: msi.valueScale, camera: profile.name } } : cube;
  }
  const hsi = profile.hsi;
  if (hsi.wavelengths.length !== cube.bands) {
    fail('hsi.wavelengths_nm', `describes ${hsi.wavelengths.length} bands but the LR-HSI has ${cube.bands}`, "describe this camera's bands, or check that --lrhsi is this camera's LR-HSI");
  }
  if (cube.meta?.wavelengthsFromHeader === true) {
    const worst = Math.max(...cube.wavelengths.map((w, b) => Math.abs(w - hsi.wavelengths[b])));
    if (worst > 0.5) fail('hsi.wavelengths_nm', `differ from the wavelengths in the file's header by up to ${worst.toFixed(1)} nm`, 'remove them from the profile (the header is used) or correct one of the two');
  }
  const meta = {
    ...(cube.meta ?? {}),
    camera: profile.name,
    // The band centres are now known (from the profile), so nothing downstream may replace them with a guess.
    wavelengthsFromHeader: true,
    ...(hsi.bandValid ? { bandValid: hsi.bandValid.map((v, b) => v && ((cube.meta?.bandValid as boolean[] | undefined)?.[b] ?? true)) } : {}),
    ...(hsi.valueScale !== undefined ? { valueScale: hsi.valueScale } : {}),
  };
  return { ...cube, wavelengths: hsi.wavelengths, ...(hsi.fwhm ? { fwhm: hsi.fwhm } : {}), meta };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numbers(v: unknown, field: string, fail: (f: string, p: string, x: string) => never): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) return fail(field, 'is not a list of numbers', 'give finite numbers in nm');
  return v as number[];
}

function scaleOf(v: unknown, field: string, fail: (f: string, p: string, x: string) => never): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0)) return fail(field, `is ${JSON.stringify(v)}`, 'give the raw value that means 1.0 (e.g. 65535 for 16-bit counts, 10000 for reflectance x 1e4)');
  return v;
}

/** Numeric columns of a CSV by header name. */
async function readColumns(path: string, field: string, fail: (f: string, p: string, x: string) => never): Promise<Record<string, number[]>> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    fail(field, `${path} not found`, 'give a path relative to the profile, or an absolute one');
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0].split(',').map((h) => h.trim());
  const out: Record<string, number[]> = Object.fromEntries(header.map((h) => [h, [] as number[]]));
  for (const line of lines.slice(1)) line.split(',').forEach((cell, i) => out[header[i]]?.push(Number(cell)));
  return out;
}

/**
 * The MSI camera's response on a model's band grid from its profile (`msi.srf_csv` or centres and widths), for
 * `fuse`'s `msiResponse`: gains 1 and offsets 0, since the profile's value scales put both images in the same units.
 * @param profile - The camera.
 * @param wavelengths - The model's band centres (card `hsi.wavelengths_nm`).
 * @param bandValid - Model bands the LR-HSI fills (`model.bandCoverage`); the response is restricted to them.
 * @returns The response, or undefined when the profile does not describe the MSI's bands.
 * @throws {@link CameraProfileError} when no MSI band has any response on the valid model bands.
 */
export function profileMsiResponse(profile: CameraProfile, wavelengths: readonly number[], bandValid: readonly boolean[]): MsiResponse | undefined {
  const msi = profile.msi;
  if (!msi?.srf || !msi.bands) return undefined;
  const onGrid = srfOnGrid(msi.srf, msi.bands, wavelengths, bandValid);
  const dead = onGrid.names.filter((_, c) => onGrid.matrix[c].every((w) => w === 0));
  if (dead.length === onGrid.names.length) {
    throw new CameraProfileError(profile.path, 'msi.srf_csv', `no MSI band (${dead.join(', ')}) responds on the model bands the LR-HSI covers`, 'check the SRF file and band names, or use a model whose range holds the MSI bands');
  }
  return { matrix: onGrid.matrix, offset: onGrid.names.map(() => 0), names: onGrid.names, source: 'profile' };
}

/**
 * Which model bands this camera's LR-HSI fills, from its band table alone (no image needed): the coverage rule of
 * `toModelGrid`, evaluated on a one-pixel cube of the camera's grid.
 * @param profile - The camera.
 * @param grid - The model's band grid.
 * @returns One flag per model band.
 * @throws {@link WavelengthError} when the camera covers none of the model's bands.
 */
export function cameraCoverage(profile: CameraProfile, grid: ModelBandGrid): boolean[] {
  const h = profile.hsi;
  const probe: Cube = {
    bands: h.wavelengths.length,
    height: 1,
    width: 1,
    data: new Float32Array(h.wavelengths.length),
    wavelengths: h.wavelengths,
    ...(h.fwhm ? { fwhm: h.fwhm } : {}),
    ...(h.bandValid ? { meta: { bandValid: h.bandValid } } : {}),
  };
  return toModelGrid(probe, grid).bandValid;
}

/**
 * The fuse options a camera implies for every frame: resampling onto the model grid, and its MSI response (when
 * the profile describes the MSI's bands) so its HR-MSI is mapped onto the model's MSI bands. `spectra run --camera`
 * passes these to every fusion.
 * @param profile - The camera.
 * @param grid - The model's band grid.
 * @returns `{ resample: true, msiResponse? }`.
 * @throws {@link CameraProfileError} / {@link WavelengthError} as {@link profileMsiResponse} / {@link cameraCoverage}.
 */
export function cameraFuseOptions(profile: CameraProfile, grid: ModelBandGrid): { resample: true; msiResponse?: MsiResponse } {
  const response = profileMsiResponse(profile, grid.wavelengths, cameraCoverage(profile, grid));
  return { resample: true, ...(response ? { msiResponse: response } : {}) };
}
