import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cube } from '../../sdk/cube/cube';
import type { LogFn } from '../../sdk/publish/log';

/** A fresh temporary directory. */
export function tempDir(prefix = 'spectra-pub-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A deterministic cube whose every value depends on (seed, index), so any misplaced byte shows. */
export function patternCube(bands: number, height: number, width: number, seed = 1): Cube {
  const data = new Float32Array(bands * height * width);
  let a = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    data[i] = a / 4294967296;
  }
  return { bands, height, width, data, wavelengths: Array.from({ length: bands }, (_, b) => 400 + 10 * b) };
}

/** Byte-for-byte equality of two float arrays (NaN payloads included). */
export function sameBytes(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A log sink that keeps lines for assertions instead of printing them. */
export function captureLog(): { log: LogFn; lines: string[] } {
  const lines: string[] = [];
  return { log: (level, ns, msg) => lines.push(`${level} ${ns} ${msg}`), lines };
}

/** Resolves when `predicate` holds, polling; rejects after `ms`. */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
