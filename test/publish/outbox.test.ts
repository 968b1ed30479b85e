import t from 'tap';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileOutbox, MemoryOutbox } from '../../sdk/publish/outbox';
import { OutboxError } from '../../sdk/publish/errors';
import { tempDir } from './helpers';
import { outboxContract, sample } from './outbox-contract';

t.test('MemoryOutbox meets the outbox contract', async (t) => outboxContract(t, (max) => new MemoryOutbox(max)));
t.test('FileOutbox meets the outbox contract', async (t) => outboxContract(t, (max) => new FileOutbox(tempDir(), { maxBytes: max })));

t.test('FileOutbox: survives a restart; crash debris and corrupt files are discarded, counted', async (t) => {
  const dir = tempDir();
  const a = new FileOutbox(dir, { maxBytes: 1 << 20, cacheBytes: 0 });
  await a.open();
  for (const s of [1, 2, 3, 4]) await a.put(sample(s, 400).header, sample(s, 400).payload);
  const names = readdirSync(dir).sort();
  // A crash mid-write leaves a temporary file; a torn disk leaves a short one; bit rot flips a byte.
  writeFileSync(join(dir, '000000000099.cube.tmp'), 'partial');
  truncateSync(join(dir, names[1]), 100);
  const third = join(dir, names[2]);
  const buf = readFileSync(third);
  buf[12 + 10] ^= 0xff; // a payload byte
  writeFileSync(third, buf);

  const corrupt: string[] = [];
  const b = new FileOutbox(dir, { maxBytes: 1 << 20, cacheBytes: 0, onCorrupt: (p) => corrupt.push(p) });
  await b.open();
  t.same(b.entries().map((e) => e.header.sequence), [1, 3, 4], 'the truncated file is dropped on open');
  t.ok(Buffer.from(sample(1, 400).payload).equals((await b.read(b.entries()[0]))!), 'payload read back from disk');
  t.equal(await b.read(b.entries()[1]), undefined, 'a payload that fails its sha256 is not returned');
  t.same(b.entries().map((e) => e.header.sequence), [1, 4], '... and is removed');
  t.equal(corrupt.length, 2);
  t.notOk(readdirSync(dir).some((n) => n.endsWith('.tmp')), 'temporary files removed');
  const next = await b.put(sample(5, 400).header, sample(5, 400).payload);
  t.ok(next.entry.id > b.entries()[0].id, 'new ids continue after the surviving ones');
});

t.test('FileOutbox: an unusable directory is a clear OutboxError', async (t) => {
  const file = join(tempDir(), 'not-a-dir');
  writeFileSync(file, 'x');
  await t.rejects(new FileOutbox(join(file, 'outbox')).open(), OutboxError);
});
