import t from 'tap';
import mqtt from 'mqtt';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CubePublisher } from '../../sdk/publish/publisher';
import { CubeSubscriber, type ReceivedCube } from '../../sdk/publish/subscriber';
import { mosquittoMissing, startMosquitto } from '../helpers/mosquitto';
import { patternCube, sameBytes, tempDir, until } from './helpers';

const skip = mosquittoMissing();
const quiet = (): void => {};

t.test('survives: broker killed mid-stream and restarted; every cube arrives once, in order', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const sub = await CubeSubscriber.connect({ broker: broker.url, reconnectMs: 100, log: quiet });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const pub = await CubePublisher.connect({
    broker: broker.url,
    device: 'cam-k',
    outbox: join(tempDir(), 'outbox'),
    chunkSize: 4096,
    window: 4,
    // The subscriber (100 ms retries) must be back before the publisher's first retry (1-2 s), or the
    // restarted broker would take cubes that nobody is subscribed to yet.
    reconnectMinMs: 2000,
    log: quiet,
  });
  let offline = 0;
  pub.on('offline', () => offline++);
  const cubes = Array.from({ length: 12 }, (_, i) => patternCube(8, 32, 32, 50 + i));
  for (const [i, c] of cubes.entries()) await pub.publish(c, { sequence: i });
  await until(() => pub.metrics().cubesAcked >= 2, 10_000, 'two cubes acknowledged');
  await broker.stop('SIGKILL');
  t.ok(pub.metrics().cubesAcked < cubes.length, 'the broker died mid-stream');
  await new Promise((r) => setTimeout(r, 300));
  await broker.start();
  t.ok(await pub.drain(30_000), 'outbox drained after the restart');
  await until(() => got.length >= cubes.length, 15_000, 'all cubes at the subscriber');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(offline, 1, 'the publisher noticed the outage');
  t.same(got.map((g) => g.meta.sequence), cubes.map((_, i) => i), 'each cube once, in order');
  t.ok(got.every((g, i) => sameBytes(g.cube.data, cubes[i].data)), 'bit-exact');
  t.ok(pub.metrics().reconnects >= 1);
  await pub.close();
  await sub.close();
});

interface Child {
  lines: string[];
  exited: Promise<number | null>;
  kill(): void;
}

function runChild(args: string[]): Child {
  const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'publisher-child.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  return { lines, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), kill: () => child.kill('SIGKILL') };
}

t.test('survives: publisher SIGKILLed mid-stream; a restart resumes the outbox and nothing is lost or doubled', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const sub = await CubeSubscriber.connect({ broker: broker.url, log: quiet });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const outbox = join(tempDir(), 'outbox');
  const count = 40;
  const first = runChild([broker.url, outbox, 'fill', String(count)]);
  await until(() => first.lines.includes('stored') && first.lines.some((l) => l.startsWith('acked')), 30_000, 'first acks');
  first.kill();
  await first.exited;
  // The broker publishes the last will (retained) when the publisher's connection dies without DISCONNECT.
  const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  const status: string[] = [];
  watcher.on('message', (_topic, payload) => status.push(payload.toString()));
  await watcher.subscribeAsync('spectra/crash/status', { qos: 1 });
  await until(() => status.length > 0, 5000, 'the retained status');
  t.match(JSON.parse(status[0]), { state: 'offline' }, 'last will says offline');
  await watcher.endAsync();
  const ackedBefore = first.lines.filter((l) => l.startsWith('acked')).length;
  const left = readdirSync(outbox).filter((n) => n.endsWith('.cube')).length;
  t.ok(ackedBefore < count && left > 0, `killed mid-stream (${ackedBefore} acked, ${left} cubes left in the outbox)`);
  const second = runChild([broker.url, outbox, 'resume', '0']);
  t.equal(await second.exited, 0, 'resumed run exits cleanly');
  t.ok(second.lines.includes('drained'));
  await until(() => got.length >= count, 15_000, 'all cubes at the subscriber');
  await new Promise((r) => setTimeout(r, 200));
  t.same(got.map((g) => g.meta.sequence), Array.from({ length: count }, (_, i) => i), 'every cube exactly once, in order');
  t.ok(got.every((g, i) => sameBytes(g.cube.data, patternCube(4, 32, 32, 100 + i).data)), 'bit-exact');
  t.same(readdirSync(outbox).filter((n) => n.endsWith('.cube')), [], 'outbox empty');
  await sub.close();
});

t.test('bounds: with the broker down, a full outbox evicts the oldest cubes, counted, logged and announced', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const lines: string[] = [];
  const cubeBytes = 4 * 16 * 16 * 4;
  const pub = await CubePublisher.connect({
    broker: broker.url,
    device: 'cam-e',
    outbox: join(tempDir(), 'outbox'),
    outboxMaxBytes: 3 * cubeBytes,
    reconnectMinMs: 2000, // the late subscriber must be subscribed before the publisher is back
    log: (level, msg) => lines.push(`${level} ${msg}`),
  });
  await broker.stop('SIGKILL');
  await until(() => lines.some((l) => /lost the broker/.test(l)), 5000, 'the publisher to notice');
  const evicted: number[] = [];
  pub.on('cube-evicted', (seq) => evicted.push(seq));
  for (let i = 0; i < 6; i++) await pub.publish(patternCube(4, 16, 16, 70 + i), { sequence: i });
  t.same(evicted, [0, 1, 2], 'oldest first');
  t.equal(pub.metrics().evicted, 3);
  t.ok(pub.metrics().outboxBytes <= 3 * cubeBytes, 'within the bound');
  t.equal(lines.filter((l) => /^warn outbox full .* evicted cube \d+ \(\d+ evicted so far\)/.test(l)).length, 3, 'each eviction logged');
  const sub = await CubeSubscriber.connect({ broker: broker.url, log: quiet }).catch(() => undefined);
  t.equal(sub, undefined, 'broker still down');
  await broker.start();
  const late = await CubeSubscriber.connect({ broker: broker.url, log: quiet });
  const got: number[] = [];
  late.on('cube', (c) => got.push(c.meta.sequence));
  t.ok(await pub.drain(20_000), 'the survivors are delivered after the outage');
  await until(() => got.length === 3, 10_000, 'three cubes');
  t.same(got, [3, 4, 5]);
  await pub.close();
  await late.close();
});

t.test('survives: started during an outage with waitForBroker false; cubes wait in the outbox, then arrive', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  await broker.stop('SIGKILL');
  const errors: Error[] = [];
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-o', outbox: join(tempDir(), 'outbox'), waitForBroker: false, reconnectMinMs: 1500, reconnectMaxMs: 1500, log: quiet });
  pub.on('connection-error', (e) => errors.push(e));
  for (let i = 0; i < 3; i++) await pub.publish(patternCube(4, 16, 16, 90 + i), { sequence: i });
  await until(() => errors.length > 0, 5000, 'a connection error');
  t.match(errors[0].message, /connection refused/);
  t.equal(pub.metrics().outboxCubes, 3, 'stored while offline');
  await broker.start();
  const sub = await CubeSubscriber.connect({ broker: broker.url, log: quiet });
  const got: number[] = [];
  sub.on('cube', (c) => got.push(c.meta.sequence));
  t.ok(await pub.drain(20_000));
  await until(() => got.length === 3, 10_000, 'three cubes');
  t.same(got, [0, 1, 2]);
  await pub.close();
  await sub.close();
});
