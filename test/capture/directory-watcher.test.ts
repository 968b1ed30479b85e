import t from 'tap';
import { mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { writeEnvi } from '../../sdk/cube/envi';
import { writePngStack } from '../../sdk/cube/png-stack';
import { DirectoryWatcher } from '../../sdk/capture/directory-watcher';
import type { FramePair } from '../../sdk/capture/frame';
import type { CubeFile } from '../../sdk/capture/pair-files';
import { classifyName } from '../../sdk/capture/pair-files';
import { syntheticFrames, tempDir } from './helpers';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('waits for slow writers, ignores temporary names, reports unpaired halves', async (t) => {
  const dir = tempDir();
  const [f0, f1] = await syntheticFrames(2);
  const unpaired: CubeFile[] = [];
  const watcher = new DirectoryWatcher({ log: () => {}, dir, pollMs: 20, stableMs: 150, pairTimeoutMs: 600, idleTimeoutMs: 1500, onUnpaired: (f) => unpaired.push(f) });
  const got: FramePair[] = [];
  const consuming = (async () => {
    for await (const f of watcher) got.push(f);
  })();

  // Pair 7: the HR-MSI data file is written in two halves with a pause longer than a poll.
  const staging = tempDir();
  await writeEnvi(join(staging, 'x_hrmsi.hdr'), f0.hrmsi);
  await writeEnvi(join(dir, 'shot_0007_lrhsi.hdr'), f0.lrhsi);
  writeFileSync(join(dir, 'shot_0007_hrmsi.hdr'), readFileSync(join(staging, 'x_hrmsi.hdr')));
  const bytes = readFileSync(join(staging, 'x_hrmsi.img'));
  const fd = openSync(join(dir, 'shot_0007_hrmsi.img'), 'w');
  writeSync(fd, bytes, 0, bytes.length / 2);
  await sleep(100);
  t.equal(got.length, 0, 'not emitted while the data file grows');
  writeSync(fd, bytes, bytes.length / 2, bytes.length - bytes.length / 2);
  closeSync(fd);

  // Pair 8: PNG stacks written under a temporary name, then renamed (rename-complete).
  mkdirSync(join(dir, '.tmp-lr'));
  mkdirSync(join(dir, '.tmp-ms'));
  await writePngStack(join(dir, '.tmp-lr'), f1.lrhsi);
  await writePngStack(join(dir, '.tmp-ms'), f1.hrmsi);
  renameSync(join(dir, '.tmp-lr'), join(dir, 'shot_0008_lrhsi'));
  renameSync(join(dir, '.tmp-ms'), join(dir, 'shot_0008_hrmsi'));

  // A lone half.
  await writeEnvi(join(dir, 'shot_0009_lrhsi.hdr'), f1.lrhsi);
  await consuming;

  t.same(got.map((g) => g.sequence), [7, 8], 'pairs in sequence order, each once');
  t.same(Array.from(got[0].hrmsi.data), Array.from(f0.hrmsi.data), 'the slowly written file is read complete');
  t.equal(got[1].lrhsi.bands, f1.lrhsi.bands, 'PNG stack read band by band');
  t.equal(unpaired.length, 1);
  t.match(unpaired[0].path, /shot_0009_lrhsi\.hdr$/);
  t.equal(watcher.stats.unpaired, 1);
});

t.test('deleteConsumed removes a pair once queued', async (t) => {
  const dir = tempDir();
  const [f] = await syntheticFrames(1);
  await writeEnvi(join(dir, 'a_1_lrhsi.hdr'), f.lrhsi);
  await writeEnvi(join(dir, 'a_1_hrmsi.hdr'), f.hrmsi);
  mkdirSync(join(dir, 'unrelated'));
  const watcher = new DirectoryWatcher({ dir, pollMs: 20, stableMs: 30, deleteConsumed: true, maxFrames: 1 });
  for await (const frame of watcher) t.equal(frame.sequence, 1);
  t.same(readdirSync(dir), ['unrelated']);
});

t.test('rejects: a missing folder with a typed error naming it', async (t) => {
  const watcher = new DirectoryWatcher({ dir: '/nonexistent/spectra-in', pollMs: 10 });
  await t.rejects(async () => {
    for await (const _ of watcher) t.fail('yielded');
  }, { code: 'E_WATCH_FOLDER', message: /\/nonexistent\/spectra-in/ });
});

t.test('names: roles, keys, temporary files', async (t) => {
  t.same(classifyName('scene_12_lrhsi.hdr', false), { key: 'scene_12', role: 'lrhsi', kind: 'envi' });
  t.same(classifyName('scene-12-hrmsi', true), { key: 'scene-12', role: 'hrmsi', kind: 'png-stack' });
  t.equal(classifyName('scene_12_lrhsi.img', false), undefined, 'data files follow their header');
  t.equal(classifyName('scene_12_lrhsi.hdr.tmp', false), undefined);
  t.equal(classifyName('.scene_12_lrhsi.hdr', false), undefined);
  t.equal(classifyName('scene_12_lrhsi', false), undefined, 'a plain file without .hdr is not a cube');
});
