import t from 'tap';
import { DirectoryWatcher } from '../../sdk/capture/directory-watcher';
import { ReplaySource } from '../../sdk/capture/replay';
import { SyntheticSource } from '../../sdk/capture/synthetic';
import { sourceContract } from './source-contract';
import { syntheticFrames, tempDir, tinyCard, writePairs } from './helpers';

t.test('SyntheticSource meets the source contract', async (t) => {
  const card = await tinyCard();
  sourceContract(t, async (o) => new SyntheticSource({ ...o, card, scene: 'generated', size: [32, 32], maxFrames: o.maxFrames ?? 8 }), card.scale);
});

t.test('ReplaySource (folder) meets the source contract', async (t) => {
  const dir = tempDir();
  await writePairs(dir, await syntheticFrames(6));
  sourceContract(t, async (o) => new ReplaySource({ ...o, frames: dir, loops: 2 }), 4);
});

t.test('ReplaySource (in memory) meets the source contract', async (t) => {
  const frames = await syntheticFrames(6);
  sourceContract(t, async (o) => new ReplaySource({ ...o, frames }), 4);
});

t.test('DirectoryWatcher meets the source contract', async (t) => {
  const dir = tempDir();
  await writePairs(dir, await syntheticFrames(6));
  sourceContract(t, async (o) => new DirectoryWatcher({ ...o, dir, stableMs: 30, pollMs: 20, idleTimeoutMs: 1500 }), 4);
});
