import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { OutboxError } from './errors';
import { FileHasher } from './file-hasher';
import { type CubeMessageMeta, decodeMeta, encodeMeta, metaTopic } from './protocol';

/** What the outbox stores about a cube: the meta minus the chunking, which is chosen per connection. */
export type CubeHeader = Omit<CubeMessageMeta, 'chunkSize' | 'chunkCount'>;
/** A header before the store has hashed the payload. */
export type UnhashedHeader = Omit<CubeHeader, 'sha256'>;

/** One stored cube. `id` grows with every put, so ascending ids are publish order. */
export interface OutboxEntry {
  readonly id: number;
  readonly header: CubeHeader;
  /** Payload bytes. */
  readonly bytes: number;
}

/** Result of {@link OutboxStore.put}. */
export interface PutResult {
  entry: OutboxEntry;
  /** Older cubes dropped to stay within the byte bound (oldest first). */
  evicted: OutboxEntry[];
}

/**
 * Where cubes wait until the broker has acknowledged every chunk. Implementations: {@link FileOutbox}
 * (durable: survives broker outages and process restarts) and {@link MemoryOutbox} (not durable; tests,
 * or deployments that accept losing queued cubes on restart). Both evict the oldest unpinned cube when
 * a new one would exceed `maxBytes`.
 */
export interface OutboxStore {
  /** Byte bound on stored payloads. */
  readonly maxBytes: number;
  /** Payload bytes stored now. */
  readonly bytes: number;
  /** Loads what survived a restart. Call once before anything else. */
  open(): Promise<void>;
  /**
   * Stores a cube and fills in its sha256 (a durable store hashes while the disk write runs); when this
   * resolves the cube survives a crash (for durable stores).
   * @throws {@link OutboxError} when the cube alone exceeds `maxBytes` or cannot be written.
   */
  put(header: UnhashedHeader, payload: Uint8Array): Promise<PutResult>;
  /** Stored cubes, oldest first. */
  entries(): readonly OutboxEntry[];
  /**
   * Reads a stored payload.
   * @returns The payload, or undefined when the entry is gone or its bytes no longer match its sha256 (then it is removed).
   */
  read(entry: OutboxEntry): Promise<Uint8Array | undefined>;
  /** Forgets a cube (after every chunk was acknowledged). Removing an absent entry is a no-op. */
  remove(entry: OutboxEntry): Promise<void>;
  /** Protects an entry from eviction while it is being sent. */
  pin(entry: OutboxEntry): void;
  /** Lifts {@link OutboxStore.pin}. */
  unpin(entry: OutboxEntry): void;
}

/**
 * Checks a stored header the way a subscriber checks a meta (its fields become topics and a meta), so a
 * damaged v2 file (no header checksum) is quarantined instead of being sent.
 */
function checkHeader(raw: unknown): CubeHeader {
  const h = raw as CubeHeader;
  if (typeof h !== 'object' || h === null || typeof h.device !== 'string' || !Number.isSafeInteger(h.sequence) || h.sequence < 0) {
    throw new Error('header lacks a valid device or sequence');
  }
  const topic = metaTopic(h.device, h.sequence);
  try {
    const chunkSize = Math.max(1, Math.min(Number(h.payloadBytes) || 1, 1 << 20));
    const chunkCount = Math.ceil(Number(h.payloadBytes) / chunkSize);
    decodeMeta(topic, encodeMeta({ ...h, chunkSize, chunkCount }), { maxCubeBytes: Number.MAX_SAFE_INTEGER, minChunkSize: 1, maxChunkCount: Number.MAX_SAFE_INTEGER });
  } catch (err) {
    throw new Error(`header fails the meta checks: ${(err as Error).message}`);
  }
  return h;
}

/** An ENOSPC error for a short write (the kernel reports a full disk that way before it raises ENOSPC). */
function diskFull(what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`short write (${what}): the disk is full`), { code: 'ENOSPC' });
}

/** Eviction shared by both stores: oldest unpinned first, until `incoming` more bytes fit. */
function chooseEvictions(entries: readonly OutboxEntry[], pinned: ReadonlySet<number>, bytes: number, incoming: number, max: number): OutboxEntry[] {
  const out: OutboxEntry[] = [];
  let total = bytes;
  for (const e of entries) {
    if (total + incoming <= max) break;
    if (pinned.has(e.id)) continue;
    out.push(e);
    total -= e.bytes;
  }
  return out;
}

function tooBig(where: string, bytes: number, max: number): OutboxError {
  return new OutboxError(where, `a ${bytes}-byte cube cannot fit an outbox bounded to ${max} bytes; raise outboxMaxBytes`);
}

