/**
 * Calibration (and validation) samples: LR-HSI / HR-MSI pairs, with the HR-HSI ground truth when known.
 *
 * A calibration directory holds either
 * - pairs `<stem>.lrhsi.npy` + `<stem>.hrmsi.npy` (+ optional `<stem>.hrhsi.npy`), float32 (bands, H, W) in the
 *   model's physical units (what `writeNpy` of the SDK writes), optionally with `<stem>.valid.npy` (H, W) pixel
 *   masks and a `regions.json` ({@link RegionsManifest}, what `spectra-distill split-pairs` writes) naming each
 *   sample's scene window and the bands to score, or
 * - a `scenes.json` listing HR hyperspectral scenes that are cut into tiles and degraded on the fly with the model
 *   card's PSF and SRF (the host's Wald protocol), see {@link ScenesManifest}.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Cube } from '../sdk/cube/cube';
import { readNpy } from '../sdk/cube/npy';
import type { ModelCard } from '../sdk/core/model-card';
import { cardPsf, spatialDegrade } from '../sdk/spectral/psf';
import { resampleCube } from '../sdk/spectral/resample';
import { projectSrf } from '../sdk/spectral/srf';
import { WavelengthError } from '../sdk/core/errors';
import { CalibrationBandCountError, CalibrationDataError, EmptyCalibrationError } from './errors';

/** One model input pair, with ground truth when the sample was simulated from an HR scene. */
export interface CalibrationSample {
  name: string;
  lrhsi: Cube;
  hrmsi: Cube;
  hrhsi?: Cube;
  /** Bands to score (false: not learnt by the model or not supported by the scene). @defaultValue every band */
  bandMask?: readonly boolean[];
  /** HR pixels to score, row-major (false: nodata). @defaultValue every pixel */
  valid?: readonly boolean[];
  /** Where the sample was cut from, when `regions.json` says. */
  region?: SampleRegion;
  /** The sample's own statistics for a model that takes them (card `frame_statistics`), see `withFrameStatistics`. */
  frameStats?: { input: string; data: Float32Array };
}

/** A sample's place in its scene, from `regions.json`. */
export interface SampleRegion {
  stem: string;
  dataset: string;
  scene: string;
  /** Split role: train, val or test. */
  role: string;
  /** Split name (from the manifest). */
  split?: string;
  /** [top, left, height, width] of the sample in scene pixels. */
  window: [number, number, number, number];
  /** [top, left, height, width] of the split region the sample was cut from. */
  region: [number, number, number, number];
  /** Bands to score. */
  band_mask: boolean[];
  scored_bands: number;
  valid_fraction: number;
}

/** `regions.json` of a pairs directory written by `spectra-distill split-pairs`. */
export interface RegionsManifest {
  split: string;
  /** Split the model was trained with (held-out regions were checked against its training regions). */
  train_split: string;
  role: string;
  data_root: string;
  samples: SampleRegion[];
  /** Regions that gave no sample, and why. */
  skipped?: string[];
}

/**
 * Reads the `regions.json` of a pairs directory.
 * @param dir - The directory.
 * @returns The manifest, or undefined when the directory has none.
 * @throws {@link CalibrationDataError} when it exists but is not a manifest.
 */
export async function readRegionsManifest(dir: string): Promise<RegionsManifest | undefined> {
  const path = join(dir, 'regions.json');
  if (!existsSync(path)) return undefined;
  let manifest: RegionsManifest;
  try {
    manifest = JSON.parse(await readFile(path, 'utf8')) as RegionsManifest;
  } catch (err) {
    throw new CalibrationDataError(path, `not a readable JSON manifest (${(err as Error).message})`, { cause: err });
  }
  const ok = Array.isArray(manifest.samples) && manifest.samples.every((s) => typeof s.stem === 'string' && typeof s.scene === 'string' && Array.isArray(s.window) && s.window.length === 4 && Array.isArray(s.band_mask));
  if (!ok) throw new CalibrationDataError(path, "expected 'samples' of {stem, scene, window: [top, left, height, width], band_mask}");
  return manifest;
}

