/**
 * Where the CLI finds what the SDK is handed as plain paths: the shipped models and the shared data folder.
 * Only the application layer knows the repository (or installed package) layout; the SDK never looks.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { readModelCard } from '../sdk/core/model-card';

/** The package root: the nearest folder above this file with a package.json (works from cli/ and from dist/cli/). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(__dirname, '..');
}

/** The data folder: `$SPECTRA_DATA`, else `shared/data` beside the checkout. */
export function dataRoot(): string {
  return process.env.SPECTRA_DATA || resolve(packageRoot(), '..', 'shared', 'data');
}

/**
 * The default synthetic scene: the CAVE "cloth" cube (256 x 256 x 31, uint16 / 65535) of the data folder,
 * or `'generated'` (a procedural scene) where there is no data folder, e.g. on a device.
 */
export function defaultScene(): string {
  const cloth = join(dataRoot(), 'cave_kbr', 'cave_cloth_256x256x31_uint16.npy');
  return existsSync(cloth) ? cloth : 'generated';
}

/** The host Python for `spectra_distill` helpers: `$SPECTRA_PYTHON`, else the checkout's `.venv/bin/python`, else `python3`. */
export function hostPython(): string {
  const venv = join(packageRoot(), '.venv', 'bin', 'python');
  return process.env.SPECTRA_PYTHON || (existsSync(venv) ? venv : 'python3');
}

/**
 * The default model: the first `models/*.card.json` of the package (the shipped students), else the tiny test
 * fixture of a checkout.
 * @returns Path of the `.onnx` named by the card.
 */
export async function defaultModel(): Promise<string> {
  const root = packageRoot();
  const dir = join(root, 'models');
  let cards: string[] = [];
  try {
    cards = (await readdir(dir)).filter((n) => n.endsWith('.card.json')).sort();
  } catch {
    // No models folder (a trimmed install): fall through to the fixture.
  }
  for (const name of cards) {
    const card = await readModelCard(join(dir, name));
    if (card.onnx) return join(dir, card.onnx);
  }
  return join(root, 'test', 'fixtures', 'tiny', 'tiny-student.onnx');
}
