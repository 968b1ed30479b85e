/**
 * Contract every capture adapter meets, run against each one with its own factory.
 */
import type { Test } from 'tap';
import { assertCube } from '../../sdk/cube/create';
import type { CaptureOptions, FramePair, FrameSource } from '../../sdk/capture/frame';

/** Makes a fresh source that can produce at least 6 frames of an x`scale` pair. */
export type SourceFactory = (options: CaptureOptions) => Promise<FrameSource>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function sourceContract(t: Test, make: SourceFactory, scale: number): void {
  t.test('yields well-formed pairs with increasing sequence numbers', async (t) => {
    const source = await make({ maxFrames: 4 });
    const frames: FramePair[] = [];
    for await (const f of source) frames.push(f);
    t.equal(frames.length, 4, 'maxFrames respected');
    for (const f of frames) {
      assertCube(f.lrhsi, 'lrhsi');
      assertCube(f.hrmsi, 'hrmsi');
      t.equal(f.hrmsi.height, f.lrhsi.height * scale);
      t.equal(f.hrmsi.width, f.lrhsi.width * scale);
      t.ok(f.capturedAt instanceof Date);
      t.type(f.meta.source, 'string');
    }
    t.ok(frames.every((f, i) => i === 0 || f.sequence > frames[i - 1].sequence), 'sequence increases');
    t.equal(source.stats.delivered, 4);
  });

  t.test('leaving the loop closes the source; it cannot be iterated twice', async (t) => {
    const source = await make({});
    for await (const f of source) {
      t.ok(f);
      break;
    }
    t.equal(source.stats.queued, 0, 'queue released');
    await t.rejects(async () => {
      for await (const _ of source) t.fail('second iteration yielded');
    }, /only once/);
  });

  t.test('drop-oldest: a slow consumer loses old frames, counted; delivered ones stay in order', async (t) => {
    const source = await make({ queueSize: 1, policy: 'drop-oldest', maxFrames: 6 });
    const seqs: number[] = [];
    for await (const f of source) {
      seqs.push(f.sequence);
      await sleep(150);
    }
    const s = source.stats;
    t.equal(s.produced, 6);
    t.ok(s.dropped > 0, `${s.dropped} dropped`);
    t.equal(s.delivered + s.dropped, s.produced, 'every frame delivered or counted as dropped');
    t.ok(seqs.every((v, i) => i === 0 || v > seqs[i - 1]));
  });

  t.test('block: a slow consumer loses nothing', async (t) => {
    const source = await make({ queueSize: 1, policy: 'block', maxFrames: 4 });
    let n = 0;
    for await (const _ of source) {
      n++;
      await sleep(60);
    }
    t.equal(n, 4);
    t.equal(source.stats.dropped, 0);
  });
}
