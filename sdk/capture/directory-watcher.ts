import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cube } from '../cube/cube';
import { SpectraError } from '../core/errors';
import type { Logger } from '../core/log';
import type { CaptureOptions } from './frame';
import { type CubeFile, type CubeRole, classifyName, fileSignature, keySequence, readCubeFile } from './pair-files';
import { QueuedSource } from './queued-source';

/** Options for {@link DirectoryWatcher}. */
export interface DirectoryWatcherOptions extends CaptureOptions {
  /** Folder the camera (or a copy job) writes pairs into. */
  dir: string;
  /** How often the folder is listed. @defaultValue 100 */
  pollMs?: number;
  /** A file counts as completely written once its size stayed the same this long. @defaultValue 300 */
  stableMs?: number;
  /** A half without its other half after this long is reported as unpaired. @defaultValue 10000 */
  pairTimeoutMs?: number;
  /** Delete a pair's files once its frame is queued. @defaultValue false */
  deleteConsumed?: boolean;
  /** Band centres for PNG-stack LR-HSI / HR-MSI (ENVI headers carry their own). */
  lrhsiWavelengths?: readonly number[];
  hrmsiWavelengths?: readonly number[];
  /** Called for each file that never found its other half (also counted in `stats.unpaired` and logged). */
  onUnpaired?: (file: CubeFile) => void;
  /** Called for a pair whose files could not be read once complete (logged; the watcher goes on). */
  onBadPair?: (key: string, error: Error) => void;
  /** Stop once the folder had nothing new for this long; Infinity to watch forever. @defaultValue Infinity */
  idleTimeoutMs?: number;
  log?: Logger;
}

interface Seen {
  file: CubeFile;
  firstSeen: number;
  signature: string | undefined;
  stableSince: number;
}

/**
 * Watches a folder for LR-HSI / HR-MSI pairs (ENVI or PNG stacks, named `<key>_lrhsi…` / `<key>_hrmsi…`,
 * see {@link classifyName}) and yields each pair once both halves are completely written: a file is
 * ready when its size stays unchanged for `stableMs` (a writer that writes to a temporary name and
 * renames is ready at once, since temporary names are ignored). Pairs are matched by key and emitted in
 * sequence order (digits at the end of the key); halves that stay alone past `pairTimeoutMs` are reported.
 * Polling rather than fs.watch: it behaves the same on every filesystem, network mounts included.
 * @example
 * const watcher = new DirectoryWatcher({ dir: '/data/incoming', deleteConsumed: true, policy: 'drop-oldest' });
 * for await (const frame of watcher) await handle(frame);
 */
export class DirectoryWatcher extends QueuedSource {
  private readonly o: DirectoryWatcherOptions & { pollMs: number; stableMs: number; pairTimeoutMs: number; idleTimeoutMs: number };
  private readonly seen = new Map<string, Seen>();
  private readonly done = new Set<string>();
  private readonly reported = new Set<string>();
  private nextSequence = 0;

  /**
   * @param options - See {@link DirectoryWatcherOptions}.
   * @throws TypeError when `dir` is missing; RangeError for bad timings.
   */
  constructor(options: DirectoryWatcherOptions) {
    super('directory', options, options.log);
    if (typeof options.dir !== 'string' || options.dir === '') throw new TypeError('Expected dir to be a folder path');
    this.o = { pollMs: 100, stableMs: 300, pairTimeoutMs: 10_000, idleTimeoutMs: Infinity, ...options };
    for (const k of ['pollMs', 'stableMs', 'pairTimeoutMs', 'idleTimeoutMs'] as const) {
      if (!(this.o[k] >= 0)) throw new RangeError(`Expected ${k} >= 0 but received ${this.o[k]}`);
    }
  }

