import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeEnvi } from '../../sdk/cube/envi';
import { SyntheticSource } from '../../sdk/capture/synthetic';
import type { FramePair } from '../../sdk/capture/frame';
import { type ModelCard, readModelCard } from '../../sdk/core/model-card';

export const TINY_CARD = resolve(__dirname, '..', 'fixtures', 'tiny', 'tiny-student.card.json');

export function tempDir(prefix = 'spectra-capture-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function tinyCard(): Promise<ModelCard> {
  return readModelCard(TINY_CARD);
}

/** `n` small synthetic frames (32 x 32 HR, generated scene) from the tiny card. */
export async function syntheticFrames(n: number): Promise<FramePair[]> {
  const out: FramePair[] = [];
  for await (const f of new SyntheticSource({ card: await tinyCard(), scene: 'generated', size: [32, 32], maxFrames: n })) out.push(f);
  return out;
}

/** Writes frames as ENVI pairs `frame_<seq>_lrhsi.hdr` / `_hrmsi.hdr` / `_truth.hdr` into `dir`. */
export async function writePairs(dir: string, frames: readonly FramePair[], first = 0): Promise<void> {
  for (const [i, f] of frames.entries()) {
    const key = `frame_${String(first + i).padStart(4, '0')}`;
    await writeEnvi(join(dir, `${key}_lrhsi.hdr`), f.lrhsi);
    await writeEnvi(join(dir, `${key}_hrmsi.hdr`), f.hrmsi);
    if (f.truth) await writeEnvi(join(dir, `${key}_truth.hdr`), f.truth);
  }
}
