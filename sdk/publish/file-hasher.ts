import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

/**
 * The worker reads the byte range back through the process-wide file descriptor (from the page cache the
 * write just filled) into one reused buffer. Plain JavaScript, so it runs the same under ts-node and from dist/.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
parentPort.on('message', ({ id, fd, offset, length }) => {
  try {
    const hash = createHash('sha256');
    for (let done = 0; done < length; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - done), offset + done);
      if (n === 0) throw new Error('the file ends ' + (length - done) + ' bytes early');
      hash.update(buf.subarray(0, n));
      done += n;
    }
    parentPort.postMessage({ id, sha256: hash.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
`;

interface Reply {
  id: number;
  sha256?: string;
  error?: string;
}

/**
 * Hashes byte ranges of open files on a worker thread. Hashing a 32 MB cube takes 20-40 ms, which on the
 * main thread stalls the publisher's chunk pump; handing the worker the payload itself would mean copying
 * it first (Node's async WebCrypto digest does, on the calling thread), while the just-written file is in the
 * page cache already. The worker is unreferenced while idle, so it never keeps a process alive.
 * @internal
 */
export class FileHasher {
  private worker: Worker | undefined;
  private online = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (sha256: string) => void; reject: (err: Error) => void }>();

  /**
   * @param fd - Open file descriptor (shared by every thread of the process).
   * @param offset - First byte.
   * @param length - Bytes to hash.
   * @returns Hex sha256 of the range.
   */
  sha256(fd: number, offset: number, length: number): Promise<string> {
    const worker = this.spawn();
    const id = this.nextId++;
    if (this.waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, fd, offset, length });
    });
  }

  /** Starts the worker ahead of the first {@link FileHasher.sha256}: it takes tens of milliseconds, hundreds on a busy CPU. */
  async start(): Promise<void> {
    const worker = this.spawn();
    if (this.online) return;
    // Referenced while waiting, or a caller awaiting this could see its event loop run empty and exit.
    worker.ref();
    try {
      await once(worker, 'online');
    } finally {
      if (this.waiting.size === 0) worker.unref();
    }
  }

  private spawn(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    this.online = false;
    worker.once('online', () => (this.online = true));
    worker.on('message', (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (w === undefined) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      if (reply.sha256 !== undefined) w.resolve(reply.sha256);
      else w.reject(new Error(`hashing failed: ${reply.error ?? 'no reason given'}`));
    });
    const fail = (err: Error): void => {
      // Only the current worker's failure settles the waiting hashes ('exit' follows 'error').
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the hashing worker exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