  protected async produce(): Promise<void> {
    let lastNews = Date.now();
    while (!this.stopped) {
      const now = Date.now();
      if (await this.poll(now)) lastNews = now;
      if (now - lastNews > this.o.idleTimeoutMs) return;
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, this.o.pollMs));
    }
  }

  /** One pass over the folder. @returns whether anything new was seen. */
  private async poll(now: number): Promise<boolean> {
    let entries;
    try {
      entries = await readdir(this.o.dir, { withFileTypes: true });
    } catch (err) {
      throw new WatchFolderError(this.o.dir, err);
    }
    let news = false;
    const present = new Set<string>();
    for (const e of entries) {
      const c = classifyName(e.name, e.isDirectory());
      if (c === undefined || this.done.has(c.key)) continue;
      const path = join(this.o.dir, e.name);
      const id = `${c.key}\u0000${c.role}`;
      present.add(id);
      const signature = await fileSignature({ ...c, path });
      const prev = this.seen.get(id);
      if (prev === undefined) {
        news = true;
        this.seen.set(id, { file: { ...c, path }, firstSeen: now, signature, stableSince: now });
      } else if (prev.signature !== signature) {
        news = true;
        prev.signature = signature;
        prev.stableSince = now;
      }
    }
    for (const id of [...this.seen.keys()]) if (!present.has(id)) this.seen.delete(id);
    const ready = (key: string, role: CubeRole): CubeFile | undefined => {
      const s = this.seen.get(`${key}\u0000${role}`);
      return s && s.signature !== undefined && now - s.stableSince >= this.o.stableMs ? s.file : undefined;
    };
    const keys = [...new Set([...this.seen.values()].map((s) => s.file.key))].sort(
      (a, b) => (keySequence(a) ?? Infinity) - (keySequence(b) ?? Infinity) || a.localeCompare(b),
    );
    for (const key of keys) {
      if (this.stopped) break;
      const lr = ready(key, 'lrhsi');
      const ms = ready(key, 'hrmsi');
      if (lr && ms) {
        await this.emitPair(key, lr, ms, ready(key, 'truth'));
        continue;
      }
      for (const role of ['lrhsi', 'hrmsi'] as const) {
        const s = this.seen.get(`${key}\u0000${role}`);
        const id = `${key}\u0000${role}`;
        if (s && now - s.firstSeen > this.o.pairTimeoutMs && !this.reported.has(id)) {
          this.reported.add(id);
          this.countUnpaired();
          this.log.warn(`${s.file.path}: no matching ${role === 'lrhsi' ? 'hrmsi' : 'lrhsi'} after ${this.o.pairTimeoutMs} ms; unpaired`);
          this.o.onUnpaired?.(s.file);
        }
      }
    }
    return news;
  }

  private async emitPair(key: string, lr: CubeFile, ms: CubeFile, truthFile: CubeFile | undefined): Promise<void> {
    let lrhsi: Cube, hrmsi: Cube, truth: Cube | undefined;
    try {
      [lrhsi, hrmsi, truth] = await Promise.all([
        readCubeFile(lr, this.o.lrhsiWavelengths, this.o.camera),
        readCubeFile(ms, this.o.hrmsiWavelengths, this.o.camera),
        truthFile ? readCubeFile(truthFile, this.o.lrhsiWavelengths) : Promise.resolve(undefined),
      ]);
    } catch (err) {
      const first = this.seen.get(`${key}\u0000lrhsi`)?.firstSeen ?? 0;
      // A size-stable but still short file (a slow writer pausing) gets until pairTimeoutMs to finish.
      if (Date.now() - first < this.o.pairTimeoutMs && err instanceof SpectraError) return;
      this.done.add(key);
      this.log.error(`pair '${key}' in ${this.o.dir} is unreadable: ${(err as Error).message}`);
      this.o.onBadPair?.(key, err as Error);
      return;
    }
    this.done.add(key);
    const sequence = keySequence(key) ?? this.nextSequence;
    this.nextSequence = sequence + 1;
    const meta = { source: 'directory', key, files: [lr.path, ms.path, ...(truthFile ? [truthFile.path] : [])] };
    await this.emit({ lrhsi, hrmsi, ...(truth ? { truth } : {}), sequence, capturedAt: new Date(), meta });
    if (this.o.deleteConsumed) for (const f of [lr, ms, truthFile]) if (f) await removeCubeFile(f);
  }
}

/** The watched folder cannot be listed. */
export class WatchFolderError extends SpectraError {
  readonly code = 'E_WATCH_FOLDER';
  constructor(
    readonly dir: string,
    cause: unknown,
  ) {
    super(`${dir}: cannot list the watched folder (${(cause as Error)?.message ?? String(cause)})`, { cause });
  }
}

async function removeCubeFile(f: CubeFile): Promise<void> {
  if (f.kind === 'png-stack') {
    await rm(f.path, { recursive: true, force: true });
    return;
  }
  const stem = f.path.replace(/\.hdr$/i, '');
  await Promise.all(['.hdr', '', '.img', '.dat', '.raw', '.bsq', '.bil', '.bip'].map((s) => rm(s === '.hdr' ? f.path : stem + s, { force: true })));
}
