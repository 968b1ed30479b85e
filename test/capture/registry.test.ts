import t from 'tap';
import { openSource, SOURCE_NAMES } from '../../sdk/capture/registry';
import { QueuedSource } from '../../sdk/capture/queued-source';
import type { FrameSource } from '../../sdk/capture/frame';
import { syntheticFrames, tempDir, tinyCard, writePairs } from './helpers';

const quiet = (): void => {};
const policyOf = (s: FrameSource): string => (s instanceof QueuedSource ? s.policy : 'not a queued source');

t.test('registry: live sources drop the oldest frame by default, sources read as fast as fused block', async (t) => {
  const card = await tinyCard();
  const dir = tempDir();
  await writePairs(dir, await syntheticFrames(2));
  const synthetic = { log: quiet, scene: 'generated' as const, size: [32, 32] as [number, number], maxFrames: 1 };
  t.equal(policyOf(openSource('synthetic', { ...synthetic, fps: 10 }, { card })), 'drop-oldest', 'a paced synthetic camera is live');
  t.equal(policyOf(openSource('synthetic', { ...synthetic, fps: 0 }, { card })), 'block', 'unpaced frames skip nothing');
  t.equal(policyOf(openSource('synthetic', synthetic, { card })), 'block');
  t.equal(policyOf(openSource('replay', { log: quiet, frames: dir, fps: 5 }, { card })), 'drop-oldest', 'a replay at a camera rate is live');
  t.equal(policyOf(openSource('replay', { log: quiet, frames: dir }, { card })), 'block', 'a recording read as fast as fused loses nothing');
  t.equal(policyOf(openSource('watch', { log: quiet, dir }, { card })), 'drop-oldest', 'a watched folder is live');
  t.equal(policyOf(openSource('replay', { log: quiet, frames: dir, fps: 5, policy: 'block' }, { card })), 'block', 'an explicit policy wins');
  t.equal(policyOf(openSource('directory', { log: quiet, dir, policy: 'block' }, { card })), 'block');
  t.throws(() => openSource('camera-x', {}, { card }), new RegExp(`Expected a capture source \\(${SOURCE_NAMES.join(', ')}\\)`), 'an unknown name lists the valid ones');
});
