/**
 * Contract every {@link OutboxStore} must meet, run against each implementation with its own factory
 * (the way mqtt.js runs one abstract store suite over its stores).
 */
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { OutboxError } from '../../sdk/publish/errors';
import type { CubeHeader, OutboxStore } from '../../sdk/publish/outbox';
import { CUBE_PROTOCOL } from '../../sdk/publish/protocol';

/** A stored cube's header and payload of `bytes` bytes. */
/** The header includes the expected sha256, to compare with what the store computes. */
export function sample(sequence: number, bytes: number): { header: CubeHeader; payload: Uint8Array } {
  const payload = new Uint8Array(bytes).map((_, i) => (i * 7 + sequence) & 0xff);
  return {
    payload,
    header: {
      protocol: CUBE_PROTOCOL,
      device: 'cam',
      sequence,
      cubeId: sequence.toString(16).padStart(16, '0'),
      shape: [1, 1, bytes / 4],
      dtype: 'float32',
      byteOrder: 'little',
      layout: 'bsq',
      wavelengths: [500],
      capturedAt: new Date(0).toISOString(),
      enqueuedAt: new Date(0).toISOString(),
      payloadBytes: bytes,
      sha256: createHash('sha256').update(payload).digest('hex'),
    },
  };
}

/** Runs the contract; `make(maxBytes)` returns a fresh, unopened store. */
export function outboxContract(t: Test, make: (maxBytes: number) => OutboxStore): void {
  t.test('keeps order and contents', async (t) => {
    const store = make(1 << 20);
    await store.open();
    for (const s of [1, 2, 3]) await store.put(sample(s, 64).header, sample(s, 64).payload);
    const entries = store.entries();
    t.same(entries.map((e) => e.header.sequence), [1, 2, 3]);
    t.equal(entries[1].header.sha256, sample(2, 64).header.sha256, 'the store fills in the sha256');
    t.ok(entries[0].id < entries[1].id && entries[1].id < entries[2].id, 'ids grow');
    t.ok(Buffer.from(sample(2, 64).payload).equals((await store.read(entries[1]))!), 'payload intact');
    t.equal(store.bytes, 192);
    await store.remove(entries[0]);
    await store.remove(entries[0]);
    t.same(store.entries().map((e) => e.header.sequence), [2, 3], 'removal is idempotent');
    t.equal(store.bytes, 128);
    t.equal(await store.read(entries[0]), undefined, 'a removed entry reads as undefined');
  });

  t.test('concurrent puts keep call order', async (t) => {
    const store = make(1 << 20);
    await store.open();
    await Promise.all([1, 2, 3, 4].map((seq) => store.put(sample(seq, 4096).header, sample(seq, 4096).payload)));
    t.same(store.entries().map((e) => e.header.sequence), [1, 2, 3, 4]);
  });

  t.test('evicts the oldest unpinned cubes, counted, to stay within the bound', async (t) => {
    const store = make(256);
    await store.open();
    const first = (await store.put(sample(1, 100).header, sample(1, 100).payload)).entry;
    store.pin(first);
    await store.put(sample(2, 100).header, sample(2, 100).payload);
    const r = await store.put(sample(3, 100).header, sample(3, 100).payload);
    t.same(r.evicted.map((e) => e.header.sequence), [2], 'the pinned head is kept; the next oldest goes');
    t.same(store.entries().map((e) => e.header.sequence), [1, 3]);
    t.ok(store.bytes <= store.maxBytes);
    store.unpin(first);
    const r2 = await store.put(sample(4, 100).header, sample(4, 100).payload);
    t.same(r2.evicted.map((e) => e.header.sequence), [1]);
  });

  t.test('rejects a cube larger than the whole bound', async (t) => {
    const store = make(128);
    await store.open();
    await t.rejects(store.put(sample(1, 256).header, sample(1, 256).payload), OutboxError);
    t.same(store.entries(), []);
  });
}