/**
 * In-memory outbox: same ordering and eviction as {@link FileOutbox}, nothing survives a restart.
 * @example
 * const publisher = await CubePublisher.connect({ broker, device: 'cam1', outbox: new MemoryOutbox(64 << 20) });
 */
export class MemoryOutbox implements OutboxStore {
  private readonly stored = new Map<number, { entry: OutboxEntry; payload: Uint8Array }>();
  private readonly pinned = new Set<number>();
  private nextId = 1;
  private total = 0;

  /** @param maxBytes - Byte bound on stored payloads. */
  constructor(readonly maxBytes: number) {
    if (!(maxBytes > 0)) throw new RangeError(`Expected maxBytes > 0 but received ${maxBytes}`);
  }

  get bytes(): number {
    return this.total;
  }

  async open(): Promise<void> {}

  async put(unhashed: UnhashedHeader, payload: Uint8Array): Promise<PutResult> {
    if (payload.length > this.maxBytes) throw tooBig('memory outbox', payload.length, this.maxBytes);
    const evicted = chooseEvictions(this.entries(), this.pinned, this.total, payload.length, this.maxBytes);
    const id = this.nextId++;
    for (const e of evicted) await this.remove(e);
    const header: CubeHeader = { ...unhashed, sha256: sha256Hex(payload) };
    const entry: OutboxEntry = { id, header, bytes: payload.length };
    this.stored.set(entry.id, { entry, payload });
    this.total += payload.length;
    return { entry, evicted };
  }

  entries(): readonly OutboxEntry[] {
    return [...this.stored.values()].map((s) => s.entry).sort((a, b) => a.id - b.id);
  }

  async read(entry: OutboxEntry): Promise<Uint8Array | undefined> {
    return this.stored.get(entry.id)?.payload;
  }

  async remove(entry: OutboxEntry): Promise<void> {
    const s = this.stored.get(entry.id);
    if (s === undefined) return;
    this.stored.delete(entry.id);
    this.pinned.delete(entry.id);
    this.total -= s.entry.bytes;
  }

  pin(entry: OutboxEntry): void {
    this.pinned.add(entry.id);
  }

  unpin(entry: OutboxEntry): void {
    this.pinned.delete(entry.id);
  }
}

/** Options for {@link FileOutbox}. */
export interface FileOutboxOptions {
  /** Byte bound on stored payloads. @defaultValue 512 MiB */
  maxBytes?: number;
  /** Payloads kept in memory as well, so the usual put-then-send path never re-reads the disk. @defaultValue 128 MiB */
  cacheBytes?: number;
  /**
   * Files of acknowledged cubes kept for reuse. Overwriting a file whose blocks and page-cache pages
   * already exist costs a plain copy; a fresh 32 MB file first allocates both (about 20x slower on ext4),
   * and deleting one frees them again (with online discard, another trip to the disk). Disk use is at
   * most `maxBytes` plus this many cube files. @defaultValue 4
   */
  spareFiles?: number;
  /**
   * Called for stored files that are unreadable or corrupt (a header that fails its checksum or its checks, a
   * payload that fails its sha256). They leave the queue and are moved to `<dir>/quarantine/`; the queue goes on.
   */
  onCorrupt?: (path: string, reason: string) => void;
}

/** A file of an acknowledged cube, renamed out of the way, waiting to be overwritten by a new one. */
interface Spare {
  path: string;
  /** Whether its rename to a spare name has reached the disk (the directory was fsynced since). */
  durable: boolean;
}

const FILE_MAGIC = 0x424f5053; // 'SPOB' little-endian
/**
 * v3: magic, version, JSON length, sha256 of the JSON (32 bytes), payload, JSON. The header JSON goes last so
 * the payload is hashed from the file; its own checksum sits in the fixed head, so one changed header byte is
 * caught on open instead of being sent (issue 17: an edited header wedged the queue in a reconnect loop).
 * v2 files (no header checksum, 12-byte head) are still read.
 */
const FILE_VERSION = 3;
const HEAD_BYTES = 44;
const V2_HEAD_BYTES = 12;
/** Where files that fail a check are moved (never deleted: they are evidence). */
const QUARANTINE = 'quarantine';

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
const FILE_SUFFIX = '.cube';
const SPARE_SUFFIX = '.spare';

