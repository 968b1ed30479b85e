/**
 * Calibration and evaluation pairs from the project's split: training regions to calibrate on, validation (or
 * test) regions to measure on. The region tables and the degradation live on the host side
 * (`distill/spectra_distill/splits/*.yaml`, `datasets/*.yaml`); `spectra-distill split-pairs` asks the host for them
 * and writes a pairs directory with a `regions.json`, so nothing here restates a region.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cardPathFor } from '../sdk/core/model-card';
import { readRegionsManifest, type CalibrationSample, type RegionsManifest } from './calibration-set';
import { SplitOverlapError, SplitPairsError } from './errors';

const run = promisify(execFile);

/** Split roles a pairs directory can be written for. */
export type SplitRole = 'train' | 'val' | 'test';

/** Options of {@link writeSplitPairs}. */
export interface SplitPairsOptions {
  /** Split name or YAML path. @defaultValue the split in the card's `training` */
  split?: string;
  /** Data root. @defaultValue the host's default (`../shared/data` or `$SPECTRA_DATA`) */
  data?: string;
  /** `train`: HR tile side in pixels. @defaultValue 32 */
  tile?: number;
  /** `train`: tiles per region at most. @defaultValue 6 */
  tilesPerRegion?: number;
  /** Python with `spectra_distill` installed. @defaultValue `$SPECTRA_PYTHON`, else `python3` */
  python?: string;
}

/**
 * Writes the pairs of one split role for a model (host-simulated: `<python> -m spectra_distill split-pairs`).
 * @param modelPath - The float32 `.onnx`; its card names the band grid, PSF, MSI preset, datasets and split.
 * @param role - `train` for calibration (tiles of the training regions), `val`/`test` for evaluation (whole
 *   held-out regions, checked by the host to be disjoint from the training regions).
 * @param outDir - An empty (or new) directory.
 * @param options - See {@link SplitPairsOptions}.
 * @returns The `regions.json` written with the pairs.
 * @throws {@link SplitPairsError} when the host side fails (its message names the file at fault).
 * @example
 * const calib = await writeSplitPairs('models/student.onnx', 'train', 'out/calib');
 */
export async function writeSplitPairs(modelPath: string, role: SplitRole, outDir: string, options: SplitPairsOptions = {}): Promise<RegionsManifest> {
  const python = options.python ?? process.env.SPECTRA_PYTHON ?? 'python3';
  const args = ['-m', 'spectra_distill', 'split-pairs', '--card', cardPathFor(modelPath), '--role', role, '--out', outDir];
  if (options.split) args.push('--split', options.split);
  if (options.data) args.push('--data', options.data);
  if (options.tile !== undefined) args.push('--tile', String(options.tile));
  if (options.tilesPerRegion !== undefined) args.push('--tiles-per-region', String(options.tilesPerRegion));
  try {
    await run(python, args, { maxBuffer: 1 << 24 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr ?? '').trim().split('\n').pop() || e.message;
    throw new SplitPairsError(modelPath, `spectra-distill split-pairs --role ${role} failed: ${detail}`, { cause: err });
  }
  const manifest = await readRegionsManifest(outDir);
  if (!manifest) throw new SplitPairsError(outDir, 'spectra-distill split-pairs wrote no regions.json');
  return manifest;
}

function overlaps(a: readonly number[], b: readonly number[]): boolean {
  const [at, al, ah, aw] = a;
  const [bt, bl, bh, bw] = b;
  return at < bt + bh && bt < at + ah && al < bl + bw && bl < al + aw;
}

/**
 * Refuses calibration and evaluation samples that share pixels of a scene. Samples without a region (not from
 * a split) cannot be checked and are passed over.
 * @param calibration - Calibration samples.
 * @param evaluation - Samples quality is measured on.
 * @param path - Names the evaluation data in the error.
 * @throws {@link SplitOverlapError} naming the scene and both windows.
 */
export function assertDisjointSamples(calibration: readonly CalibrationSample[], evaluation: readonly CalibrationSample[], path: string): void {
  for (const e of evaluation) {
    if (!e.region) continue;
    for (const c of calibration) {
      if (c.region && c.region.scene === e.region.scene && overlaps(c.region.window, e.region.window)) {
        throw new SplitOverlapError(path, e.region.scene, c.region.window, e.region.window);
      }
    }
  }
}
