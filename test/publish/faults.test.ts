/**
 * Fault suite against a real mosquitto (issue 17): broker restarts, a stalled consumer whose broker queue
 * overflows, outbox eviction, a corrupt outbox, hostile messages. Every case asserts exact counts: the
 * cubes sent are the cubes received plus the ones reported missing, nothing is delivered twice, and what
 * is reported missing is exactly what never arrived.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CubePublisher } from '../../sdk/publish/publisher';
import { CubeSubscriber, type SubscriberOptions } from '../../sdk/publish/subscriber';
import { CUBE_PROTOCOL, chunkTopic, encodeChunk, metaTopic } from '../../sdk/publish/protocol';
import { mosquittoMissing, restartRepeatedly, startMosquitto } from '../helpers/mosquitto';
import { cubeMessages, patternCube, sameBytes, tempDir, until } from './helpers';

const skip = mosquittoMissing();
const quiet = (): void => {};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A subscriber plus what it delivered, counted per sequence (to catch duplicates) and what it reported missing. */
async function consumer(options: SubscriberOptions) {
  const sub = await CubeSubscriber.connect({ log: quiet, ...options });
  const deliveries = new Map<number, number>();
  const data = new Map<number, Float32Array>();
  const missing: number[] = [];
  sub.on('cube', ({ meta, cube }) => {
    deliveries.set(meta.sequence, (deliveries.get(meta.sequence) ?? 0) + 1);
    data.set(meta.sequence, cube.data);
  });
  sub.on('missing', (_device, sequence) => missing.push(sequence));
  return {
    sub,
    deliveries,
    data,
    missing,
    received: () => [...deliveries.keys()].sort((a, b) => a - b),
    duplicates: () => [...deliveries.values()].reduce((n, c) => n + c - 1, 0),
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

t.test('receipts: a cube stays in the outbox until the consumer group acknowledges it, then leaves', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-r', receiptGroup: 'g', receiptTimeoutMs: 500, chunkSize: 4096, log: quiet });
  t.teardown(() => pub.close());
  const cubes = range(3).map((i) => patternCube(4, 32, 32, 10 + i));
  for (const [i, c] of cubes.entries()) await pub.publish(c, { sequence: i });
  await until(() => pub.metrics().cubesAcked === 3, 10_000, 'broker acknowledgements');
  t.notOk(await pub.drain(300), 'a PUBACK alone does not drain the outbox');
  t.equal(pub.metrics().awaitingReceipt, 3);
  t.equal(pub.metrics().outboxCubes, 3);
  // The consumer arrives late: nothing was queued for it, so the receipt timeout re-sends every cube.
  const c = await consumer({ broker: broker.url, group: 'g', clientId: 'receipts-consumer' });
  t.teardown(() => c.sub.close());
  t.ok(await pub.drain(15_000), 'drained once the receipts arrived');
  const m = pub.metrics();
  t.equal(m.cubesDelivered, 3);
  t.equal(m.outboxCubes, 0);
  t.ok(m.resent >= 3, `re-sent ${m.resent}`);
  t.same(c.received(), [0, 1, 2]);
  t.equal(c.duplicates(), 0);
  t.ok(c.received().every((s) => sameBytes(c.data.get(s)!, cubes[s].data)), 'bit-exact');
  t.equal(c.sub.stats.receiptsSent, 3);
  await pub.close();
});

t.test('receipts: cubes a resumed session brings in before any listener is attached wait for it, unacknowledged', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const clientId = 'late-listener';
  const first = await consumer({ broker: broker.url, group: 'g', clientId });
  await first.sub.close();
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-l', receiptGroup: 'g', receiptTimeoutMs: 60_000, chunkSize: 4096, log: quiet });
  t.teardown(() => pub.close());
  const cubes = range(3).map((i) => patternCube(4, 32, 32, 50 + i));
  for (const [i, c] of cubes.entries()) await pub.publish(c, { sequence: i });
  await until(() => pub.metrics().cubesAcked === 3, 10_000, 'the broker took every cube');
  // The queued session is replayed at CONNACK; the application attaches its listener only later.
  const sub = await CubeSubscriber.connect({ broker: broker.url, group: 'g', clientId, log: quiet });
  t.teardown(() => sub.close());
  await until(() => sub.stats.cubes === 3, 10_000, 'the queued cubes reassembled');
  await sleep(300);
  t.equal(sub.stats.receiptsSent, 0, 'nothing acknowledged while nobody has taken it');
  t.equal(pub.metrics().awaitingReceipt, 3);
  const got: number[] = [];
  sub.on('cube', ({ meta }) => got.push(meta.sequence));
  t.ok(await pub.drain(10_000), 'acknowledged once taken');
  t.same(got, [0, 1, 2], 'every cube reached the late listener, in order');
});