/** One HR scene in `scenes.json`. Paths are relative to the manifest. */
export interface SceneEntry {
  /** `.npy` cube. */
  path: string;
  /** Axis order of the array. @defaultValue 'hwc' (as in shared/data) */
  layout?: 'hwc' | 'chw';
  /** Raw values are divided by this to reach the model's 0..1 physical units. @defaultValue 1 */
  value_scale?: number;
  /**
   * CSV with the scene's band centres (and FWHM); when given, the scene is resampled to the card's bands with the
   * SDK's Gaussian resampling (`sdk/spectral/resample.ts`, the host's contract), which refuses model bands outside
   * the scene's coverage.
   */
  bands_csv?: string;
  /** Column of `bands_csv` holding the centres. @defaultValue the first column whose name has 'center' or 'wavelength' */
  wavelength_column?: string;
  /** Column of `bands_csv` holding the band widths (FWHM, nm), when it has one. @defaultValue a column whose name has 'fwhm' */
  fwhm_column?: string;
  /** Window [top, left, height, width] of the scene to use. @defaultValue the whole scene */
  crop?: [number, number, number, number];
}

/** `scenes.json`: scenes to tile and degrade. */
export interface ScenesManifest {
  scenes: SceneEntry[];
  /** HR tile size in pixels (a multiple of the card's scale). @defaultValue 64 */
  tile?: number;
  /** Tiles taken per scene, spread over the scene. @defaultValue 4 */
  tiles_per_scene?: number;
}

/** Options of {@link loadCalibrationSet}. */
export interface LoadCalibrationOptions {
  /** Stop after this many samples. @defaultValue Infinity */
  maxSamples?: number;
}

/**
 * Loads calibration samples for a model from a directory.
 * @param dir - The calibration directory (pairs or `scenes.json`).
 * @param card - The model's card: band counts, scale, PSF and SRF.
 * @param options - See {@link LoadCalibrationOptions}.
 * @returns At least one sample.
 * @throws {@link EmptyCalibrationError} when the directory holds no sample.
 * @throws {@link CalibrationBandCountError} when a cube's band count differs from the card's.
 * @throws {@link CalibrationDataError} when the directory or a file cannot be read.
 */
export async function loadCalibrationSet(dir: string, card: ModelCard, options: LoadCalibrationOptions = {}): Promise<CalibrationSample[]> {
  const max = options.maxSamples ?? Infinity;
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch (err) {
    throw new CalibrationDataError(dir, `cannot read the calibration directory (${(err as Error).message})`, { cause: err });
  }
  const samples = entries.includes('scenes.json')
    ? await loadScenes(join(dir, 'scenes.json'), card, max)
    : await loadPairs(dir, entries, card, max);
  if (samples.length === 0) {
    throw new EmptyCalibrationError(dir, 'expected <stem>.lrhsi.npy + <stem>.hrmsi.npy pairs or a scenes.json');
  }
  return samples;
}

async function loadPairs(dir: string, entries: string[], card: ModelCard, max: number): Promise<CalibrationSample[]> {
  const manifest = await readRegionsManifest(dir);
  const regions = new Map(manifest?.samples.map((r) => [r.stem, { ...r, split: manifest.split }]) ?? []);
  const samples: CalibrationSample[] = [];
  for (const file of entries) {
    if (!file.endsWith('.lrhsi.npy') || samples.length >= max) continue;
    const stem = file.slice(0, -'.lrhsi.npy'.length);
    const msiPath = join(dir, `${stem}.hrmsi.npy`);
    if (!existsSync(msiPath)) throw new CalibrationDataError(join(dir, file), `has no partner ${stem}.hrmsi.npy`);
    const lrhsi = await readChecked(join(dir, file), 'lrhsi', card.hsi.bands, card);
    const hrmsi = await readChecked(msiPath, 'hrmsi', card.msi.bands, card);
    if (hrmsi.height !== lrhsi.height * card.scale || hrmsi.width !== lrhsi.width * card.scale) {
      throw new CalibrationDataError(msiPath, `is ${hrmsi.height}x${hrmsi.width}; expected ${card.scale}x the LR-HSI (${lrhsi.height}x${lrhsi.width})`);
    }
    const gtPath = join(dir, `${stem}.hrhsi.npy`);
    const hrhsi = existsSync(gtPath) ? await readChecked(gtPath, 'hrhsi', card.hsi.bands, card) : undefined;
    const region = regions.get(stem);
    if (region && region.band_mask.length !== card.hsi.bands) {
      throw new CalibrationBandCountError(join(dir, 'regions.json'), 'hrhsi', card.hsi.bands, region.band_mask.length);
    }
    const validPath = join(dir, `${stem}.valid.npy`);
    const valid = existsSync(validPath) ? await readValid(validPath, hrmsi) : undefined;
    samples.push({ name: stem, lrhsi, hrmsi, ...(hrhsi ? { hrhsi } : {}), ...(region ? { region, bandMask: region.band_mask } : {}), ...(valid ? { valid } : {}) });
  }
  return samples;
}

