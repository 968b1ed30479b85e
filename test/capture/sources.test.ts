import t from 'tap';
import { CameraTemplate, type CameraTemplateOptions, type RawCapture } from '../../sdk/capture/camera-template';
import { DirectoryWatcher } from '../../sdk/capture/directory-watcher';
import { ReplaySource } from '../../sdk/capture/replay';
import { SyntheticSource } from '../../sdk/capture/synthetic';
import { sourceContract } from './source-contract';

const quiet = (): void => {};
import { syntheticFrames, tempDir, tinyCard, writePairs } from './helpers';

t.test('SyntheticSource meets the source contract', async (t) => {
  const card = await tinyCard();
  sourceContract(t, async (o) => new SyntheticSource({ ...o, log: quiet, card, scene: 'generated', size: [32, 32], maxFrames: o.maxFrames ?? 8 }), card.scale);
});

t.test('ReplaySource (folder) meets the source contract', async (t) => {
  const dir = tempDir();
  await writePairs(dir, await syntheticFrames(6));
  sourceContract(t, async (o) => new ReplaySource({ ...o, log: quiet, frames: dir, loops: 2 }), 4);
});

t.test('ReplaySource (in memory) meets the source contract', async (t) => {
  const frames = await syntheticFrames(6);
  sourceContract(t, async (o) => new ReplaySource({ ...o, log: quiet, frames }), 4);
});

t.test('DirectoryWatcher meets the source contract', async (t) => {
  const dir = tempDir();
  await writePairs(dir, await syntheticFrames(6));
  sourceContract(t, async (o) => new DirectoryWatcher({ ...o, log: quiet, dir, stableMs: 30, pollMs: 20, idleTimeoutMs: 1500 }), 4);
});

/** The camera template filled in the smallest way: a "device" that replays frames from memory. */
class FakeCamera extends CameraTemplate {
  private next = 0;
  opened = false;
  closed = false;
  constructor(
    options: CameraTemplateOptions,
    private readonly frames: Awaited<ReturnType<typeof syntheticFrames>>,
  ) {
    super(options);
  }
  protected async openDevice(): Promise<void> {
    this.opened = true;
  }
  protected async grab(): Promise<RawCapture | undefined> {
    const f = this.frames[this.next++ % this.frames.length];
    await new Promise((r) => setTimeout(r, 5));
    return { hsi: f.lrhsi, msi: f.hrmsi, meta: { exposureMs: 4 } };
  }
  protected async closeDevice(): Promise<void> {
    this.closed = true;
  }
}

t.test('CameraTemplate (filled in) meets the source contract and releases its device', async (t) => {
  const frames = await syntheticFrames(3);
  sourceContract(t, async (o) => new FakeCamera({ ...o, log: quiet, device: 'fake0' }, frames), 4);
  t.test('device opened and closed once', async (t) => {
    const cam = new FakeCamera({ device: 'fake1', maxFrames: 2 }, frames);
    for await (const f of cam) t.equal(f.meta.exposureMs, 4);
    t.ok(cam.opened && cam.closed);
    t.equal(cam.name, 'camera:fake1');
  });
});

t.test('ReplaySource paces frames at the requested rate, across loops', async (t) => {
  const frames = await syntheticFrames(3);
  const t0 = Date.now();
  const seen: number[] = [];
  for await (const f of new ReplaySource({ frames, fps: 20, loops: 2 })) seen.push(f.sequence);
  const ms = Date.now() - t0;
  t.same(seen, [0, 1, 2, 3, 4, 5], 'sequence continues across loops');
  t.ok(ms >= 240 && ms < 3000, `6 frames at 20 fps took ${ms} ms (>= 250 ms expected)`);
});