t.test('faults: three short broker restarts with default reconnect settings lose nothing and deliver nothing twice', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  // Default reconnect settings on both sides (no head start for the subscriber), mosquitto without persistence:
  // every restart loses both sessions and whatever the broker held.
  const c = await consumer({ broker: broker.url, group: 'g' });
  t.teardown(() => c.sub.close());
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-k', outbox: join(tempDir(), 'outbox'), receiptGroup: 'g', chunkSize: 4096, log: quiet });
  t.teardown(() => pub.close());
  const count = 30;
  const cubes = range(count).map((i) => patternCube(4, 32, 32, 100 + i));
  const restarts = restartRepeatedly(broker);
  for (const [i, cube] of cubes.entries()) {
    await pub.publish(cube, { sequence: i });
    await sleep(100); // 10 fps, as in the reproduction
  }
  await restarts;
  t.ok(await pub.drain(45_000), 'every cube acknowledged by the consumer group');
  await until(() => c.deliveries.size >= count, 10_000, 'every cube at the consumer');
  t.same(c.received(), range(count), 'sent = received');
  t.equal(c.duplicates(), 0, 'no cube delivered twice');
  t.same(c.missing, [], 'nothing reported missing');
  t.ok(c.received().every((s) => sameBytes(c.data.get(s)!, cubes[s].data)), 'bit-exact');
  t.equal(pub.metrics().lost, 0);
  t.ok(pub.metrics().reconnects >= 3, `publisher reconnected ${pub.metrics().reconnects} times`);
  await pub.close();
});

t.test('faults: a stalled consumer whose broker queue overflows (max_queued_messages 20) still gets every cube once', { skip }, async (t) => {
  const broker = await startMosquitto({ maxQueuedMessages: 20 });
  t.teardown(() => broker.dispose());
  const clientId = 'stalled-consumer';
  // Register the persistent session, then go away: the broker queues at most 20 messages for it and drops the rest.
  const first = await consumer({ broker: broker.url, group: 'g', clientId });
  await first.sub.close();
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-s', receiptGroup: 'g', receiptTimeoutMs: 1000, chunkSize: 4096, log: quiet });
  t.teardown(() => pub.close());
  const count = 12;
  const cubes = range(count).map((i) => patternCube(8, 32, 32, 200 + i)); // 32 KiB = 8 chunks + meta each
  for (const [i, cube] of cubes.entries()) await pub.publish(cube, { sequence: i });
  await until(() => pub.metrics().cubesAcked >= count, 15_000, 'the broker took every cube');
  await sleep(300);
  t.match(broker.log, /Outgoing messages are being dropped/, 'mosquitto really dropped messages for the stalled consumer');
  const c = await consumer({ broker: broker.url, group: 'g', clientId, resendAfterMs: 500 });
  t.teardown(() => c.sub.close());
  t.ok(await pub.drain(30_000), 'drained');
  await until(() => c.deliveries.size >= count, 10_000, 'every cube at the consumer');
  t.same(c.received(), range(count), 'sent = received');
  t.equal(c.duplicates(), 0);
  t.same(c.missing, []);
  t.ok(pub.metrics().resent > 0, 'the dropped cubes came back through receipt timeouts or resend requests');
  await pub.close();
});

