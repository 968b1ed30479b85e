import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log';
import type { CaptureOptions, FramePair } from './frame';
import { type CubeFile, classifyName, keySequence, readCubeFile } from './pair-files';
import { FramePacer } from './frame-pacer';
import { QueuedSource } from './queued-source';

/** Options for {@link ReplaySource}. */
export interface ReplayOptions extends CaptureOptions {
  /** Recorded frames: a folder of pairs (as {@link DirectoryWatcher} reads them) or frames in memory. */
  frames: string | readonly FramePair[];
  /** Playback rate; 0 for as fast as consumed. @defaultValue 0 */
  fps?: number;
  /** Times to play the sequence (Infinity to loop forever). @defaultValue 1 */
  loops?: number;
  lrhsiWavelengths?: readonly number[];
  hrmsiWavelengths?: readonly number[];
  log?: Logger;
}

/**
 * Plays a recorded sequence at a given frame rate: frame i is due at `start + i / fps`, so a slow
 * consumer under the `drop-oldest` policy loses frames the way a live camera would, and under `block`
 * playback simply stretches. Sequence numbers keep increasing across loops.
 * @example
 * const replay = new ReplaySource({ frames: 'recordings/flight-7', fps: 5, policy: 'drop-oldest' });
 */
export class ReplaySource extends QueuedSource {
  private readonly o: ReplayOptions;
  private readonly pacer: FramePacer;

  /**
   * @param options - See {@link ReplayOptions}.
   * @throws RangeError for a negative fps or loop count.
   */
  constructor(options: ReplayOptions) {
    super('replay', options, options.log);
    this.o = options;
    this.pacer = new FramePacer(options.fps);
    if (options.loops !== undefined && !(options.loops >= 1)) throw new RangeError(`Expected loops >= 1 but received ${options.loops}`);
  }

  protected async produce(): Promise<void> {
    const load = typeof this.o.frames === 'string' ? await this.recordedPairs(this.o.frames) : this.o.frames.map((f) => async () => f);
    if (load.length === 0) {
      this.log.warn('nothing to replay');
      return;
    }
    const loops = this.o.loops ?? 1;
    this.pacer.start();
    let i = 0;
    for (let loop = 0; loop < loops && !this.stopped; loop++) {
      for (const get of load) {
        if (this.stopped) return;
        const frame = await get();
        await this.pacer.wait(i);
        await this.emit({ ...frame, sequence: i, capturedAt: new Date(), meta: { ...frame.meta, source: 'replay', recordedSequence: frame.sequence, loop } });
        i++;
      }
    }
  }

  /** Lists a recording folder into loaders, in sequence order; unpaired halves are counted and skipped. */
  private async recordedPairs(dir: string): Promise<(() => Promise<FramePair>)[]> {
    const byKey = new Map<string, Partial<Record<string, CubeFile>>>();
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const c = classifyName(e.name, e.isDirectory());
      if (c === undefined) continue;
      const entry = byKey.get(c.key) ?? {};
      entry[c.role] = { ...c, path: join(dir, e.name) };
      byKey.set(c.key, entry);
    }
    const keys = [...byKey.keys()].sort((a, b) => (keySequence(a) ?? Infinity) - (keySequence(b) ?? Infinity) || a.localeCompare(b));
    const out: (() => Promise<FramePair>)[] = [];
    keys.forEach((key, n) => {
      const f = byKey.get(key)!;
      if (!f.lrhsi || !f.hrmsi) {
        this.countUnpaired();
        this.log.warn(`${(f.lrhsi ?? f.hrmsi ?? f.truth)!.path}: recorded without its other half; skipped`);
        return;
      }
      out.push(async () => {
        const [lrhsi, hrmsi, truth] = await Promise.all([
          readCubeFile(f.lrhsi!, this.o.lrhsiWavelengths, this.o.camera),
          readCubeFile(f.hrmsi!, this.o.hrmsiWavelengths, this.o.camera),
          f.truth ? readCubeFile(f.truth, this.o.lrhsiWavelengths) : Promise.resolve(undefined),
        ]);
        return { lrhsi, hrmsi, ...(truth ? { truth } : {}), sequence: keySequence(key) ?? n, capturedAt: new Date(), meta: { source: 'replay', key } };
      });
    });
    return out;
  }
}
