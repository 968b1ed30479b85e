/**
 * Shared set-up for the quantize tests: the tiny real-architecture student, a calibration directory built from
 * real scenes in ../shared/data, and a Python `onnx.checker` call when the venv is there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..');
export const TINY_MODEL = join(REPO, 'test', 'fixtures', 'tiny', 'tiny-student.onnx');
export const SHARED_DATA = resolve(REPO, '..', 'shared', 'data');
const PYTHON = join(REPO, '.venv', 'bin', 'python');
// writeSplitPairs runs `$SPECTRA_PYTHON -m spectra_distill`; point it at the repository's venv when there is one
if (existsSync(PYTHON)) process.env.SPECTRA_PYTHON ??= PYTHON;

const scratch: string[] = [];
process.on('exit', () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits. */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** Reason to skip real-data tests, or false when the data is there. */
export const NO_REAL_DATA: string | false = existsSync(join(SHARED_DATA, 'samson'))
  ? false
  : `real data not found at ${SHARED_DATA}`;

/**
 * A calibration directory with a `scenes.json` over two real scenes that cover the tiny student's 420-700 nm
 * (FWHM 40 nm): Samson (airborne, 0..1) and AVIRIS Salinas-A (radiance-like int16, / 8000 as in its dataset yaml).
 */
export async function realCalibrationDir(tile = 32, tilesPerScene = 4): Promise<string> {
  const dir = await scratchDir('spectra-calib-');
  const manifest = {
    scenes: [
      { path: join(SHARED_DATA, 'samson', 'samson_95x95x156_float32.npy'), bands_csv: join(SHARED_DATA, 'samson', 'samson_bands.csv') },
      {
        path: join(SHARED_DATA, 'salinas_a', 'salinas_a_83x86x204_int16.npy'),
        value_scale: 8000,
        bands_csv: join(SHARED_DATA, 'salinas_a', 'salinas_a_bands.csv'),
      },
    ],
    tile,
    tiles_per_scene: tilesPerScene,
  };
  await writeFile(join(dir, 'scenes.json'), JSON.stringify(manifest));
  return dir;
}

/** Reason to skip the Python checker, or false when the venv has `onnx`. */
export const NO_PYTHON_ONNX: string | false = existsSync(PYTHON) ? false : `no Python venv at ${PYTHON}`;

/** Runs `onnx.checker.check_model(full_check=True)` on a file; throws with the checker's message on failure. */
export function pythonCheckModel(path: string): void {
  execFileSync(PYTHON, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', path], { stdio: 'pipe' });
}