t.test('faults: outbox eviction is reported by sequence on both sides, and missing = what never arrived', { skip }, async (t) => {
  const broker = await startMosquitto({ maxQueuedMessages: 5 });
  t.teardown(() => broker.dispose());
  const clientId = 'evict-consumer';
  const first = await consumer({ broker: broker.url, group: 'g', clientId });
  await first.sub.close();
  const cubeBytes = 8 * 32 * 32 * 4;
  // Room for three cubes; no receipt can come while the consumer is away, so older cubes are evicted.
  const pub = await CubePublisher.connect({
    broker: broker.url,
    device: 'cam-e',
    receiptGroup: 'g',
    receiptTimeoutMs: 1000,
    outboxMaxBytes: 3 * cubeBytes,
    chunkSize: 4096,
    log: quiet,
  });
  t.teardown(() => pub.close());
  const lostAtDevice: number[] = [];
  pub.on('cube-lost', (s) => lostAtDevice.push(s));
  const count = 8;
  for (let i = 0; i < count; i++) {
    await pub.publish(patternCube(8, 32, 32, 300 + i), { sequence: i });
    // One at a time, so the cube being sent (pinned, never evicted) is always the newest.
    await until(() => pub.metrics().cubesAcked > i, 10_000, `cube ${i} acknowledged`);
  }
  t.same(lostAtDevice, [0, 1, 2, 3, 4], 'the device reports the evicted sequences');
  t.equal(pub.metrics().evicted, 5);
  const c = await consumer({ broker: broker.url, group: 'g', clientId, resendAfterMs: 500 });
  t.teardown(() => c.sub.close());
  t.ok(await pub.drain(30_000), 'the three held cubes are delivered');
  await until(() => c.deliveries.size + new Set(c.missing).size >= count, 10_000, 'every sequence accounted for');
  const received = c.received();
  const missing = [...new Set(c.missing)].filter((s) => !c.deliveries.has(s)).sort((a, b) => a - b);
  t.same([...received, ...missing].sort((a, b) => a - b), range(count), 'received + missing = sent');
  t.ok(missing.every((s) => lostAtDevice.includes(s)), 'only announced losses are missing');
  t.ok(received.includes(5) && received.includes(6) && received.includes(7), 'the held cubes arrive');
  t.equal(c.duplicates(), 0);
  t.same(c.sub.missing()['cam-e'] ?? [], missing, "the subscriber's report equals what never arrived");
  await pub.close();
});

t.test('faults: a corrupt outbox entry is quarantined, never wedges the queue, and the gap is reported by sequence', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const dir = join(tempDir(), 'outbox');
  // Stored while nothing is listening: one cube file then gets one header byte edited.
  const a = await CubePublisher.connect({ broker: broker.url, device: 'cam-c', outbox: dir, receiptGroup: 'g', chunkSize: 4096, log: quiet });
  t.teardown(() => a.close());
  await broker.stop();
  const cubes = range(5).map((i) => patternCube(4, 32, 32, 400 + i));
  for (const [i, cube] of cubes.entries()) await a.publish(cube, { sequence: i });
  await a.close();
  const names = readdirSync(dir).filter((n) => n.endsWith('.cube')).sort();
  t.equal(names.length, 5);
  const victim = join(dir, names[2]);
  const buf = readFileSync(victim);
  buf[buf.length - 3] ^= 0x01; // inside the header JSON at the end of the file
  writeFileSync(victim, buf);
  await broker.start();
  const c = await consumer({ broker: broker.url, group: 'g', clientId: 'corrupt-consumer', resendAfterMs: 500, maxResendRequests: 2 });
  t.teardown(() => c.sub.close());
  const b = await CubePublisher.connect({ broker: broker.url, device: 'cam-c', outbox: dir, receiptGroup: 'g', chunkSize: 4096, log: quiet });
  t.teardown(() => b.close());
  t.equal(b.metrics().quarantined, 1, 'found and counted on open');
  t.ok(await b.drain(15_000), 'the other four are delivered');
  await until(() => c.missing.length > 0, 15_000, 'the gap reported');
  t.same(c.received(), [0, 1, 3, 4]);
  t.same(c.missing, [2], 'exactly the quarantined sequence is missing');
  t.equal(c.duplicates(), 0);
  t.equal(b.metrics().reconnects, 0, 'no reconnect loop');
  t.equal(readdirSync(join(dir, 'quarantine')).length, 1);
  await b.close();
});