/**
 * Durable outbox: one file per cube (`<id>.cube`: magic, version, JSON length, payload, header JSON). A file is written under
 * another name (a spare file of an acknowledged cube, else a new `.tmp`), fsynced, renamed into place and the
 * directory fsynced, so after a crash a cube is either fully present or absent; leftover temporary files are
 * deleted on {@link FileOutbox.open} and spare files kept for reuse. A spare is overwritten only once its own
 * rename is on disk, so a crash mid-overwrite can never leave a damaged file under a cube's name.
 * A payload is verified against its sha256 when read back from disk.
 * This closes mqtt.js keeping its offline queue in memory only (mqtt.js #343, #1121).
 * @example
 * const outbox = new FileOutbox('/var/lib/spectra/outbox', { maxBytes: 1 << 30 });
 * await outbox.open();
 */
export class FileOutbox implements OutboxStore {
  readonly maxBytes: number;
  private readonly cacheBytes: number;
  private readonly spareFiles: number;
  /** Most recently freed last: its pages are the likeliest to still be cached. */
  private readonly spares: Spare[] = [];
  /** Renames to a spare name in progress (they count against `spareFiles`). */
  private sparing = 0;
  private readonly onCorrupt: (path: string, reason: string) => void;
  private readonly hasher = new FileHasher();
  private readonly index = new Map<number, OutboxEntry>();
  /** Byte offset of each stored payload (44 in v3 files, 12 in v2 files). */
  private readonly offsets = new Map<number, number>();
  private readonly cache = new Map<number, Uint8Array>();
  private readonly pinned = new Set<number>();
  /** Ids of puts still writing, and their bytes. */
  private readonly pending = new Set<number>();
  private reserved = 0;
  private cached = 0;
  private nextId = 1;
  private total = 0;

  /**
   * @param dir - Directory (created if missing). One publisher per directory.
   * @param options - See {@link FileOutboxOptions}.
   */
  constructor(
    readonly dir: string,
    options: FileOutboxOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? 512 * 1024 ** 2;
    this.cacheBytes = options.cacheBytes ?? 128 * 1024 ** 2;
    this.spareFiles = options.spareFiles ?? 4;
    this.onCorrupt = options.onCorrupt ?? (() => {});
    if (!(this.maxBytes > 0)) throw new RangeError(`Expected maxBytes > 0 but received ${this.maxBytes}`);
    if (!Number.isInteger(this.spareFiles) || this.spareFiles < 0) throw new RangeError(`Expected spareFiles to be a non-negative integer but received ${this.spareFiles}`);
  }

  get bytes(): number {
    return this.total;
  }

