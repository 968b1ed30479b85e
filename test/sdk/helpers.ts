import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Cube } from '../../sdk/cube/cube';
import { readNpy } from '../../sdk/cube/npy';

export const ROOT = resolve(__dirname, '..', '..');
export const TINY = join(ROOT, 'test', 'fixtures', 'tiny');
export const TINY_MODEL = join(TINY, 'tiny-student.onnx');
export const SHARED = resolve(ROOT, '..', 'shared', 'data');

const tempDirs: string[] = [];
process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(prefix = 'spectra-sdk-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A deterministic pseudo-random cube (mulberry32), values in [lo, hi). */
export function randomCube(bands: number, height: number, width: number, wavelengths: readonly number[], seed = 1, lo = 0.05, hi = 0.95): Cube {
  let a = seed >>> 0;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const data = new Float32Array(bands * height * width);
  for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * rand();
  return { bands, height, width, data, wavelengths };
}

/** Reads a reference `.npy` of shape (1, B, H, W) as a cube on the given wavelengths. */
export async function readReference(path: string, wavelengths: readonly number[]): Promise<Cube> {
  return readNpy(path, { wavelengths });
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The shipped student (first `models/*.card.json` with its `.onnx`), if any. */
export function shippedStudent(): string | undefined {
  const dir = join(ROOT, 'models');
  if (!existsSync(dir)) return undefined;
  const card = readdirSync(dir).sort().find((f) => f.endsWith('.card.json') && existsSync(join(dir, f.replace(/\.card\.json$/, '.onnx'))));
  return card ? join(dir, card.replace(/\.card\.json$/, '.onnx')) : undefined;
}