t.test('faults: hostile messages through the broker neither crash the subscriber nor block or corrupt a real cube', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const c = await consumer({ broker: broker.url, out: tempDir(), quicklook: false });
  t.teardown(() => c.sub.close());
  const errors: string[] = [];
  c.sub.on('cube-error', (e) => errors.push(e.message));
  const evil = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'evil' });
  t.teardown(() => evil.endAsync(true));
  const base = JSON.parse(cubeMessages(patternCube(2, 4, 4, 1), { device: 'evil', chunkSize: 64 })[0].payload.toString()) as Record<string, unknown>;
  const meta = (sequence: number, over: Record<string, unknown>): [string, string] => [metaTopic('evil', sequence), JSON.stringify({ ...base, sequence, ...over })];
  const huge = { shape: [256, 1024, 1024], payloadBytes: 2 ** 30, wavelengths: Array.from({ length: 256 }, (_, i) => 400 + i) };
  const rss0 = process.memoryUsage().rss;
  for (const [topic, payload] of [
    meta(1, { ...huge, chunkSize: 1, chunkCount: 2 ** 30 }),
    meta(2, { ...huge, chunkSize: 262_144, chunkCount: 4096, cubeId: '1111111111111111' }),
    meta(3, { ...huge, chunkSize: 262_144, chunkCount: 4096, cubeId: '2222222222222222' }),
    meta(4, { model: { id: 'x}\ndata ignore value = 0\n{', precision: 'fp32' } }),
  ]) {
    await evil.publishAsync(topic, payload, { qos: 1 });
  }
  for (let i = 0; i < 20_000; i++) evil.publish(chunkTopic('evil', 5, i % 1000), encodeChunk('3333333333333333', i % 1000, 1000, 0, new Uint8Array(0)), { qos: 0 });
  await evil.publishAsync(chunkTopic('evil', 6, 0), encodeChunk('4444444444444444', 0, 1, 0, new Uint8Array(8)), { qos: 1 });
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-h', chunkSize: 4096, log: quiet });
  t.teardown(() => pub.close());
  const cubes = range(3).map((i) => patternCube(8, 64, 64, 500 + i));
  for (const [i, cube] of cubes.entries()) await pub.publish(cube, { sequence: i });
  await until(() => c.deliveries.size >= 3, 20_000, 'the real cubes');
  t.same(c.received(), [0, 1, 2]);
  t.ok(c.received().every((s) => sameBytes(c.data.get(s)!, cubes[s].data)), 'bit-exact');
  t.ok(errors.some((e) => /below the 64-byte floor/.test(e)), 'chunkSize 1 refused');
  t.ok(errors.some((e) => /meta\.model\.id/.test(e)), 'header injection refused');
  t.ok(errors.filter((e) => /chunk body is empty/.test(e)).length > 100, 'empty chunks refused');
  const growth = (process.memoryUsage().rss - rss0) / 1e6;
  t.ok(growth < 150, `RSS grew ${growth.toFixed(0)} MB`);
  t.ok(c.sub.stats.pendingBytes < 1e6, `pending ${c.sub.stats.pendingBytes} bytes`);
  await pub.close();
});

t.test('faults: a loss notice reaches consumers; a capture gap (skipped number) is not a loss', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const c = await consumer({ broker: broker.url, group: 'g', resendAfterMs: 300, maxResendRequests: 2 });
  t.teardown(() => c.sub.close());
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-g', receiptGroup: 'g', chunkSize: 4096, log: quiet });
  t.teardown(() => pub.close());
  // Sequence 1 is never captured (a dropped frame): the consumer sees 0 then 2, asks, and is told "skipped".
  await pub.publish(patternCube(2, 16, 16, 1), { sequence: 0 });
  await pub.publish(patternCube(2, 16, 16, 2), { sequence: 2 });
  t.ok(await pub.drain(10_000));
  await until(() => c.sub.stats.resendRequests >= 1, 10_000, 'a resend request');
  await sleep(1500);
  t.same(c.missing, [], 'a skipped number is not reported missing');
  t.same(c.received(), [0, 2]);
  t.equal(pub.metrics().lost, 0);
  t.equal(CUBE_PROTOCOL, 'spectra-cube/2');
  await pub.close();
});
