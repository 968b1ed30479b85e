import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cube } from '../../sdk/cube/cube';
import type { Logger } from '../../sdk/core/log';
import { CUBE_PROTOCOL, type CubeMessageMeta, chunkTopic, encodeChunk, encodeMeta, metaTopic } from '../../sdk/publish/protocol';

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
export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: (level, msg) => lines.push(`${level} ${msg}`), lines };
}

/** Resolves when `predicate` holds, polling; rejects after `ms`. */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Messages (meta first, then chunks in order) that a publisher would send for `cube`. */
export function cubeMessages(cube: Cube, opts: { device?: string; sequence?: number; chunkSize?: number; cubeId?: string } = {}): { topic: string; payload: Buffer }[] {
  const device = opts.device ?? 'fuzz';
  const sequence = opts.sequence ?? 0;
  const chunkSize = opts.chunkSize ?? 1000;
  const cubeId = opts.cubeId ?? '0123456789abcdef';
  const payload = Buffer.from(cube.data.buffer, cube.data.byteOffset, cube.data.byteLength);
  const meta: CubeMessageMeta = {
    protocol: CUBE_PROTOCOL,
    device,
    sequence,
    cubeId,
    shape: [cube.bands, cube.height, cube.width],
    dtype: 'float32',
    byteOrder: 'little',
    layout: 'bsq',
    wavelengths: [...cube.wavelengths],
    capturedAt: new Date(0).toISOString(),
    enqueuedAt: new Date(0).toISOString(),
    payloadBytes: payload.length,
    chunkSize,
    chunkCount: Math.ceil(payload.length / chunkSize),
    sha256: createHash('sha256').update(payload).digest('hex'),
  };
  const out = [{ topic: metaTopic(device, sequence), payload: encodeMeta(meta) }];
  for (let i = 0; i < meta.chunkCount; i++) {
    const off = i * chunkSize;
    out.push({ topic: chunkTopic(device, sequence, i), payload: encodeChunk(cubeId, i, meta.chunkCount, off, payload.subarray(off, off + chunkSize)) });
  }
  return out;
}

/** Seeded PRNG (mulberry32) in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
