import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
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
  buf[44 + 10] ^= 0xff; // a payload byte (after the 44-byte head)
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

t.test('FileOutbox: reuses the files of removed cubes, shorter or longer, and keeps at most spareFiles of them', async (t) => {
  const dir = tempDir();
  const store = new FileOutbox(dir, { maxBytes: 1 << 20, cacheBytes: 0, spareFiles: 2 });
  await store.open();
  for (const s of [1, 2, 3]) await store.put(sample(s, 4000).header, sample(s, 4000).payload);
  for (const e of store.entries()) await store.remove(e);
  const spares = readdirSync(dir).sort();
  t.same(spares.map((n) => n.slice(12)), ['.spare', '.spare'], 'two kept as spares, the third deleted');
  const spareInodes = spares.map((n) => statSync(join(dir, n)).ino);

  const small = await store.put(sample(4, 400).header, sample(4, 400).payload);
  const large = await store.put(sample(5, 8000).header, sample(5, 8000).payload);
  const cubes = readdirSync(dir).filter((n) => n.endsWith('.cube')).sort();
  t.equal(cubes.length, 2);
  t.same(cubes.map((n) => statSync(join(dir, n)).ino).sort(), [...spareInodes].sort(), 'both new cubes overwrote spare files');
  t.notOk(readdirSync(dir).some((n) => n.endsWith('.spare') || n.endsWith('.tmp')), 'no spare or temporary file left');

  const corrupt: string[] = [];
  const reopened = new FileOutbox(dir, { maxBytes: 1 << 20, cacheBytes: 0, onCorrupt: (p, why) => corrupt.push(`${p}: ${why}`) });
  await reopened.open();
  t.same(reopened.entries().map((e) => e.id), [small.entry.id, large.entry.id]);
  t.ok(Buffer.from(sample(4, 400).payload).equals((await reopened.read(reopened.entries()[0]))!), 'a cube shorter than its spare reads back intact');
  t.ok(Buffer.from(sample(5, 8000).payload).equals((await reopened.read(reopened.entries()[1]))!), 'a cube longer than its spare reads back intact');
  t.same(corrupt, []);
});

t.test('FileOutbox: spare files survive a restart, the surplus is deleted, and debris in a spare never becomes a cube', async (t) => {
  const dir = tempDir();
  const a = new FileOutbox(dir, { maxBytes: 1 << 20, spareFiles: 4 });
  await a.open();
  for (const s of [1, 2, 3]) await a.put(sample(s, 400).header, sample(s, 400).payload);
  for (const e of a.entries()) await a.remove(e);
  // A crash while a spare was being overwritten leaves arbitrary bytes under its spare name.
  writeFileSync(join(dir, readdirSync(dir).sort()[0]), 'partial');

  const corrupt: string[] = [];
  const b = new FileOutbox(dir, { maxBytes: 1 << 20, spareFiles: 1, onCorrupt: (p) => corrupt.push(p) });
  await b.open();
  t.same(b.entries(), [], 'spares are not cubes');
  t.same(corrupt, [], 'nor corrupt ones');
  const left = readdirSync(dir);
  t.equal(left.length, 1, 'spares beyond spareFiles are deleted on open');
  const inode = statSync(join(dir, left[0])).ino;
  const put = await b.put(sample(9, 400).header, sample(9, 400).payload);
  t.ok(put.entry.id > 3, 'ids continue after the spare ids');
  t.same(readdirSync(dir), [`${String(put.entry.id).padStart(12, '0')}.cube`]);
  t.equal(statSync(join(dir, readdirSync(dir)[0])).ino, inode, 'the surviving spare was reused');
  t.same(b.entries()[0].header.sha256, sample(9, 400).header.sha256);
});

t.test('FileOutbox: rejects a negative spareFiles', async (t) => {
  t.throws(() => new FileOutbox(tempDir(), { spareFiles: -1 }), RangeError);
  t.throws(() => new FileOutbox(tempDir(), { spareFiles: 1.5 }), { name: 'RangeError', message: /spareFiles/ });
});

t.test('FileOutbox: an edited header byte is caught by the header checksum, quarantined and reported; the queue goes on', async (t) => {
  const dir = tempDir();
  const a = new FileOutbox(dir, { maxBytes: 1 << 20, cacheBytes: 0 });
  await a.open();
  for (const s of [1, 2, 3]) await a.put(sample(s, 400).header, sample(s, 400).payload);
  const second = join(dir, readdirSync(dir).filter((n) => n.endsWith('.cube')).sort()[1]);
  const buf = readFileSync(second);
  // The header JSON ends the file; change one character of it (a digit of the sequence, say) without breaking the JSON.
  const text = buf.toString('latin1');
  const at = text.lastIndexOf('"sequence":2');
  t.ok(at > 0);
  buf[at + '"sequence":'.length] = '7'.charCodeAt(0);
  writeFileSync(second, buf);
  const corrupt: string[] = [];
  const b = new FileOutbox(dir, { maxBytes: 1 << 20, cacheBytes: 0, onCorrupt: (p, why) => corrupt.push(`${p}: ${why}`) });
  await b.open();
  t.same(b.entries().map((e) => e.header.sequence), [1, 3], 'the edited cube left the queue, the others stay in order');
  t.equal(corrupt.length, 1);
  t.match(corrupt[0], /header does not match its checksum.*moved to .*quarantine/);
  t.equal(readdirSync(join(dir, 'quarantine')).length, 1, 'kept as evidence, not deleted');
  t.ok(Buffer.from(sample(3, 400).payload).equals((await b.read(b.entries()[1]))!), 'the next cube reads back intact');
});

t.test('FileOutbox: a full disk is an OutboxError naming ENOSPC and the path, and leaves no partial file', { skip: tmpfsMissing() }, async (t) => {
  const dir = mountTmpfs('64k');
  t.teardown(() => execFileSync('umount', [dir], { stdio: 'ignore' }));
  const box = new FileOutbox(join(dir, 'outbox'), { maxBytes: 1 << 20, spareFiles: 0 });
  await box.open();
  await box.put(sample(1, 1000).header, sample(1, 1000).payload);
  const err = await box.put(sample(2, 100_000).header, sample(2, 100_000).payload).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, OutboxError);
  t.equal((err as OutboxError).code, 'E_OUTBOX');
  t.equal((err as OutboxError).errno, 'ENOSPC');
  t.match((err as Error).message, new RegExp(`${join(dir, 'outbox')}.*the disk is full \\(ENOSPC\\)`));
  t.same(readdirSync(join(dir, 'outbox')).filter((n) => !n.endsWith('.cube')), [], 'no temporary file left');
  t.same(box.entries().map((e) => e.header.sequence), [1], 'the stored cube is untouched');
});

/** Mounts a small tmpfs (a disk that fills up for real) on a new temporary directory. */
function mountTmpfs(size: string): string {
  const dir = tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  return dir;
}

/** Skip message when this process cannot mount a tmpfs (not root, or no CAP_SYS_ADMIN), else false. */
function tmpfsMissing(): string | false {
  try {
    execFileSync('umount', [mountTmpfs('8k')], { stdio: 'ignore' });
    return false;
  } catch {
    return 'cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN); CI runs the full-disk case as root';
  }
}