async function readValid(path: string, hrmsi: Cube): Promise<boolean[]> {
  const mask = await readNpy(path, { layout: 'chw' });
  if (mask.bands !== 1 || mask.height !== hrmsi.height || mask.width !== hrmsi.width) {
    throw new CalibrationDataError(path, `is ${mask.bands}x${mask.height}x${mask.width}; expected a ${hrmsi.height}x${hrmsi.width} pixel mask`);
  }
  return Array.from(mask.data, (v) => v !== 0);
}

async function readChecked(path: string, input: 'lrhsi' | 'hrmsi' | 'hrhsi', bands: number, card: ModelCard): Promise<Cube> {
  const cube = await readNpy(path, { layout: 'chw' });
  if (cube.bands !== bands) throw new CalibrationBandCountError(path, input, bands, cube.bands);
  const wavelengths = input === 'hrmsi' ? cube.wavelengths : card.hsi.wavelengths_nm;
  return { ...cube, wavelengths };
}

async function loadScenes(manifestPath: string, card: ModelCard, max: number): Promise<CalibrationSample[]> {
  let manifest: ScenesManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ScenesManifest;
  } catch (err) {
    throw new CalibrationDataError(manifestPath, `not a readable JSON manifest (${(err as Error).message})`, { cause: err });
  }
  if (!Array.isArray(manifest.scenes)) throw new CalibrationDataError(manifestPath, "expected a 'scenes' array");
  const tile = manifest.tile ?? 64;
  const multiple = card.scale * (card.spatial_multiple ?? 1);
  if (!Number.isInteger(tile) || tile <= 0 || tile % card.scale !== 0) {
    throw new CalibrationDataError(manifestPath, `'tile' must be a positive multiple of the scale ${card.scale}, got ${tile}`);
  }
  const samples: CalibrationSample[] = [];
  for (const entry of manifest.scenes) {
    if (samples.length >= max) break;
    const scenePath = resolve(dirname(manifestPath), entry.path);
    const scene = await sceneOnCardBands(scenePath, entry, manifestPath, card);
    const size = Math.min(tile, Math.floor(Math.min(scene.height, scene.width) / multiple) * multiple);
    if (size <= 0) throw new CalibrationDataError(scenePath, `scene of ${scene.height}x${scene.width} is smaller than one tile (${multiple} px)`);
    for (const [top, left] of tileOrigins(scene.height, scene.width, size, manifest.tiles_per_scene ?? 4)) {
      if (samples.length >= max) break;
      const gt = cropCube(scene, top, left, size, size);
      const lrhsi = spatialDegrade(gt, card.scale, cardPsf(card.psf));
      const hrmsi = projectSrf(gt, card.msi.srf);
      samples.push({ name: `${entry.path}@${top},${left}`, lrhsi, hrmsi, hrhsi: gt });
    }
  }
  return samples;
}

