import t from 'tap';
import { readFile } from 'node:fs/promises';
import { readEnvi } from '../../sdk/cube/envi';
import { CubePublisher } from '../../sdk/publish/publisher';
import { CubeSubscriber, type ReceivedCube } from '../../sdk/publish/subscriber';
import { mosquittoMissing, startMosquitto } from '../helpers/mosquitto';
import { captureLog, patternCube, sameBytes, tempDir, until } from './helpers';

const skip = mosquittoMissing();

t.test('delivers: cubes arrive bit-exact, in order, with ENVI, meta and quicklook written', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const out = tempDir();
  const { log } = captureLog();
  const sub = await CubeSubscriber.connect({ broker: broker.url, out, log });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-1', chunkSize: 4096, window: 8, log });
  const cubes = [patternCube(5, 24, 20, 1), patternCube(5, 24, 20, 2), patternCube(3, 7, 9, 3)];
  const acked: number[] = [];
  pub.on('cube-acked', (seq) => acked.push(seq));
  for (const [i, c] of cubes.entries()) await pub.publish(c, { sequence: 10 + i, model: { id: 'tiny', precision: 'fp32' } });
  t.ok(await pub.drain(10_000), 'outbox drained');
  t.same(acked, [10, 11, 12], 'acked in order');
  await until(() => got.length === 3, 10_000, '3 cubes');
  t.same(got.map((g) => g.meta.sequence), [10, 11, 12]);
  for (const [i, g] of got.entries()) {
    t.ok(sameBytes(g.cube.data, cubes[i].data), `cube ${i} bit-exact`);
    t.same(g.meta.shape, [cubes[i].bands, cubes[i].height, cubes[i].width]);
    t.equal(g.meta.model?.id, 'tiny');
    const back = await readEnvi(g.files!.header);
    t.ok(sameBytes(back.data, cubes[i].data), `ENVI file ${i} bit-exact`);
    const png = await readFile(g.files!.quicklook!);
    t.equal(png.subarray(1, 4).toString(), 'PNG', 'quicklook is a PNG');
  }
  t.equal(got[0].meta.chunkCount, Math.ceil((5 * 24 * 20 * 4) / 4096), 'chunked at the requested size');
  const m = pub.metrics();
  t.equal(m.cubesAcked, 3);
  t.equal(m.acknowledged, m.published, 'every message acknowledged');
  t.ok(m.outboxBytes > 0, 'acknowledged cubes wait out their settle time in the outbox');
  await pub.close();
  t.equal(pub.metrics().outboxBytes, 0, 'a clean close empties the outbox');
  await sub.close();
});

t.test('shares: two members of a $share group each get whole cubes, every cube exactly once', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const { log } = captureLog();
  const members = await Promise.all(['m1', 'm2'].map((id) => CubeSubscriber.connect({ broker: broker.url, share: 'fusers', clientId: id, log })));
  const got: { who: number; cube: ReceivedCube }[] = [];
  const errors: Error[] = [];
  members.forEach((m, who) => {
    m.on('cube', (cube) => got.push({ who, cube }));
    m.on('cube-error', (e) => errors.push(e));
  });
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-s', chunkSize: 1024, log });
  const cubes = Array.from({ length: 6 }, (_, i) => patternCube(4, 16, 16, 30 + i));
  for (const [i, c] of cubes.entries()) await pub.publish(c, { sequence: i });
  t.ok(await pub.drain(10_000));
  await until(() => got.length >= cubes.length, 10_000, 'all cubes across the group');
  await new Promise((r) => setTimeout(r, 200));
  t.same(got.map((g) => g.cube.meta.sequence).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5], 'each cube once across the group');
  t.ok(got.every((g) => sameBytes(g.cube.cube.data, cubes[g.cube.meta.sequence].data)), 'bit-exact');
  t.same(errors, [], 'no member saw a partial cube');
  t.ok(new Set(got.map((g) => g.who)).size === 2, 'both members did work');
  await pub.close();
  await Promise.all(members.map((m) => m.close()));
});