  async open(): Promise<void> {
    try {
      await this.hasher.start();
    } catch (err) {
      throw new OutboxError(this.dir, 'cannot start the worker thread that hashes stored cubes', { cause: err });
    }
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw new OutboxError(this.dir, 'cannot create the outbox directory', { cause: err });
    }
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw new OutboxError(this.dir, 'cannot list the outbox directory', { cause: err });
    }
    for (const name of names) {
      const path = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        // A crash between write and rename leaves these; their cube was never acknowledged to the caller.
        await rm(path, { force: true });
        continue;
      }
      const spare = /^(\d{12})\.spare$/.exec(name);
      if (spare !== null) {
        // Listed, but its rename may not be on disk yet after a clean restart: fsync before overwriting it.
        if (this.spares.length < this.spareFiles) this.spares.push({ path, durable: false });
        else await rm(path, { force: true });
        this.nextId = Math.max(this.nextId, Number(spare[1]) + 1);
        continue;
      }
      const m = /^(\d{12})\.cube$/.exec(name);
      if (m === null) continue;
      const id = Number(m[1]);
      try {
        const header = await this.readHeader(path);
        this.index.set(id, { id, header: header.header, bytes: header.payloadBytes });
        this.offsets.set(id, header.offset);
        this.total += header.payloadBytes;
      } catch (err) {
        await this.quarantine(path, (err as Error).message);
      }
      this.nextId = Math.max(this.nextId, id + 1);
    }
  }

  async put(unhashed: UnhashedHeader, payload: Uint8Array): Promise<PutResult> {
    if (payload.length > this.maxBytes) throw tooBig(this.dir, payload.length, this.maxBytes);
    // Id and bytes are reserved before the first await, so concurrent puts keep call order and the bound.
    const evicted = chooseEvictions(this.entries(), this.pinned, this.total + this.reserved, payload.length, this.maxBytes);
    const id = this.nextId++;
    this.pending.add(id);
    this.reserved += payload.length;
    try {
      for (const e of evicted) await this.remove(e);
      return await this.write(id, unhashed, payload, evicted, this.spares.pop());
    } finally {
      this.pending.delete(id);
      this.reserved -= payload.length;
    }
  }

  private async write(id: number, unhashed: UnhashedHeader, payload: Uint8Array, evicted: OutboxEntry[], spare: Spare | undefined): Promise<PutResult> {
    const path = this.pathOf(id);
    const tmp = spare?.path ?? `${path}.tmp`;
    let header: CubeHeader;
    try {
      if (spare !== undefined && !spare.durable) await this.syncDir();
      const fh = await open(tmp, spare === undefined ? 'w+' : 'r+');
      try {
        // The header JSON (which holds the sha256) goes last: a worker hashes the payload as written, off
        // this thread, which meanwhile keeps sending chunks of earlier cubes. A hex sha256 has a fixed
        // length, so the head (JSON length) goes out with the payload in one write.
        const jsonLength = Buffer.byteLength(JSON.stringify({ ...unhashed, sha256: '0'.repeat(64) }), 'utf8');
        const head = Buffer.alloc(HEAD_BYTES);
        head.writeUInt32LE(FILE_MAGIC, 0);
        head.writeUInt32LE(FILE_VERSION, 4);
        head.writeUInt32LE(jsonLength, 8);
        const wrote = await fh.writev([head, payload], 0);
        // A regular file takes a short write only when the disk is full; say so instead of letting the
        // hasher report that "the file ends N bytes early".
        if (wrote.bytesWritten !== HEAD_BYTES + payload.length) throw diskFull(`wrote ${wrote.bytesWritten} of ${HEAD_BYTES + payload.length} bytes`);
        header = { ...unhashed, sha256: await this.hasher.sha256(fh.fd, HEAD_BYTES, payload.length) };
        const json = Buffer.from(JSON.stringify(header), 'utf8');
        if (json.length !== jsonLength) throw new Error(`header JSON is ${json.length} bytes, not the ${jsonLength} announced`);
        const tail = await fh.write(json, 0, json.length, HEAD_BYTES + payload.length);
        if (tail.bytesWritten !== json.length) throw diskFull(`wrote ${tail.bytesWritten} of ${json.length} header bytes`);
        await fh.write(createHash('sha256').update(json).digest(), 0, 32, 12);
        // A spare may be longer than this cube; the header JSON must end the file.
        if (spare !== undefined) await fh.truncate(HEAD_BYTES + payload.length + json.length);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      await this.syncDir();
    } catch (err) {
      await rm(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new OutboxError(path, `the disk is full (${code}): cannot store a ${payload.length}-byte cube in ${this.dir}; free space or lower outboxMaxBytes`, { cause: err, errno: code });
      }
      throw new OutboxError(path, `cannot write the cube to the outbox${code ? ` (${code})` : ''}: ${(err as Error).message}`, { cause: err, ...(code ? { errno: code } : {}) });
    }
    const entry: OutboxEntry = { id, header, bytes: payload.length };
    this.index.set(id, entry);
    this.offsets.set(id, HEAD_BYTES);
    this.total += payload.length;
    this.remember(id, payload);
    return { entry, evicted };
  }

  /** Stored cubes, oldest first; a cube stored after one still being written is held back, so order holds. */
  entries(): readonly OutboxEntry[] {
    const sorted = [...this.index.values()].sort((a, b) => a.id - b.id);
    if (this.pending.size === 0) return sorted;
    const firstPending = Math.min(...this.pending);
    return sorted.filter((e) => e.id < firstPending);
  }

  async read(entry: OutboxEntry): Promise<Uint8Array | undefined> {
    if (!this.index.has(entry.id)) return undefined;
    const hit = this.cache.get(entry.id);
    if (hit !== undefined) return hit;
    const path = this.pathOf(entry.id);
    const offset = this.offsets.get(entry.id) ?? HEAD_BYTES;
    let payload: Uint8Array;
    let digest: string;
    try {
      const fh = await open(path, 'r');
      try {
        // The thread pool reads the file while the worker hashes it, so a backlog read back from disk
        // costs this thread (the chunk pump) nothing but the wait.
        const [buf, sha256] = await Promise.all([fh.readFile(), this.hasher.sha256(fh.fd, offset, entry.bytes)]);
        payload = buf.subarray(offset, buf.length - buf.readUInt32LE(8));
        digest = sha256;
      } finally {
        await fh.close();
      }
    } catch (err) {
      await this.drop(entry, `unreadable: ${(err as Error).message}`);
      return undefined;
    }
    if (payload.length !== entry.bytes || digest !== entry.header.sha256) {
      await this.drop(entry, `payload does not match its sha256 (${payload.length} bytes, sha256 ${digest})`);
      return undefined;
    }
    return payload;
  }

  /** Takes a corrupt entry out of the queue and moves its file to the quarantine folder. */
  private async drop(entry: OutboxEntry, reason: string): Promise<void> {
    this.forget(entry);
    await this.quarantine(this.pathOf(entry.id), reason);
  }

  private async quarantine(path: string, reason: string): Promise<void> {
    const target = join(this.dir, QUARANTINE, `${basename(path)}.${Date.now()}`);
    try {
      await mkdir(join(this.dir, QUARANTINE), { recursive: true });
      await rename(path, target);
      this.onCorrupt(path, `${reason}; moved to ${target}`);
    } catch {
      // Cannot move it (read-only or vanished): delete it, so it can never wedge the queue.
      await rm(path, { force: true });
      this.onCorrupt(path, `${reason}; deleted`);
    }
  }

  private forget(entry: OutboxEntry): OutboxEntry | undefined {
    const e = this.index.get(entry.id);
    if (e === undefined) return undefined;
    this.index.delete(entry.id);
    this.offsets.delete(entry.id);
    this.pinned.delete(entry.id);
    this.total -= e.bytes;
    const c = this.cache.get(entry.id);
    if (c !== undefined) {
      this.cache.delete(entry.id);
      this.cached -= c.length;
    }
    return e;
  }

  async remove(entry: OutboxEntry): Promise<void> {
    if (this.forget(entry) === undefined) return;
    const path = this.pathOf(entry.id);
    if (this.spares.length + this.sparing >= this.spareFiles) {
      await rm(path, { force: true });
      return;
    }
    // Not fsynced here: if the rename is lost in a crash the cube is sent once more (subscribers drop
    // duplicates), and the fsync that reuse needs anyway covers every rename before it.
    const sparePath = join(this.dir, `${String(entry.id).padStart(12, '0')}${SPARE_SUFFIX}`);
    this.sparing++;
    try {
      await rename(path, sparePath);
      this.spares.push({ path: sparePath, durable: false });
    } catch {
      await rm(path, { force: true });
    } finally {
      this.sparing--;
    }
  }

  pin(entry: OutboxEntry): void {
    this.pinned.add(entry.id);
  }

  unpin(entry: OutboxEntry): void {
    this.pinned.delete(entry.id);
  }

  private pathOf(id: number): string {
    return join(this.dir, `${String(id).padStart(12, '0')}${FILE_SUFFIX}`);
  }

  private remember(id: number, payload: Uint8Array): void {
    // Cubes leave oldest first, so when the cache is full the newest cube is the one to read back from
    // disk later; evicting older entries instead would make every cube of a backlog a disk read.
    if (this.cached + payload.length > this.cacheBytes) return;
    this.cache.set(id, payload);
    this.cached += payload.length;
  }

  private async readHeader(path: string): Promise<{ header: CubeHeader; payloadBytes: number; offset: number }> {
    const fh = await open(path, 'r');
    try {
      const head = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await fh.read(head, 0, HEAD_BYTES, 0);
      if (bytesRead < V2_HEAD_BYTES || head.readUInt32LE(0) !== FILE_MAGIC) throw new Error('not an outbox cube file');
      const version = head.readUInt32LE(4);
      if (version !== FILE_VERSION && version !== 2) throw new Error(`outbox file version ${version} is not ${FILE_VERSION} (or 2)`);
      const offset = version === 2 ? V2_HEAD_BYTES : HEAD_BYTES;
      if (bytesRead < offset) throw new Error('the file is shorter than its head');
      const jsonLength = head.readUInt32LE(8);
      const size = (await stat(path)).size;
      if (jsonLength > 1024 ** 2 || jsonLength > size - offset) throw new Error(`header of ${jsonLength} bytes is implausible`);
      const json = Buffer.alloc(jsonLength);
      await fh.read(json, 0, jsonLength, size - jsonLength);
      if (version === FILE_VERSION && !createHash('sha256').update(json).digest().equals(head.subarray(12, 44))) {
        throw new Error('header does not match its checksum (edited or bit-rotted)');
      }
      const header = checkHeader(JSON.parse(json.toString('utf8')));
      const payloadBytes = size - offset - jsonLength;
      if (payloadBytes !== header.payloadBytes) throw new Error(`holds ${payloadBytes} payload bytes; its header says ${header.payloadBytes}`);
      return { header, payloadBytes, offset };
    } finally {
      await fh.close();
    }
  }

  private async syncDir(): Promise<void> {
    // The rename is durable only once the directory entry is on disk too.
    const renamed = this.spares.filter((s) => !s.durable);
    const fh = await open(this.dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    for (const s of renamed) s.durable = true;
  }
}
