import t from 'tap';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FileHasher } from '../../sdk/publish/file-hasher';
import { tempDir } from './helpers';

t.test('FileHasher: hashes a byte range of an open file on its worker, the same as on this thread', async (t) => {
  const path = join(tempDir(), 'range.bin');
  // Longer than the worker's 4 MiB read buffer, so the range is read in several pieces.
  const bytes = Buffer.alloc(9 * 1024 * 1024 + 13).map((_, i) => (i * 31 + 7) & 0xff);
  writeFileSync(path, bytes);
  const hasher = new FileHasher();
  await hasher.start();
  const fh = await open(path, 'r');
  t.teardown(() => fh.close());
  const expect = (from: number, to: number): string => createHash('sha256').update(bytes.subarray(from, to)).digest('hex');
  t.equal(await hasher.sha256(fh.fd, 12, bytes.length - 12), expect(12, bytes.length));
  const [x, y] = await Promise.all([hasher.sha256(fh.fd, 0, 100), hasher.sha256(fh.fd, 5_000_000, 1)]);
  t.equal(x, expect(0, 100), 'concurrent requests get their own answers');
  t.equal(y, expect(5_000_000, 5_000_001));
});

t.test('FileHasher: rejects a range past the end of the file, and keeps working', async (t) => {
  const path = join(tempDir(), 'short.bin');
  writeFileSync(path, Buffer.alloc(100, 1));
  const hasher = new FileHasher();
  const fh = await open(path, 'r');
  t.teardown(() => fh.close());
  await t.rejects(hasher.sha256(fh.fd, 50, 100), /hashing failed: the file ends 50 bytes early/);
  await t.rejects(hasher.sha256(-1, 0, 10), /hashing failed: .*fd/);
  t.equal(await hasher.sha256(fh.fd, 0, 100), createHash('sha256').update(Buffer.alloc(100, 1)).digest('hex'));
});