/** Reads a scene, applies value scale and crop, and brings it to the card's bands. */
async function sceneOnCardBands(path: string, entry: SceneEntry, manifestPath: string, card: ModelCard): Promise<Cube> {
  if (!existsSync(path)) throw new CalibrationDataError(manifestPath, `scene file ${path} does not exist`);
  let cube = await readNpy(path, { layout: entry.layout ?? 'hwc' });
  const scale = entry.value_scale ?? 1;
  if (entry.crop) {
    const [top, left, h, w] = entry.crop;
    if (top < 0 || left < 0 || top + h > cube.height || left + w > cube.width) {
      throw new CalibrationDataError(manifestPath, `crop [${entry.crop.join(', ')}] lies outside ${path} (${cube.height}x${cube.width})`);
    }
    cube = cropCube(cube, top, left, h, w);
  }
  const data = new Float32Array(cube.data.length);
  for (let i = 0; i < data.length; i++) data[i] = cube.data[i] / scale;
  cube = { ...cube, data };
  if (entry.bands_csv) {
    const csvPath = resolve(dirname(manifestPath), entry.bands_csv);
    const table = await readBandTable(csvPath, entry.wavelength_column, entry.fwhm_column);
    if (table.centres.length !== cube.bands) throw new CalibrationBandCountError(csvPath, 'scene', cube.bands, table.centres.length);
    try {
      const source: Cube = { ...cube, wavelengths: table.centres, ...(table.fwhm ? { fwhm: table.fwhm } : {}) };
      const resampled = resampleCube(source, card.hsi.wavelengths_nm, card.hsi.fwhm_nm ?? undefined, card.hsi.band_valid);
      return { ...resampled, meta: cube.meta ?? {} };
    } catch (err) {
      if (err instanceof WavelengthError) throw new CalibrationDataError(path, err.message, { cause: err });
      throw err;
    }
  }
  if (cube.bands !== card.hsi.bands) throw new CalibrationBandCountError(path, 'scene', card.hsi.bands, cube.bands);
  return { ...cube, wavelengths: card.hsi.wavelengths_nm };
}

async function readBandTable(path: string, column?: string, fwhmColumn?: string): Promise<{ centres: number[]; fwhm?: number[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CalibrationDataError(path, `cannot read the band table (${(err as Error).message})`, { cause: err });
  }
  const [head, ...rows] = text.trim().split(/\r?\n/);
  const names = head.split(',').map((s) => s.trim());
  const col = column ? names.indexOf(column) : names.findIndex((n) => /center|wavelength/i.test(n));
  if (col < 0) throw new CalibrationDataError(path, `no wavelength column${column ? ` '${column}'` : ''} among ${names.join(', ')}`);
  const numbers = (c: number): number[] => rows.map((r) => Number(r.split(',')[c]));
  const centres = numbers(col);
  if (centres.some((v) => !Number.isFinite(v))) throw new CalibrationDataError(path, `column '${names[col]}' holds non-numeric values`);
  const fcol = fwhmColumn ? names.indexOf(fwhmColumn) : names.findIndex((n) => /fwhm/i.test(n));
  const fwhm = fcol >= 0 ? numbers(fcol) : undefined;
  return { centres, ...(fwhm && fwhm.every((v) => v > 0) ? { fwhm } : {}) };
}

function cropCube(cube: Cube, top: number, left: number, h: number, w: number): Cube {
  const data = new Float32Array(cube.bands * h * w);
  for (let b = 0; b < cube.bands; b++) {
    for (let y = 0; y < h; y++) {
      const src = b * cube.height * cube.width + (top + y) * cube.width + left;
      data.set(cube.data.subarray(src, src + w), (b * h + y) * w);
    }
  }
  return { ...cube, height: h, width: w, data };
}

/** Up to `count` tile origins spread evenly over the scene (row-major, non-overlapping when room allows). */
function tileOrigins(height: number, width: number, size: number, count: number): [number, number][] {
  const rows = Math.max(1, Math.floor(height / size));
  const cols = Math.max(1, Math.floor(width / size));
  const all: [number, number][] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) all.push([r * size, c * size]);
  if (all.length <= count) return all;
  return Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]);
}
