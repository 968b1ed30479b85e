import { createHash } from 'node:crypto';
import type { Cube } from '../cube/cube';
import { SpectraError } from '../core/errors';
import { withDefaults } from '../core/defaults';
import { CubeIntegrityError, CubeProtocolError, IncompleteCubeError, ReassemblyLimitError } from './errors';
import {
  type CubeChunk,
  type CubeMessageMeta,
  type DecodeLimits,
  DEFAULT_DECODE_LIMITS,
  decodeChunk,
  decodeMeta,
  parseCubeTopic,
} from './protocol';

/** Options for {@link Reassembler}. */
export interface ReassemblerOptions {
  /** A cube still missing chunks this long after its first message is dropped and reported. @defaultValue 30000 */
  timeoutMs?: number;
  /**
   * Bytes held for cubes in progress: every chunk body received plus a fixed {@link CHUNK_COST} per chunk
   * (so empty or tiny chunks count too) and {@link CUBE_COST} per cube. Nothing is reserved for what a meta
   * merely announces. When a message would go over, the cubes that made progress least recently are dropped
   * first (reported as `E_REASSEMBLY_LIMIT`). @defaultValue 2 GiB
   */
  maxPendingBytes?: number;
  /** Cubes in progress per device; beyond it the one that made progress least recently is dropped. @defaultValue 8 */
  maxPendingCubesPerDevice?: number;
  /** Cubes in progress over all devices (device ids are not authenticated, so a per-device bound alone is not enough). @defaultValue 64 */
  maxPendingCubes?: number;
  /** Cube ids remembered after completion so a re-sent cube (publisher restart) is not delivered twice. @defaultValue 4096 */
  rememberCompleted?: number;
  /** Decoder limits (meta size, cube size, chunk count ceiling, chunk size floor). */
  limits?: DecodeLimits;
  /**
   * The caller hands each payload over and never writes to it again (true of mqtt.js messages), so a chunk
   * whose payload is a buffer of its own is kept without a copy. A payload that is a view into a larger
   * buffer is still copied, so a small chunk never pins a big buffer outside the memory bound. @defaultValue false
   */
  ownsPayloads?: boolean;
}

/** Defaults for {@link ReassemblerOptions}. */
export const DEFAULT_REASSEMBLER_OPTIONS: Readonly<Required<Omit<ReassemblerOptions, 'limits'>>> = Object.freeze({
  timeoutMs: 30_000,
  maxPendingBytes: 2 * 1024 ** 3,
  maxPendingCubesPerDevice: 8,
  maxPendingCubes: 64,
  rememberCompleted: 4096,
  ownsPayloads: false,
});

/** Bytes charged per chunk held, on top of its body: the Map entry and Buffer object behind it. @internal */
export const CHUNK_COST = 128;
/** Bytes charged per cube in progress, on top of its chunks: its meta and bookkeeping. @internal */
export const CUBE_COST = 4096;
/** Longest list of missing chunk indices an {@link IncompleteCubeError} carries. */
const MAX_MISSING_LISTED = 1000;

/** A complete, verified cube. */
export interface ReassembledCube {
  meta: CubeMessageMeta;
  /** The payload as a cube (band-sequential float32). */
  cube: Cube;
}

/** What one message led to. */
export type ReassemblyEvent =
  | { type: 'cube'; cube: ReassembledCube }
  | { type: 'duplicate'; key: string }
  | { type: 'error'; error: SpectraError };

/** Counters of a {@link Reassembler}. */
export interface ReassemblerStats {
  cubes: number;
  chunks: number;
  duplicateChunks: number;
  duplicateCubes: number;
  rejected: number;
  incomplete: number;
  /** Cubes in progress dropped to stay inside a hard limit. */
  evicted: number;
  /** Bytes charged for cubes in progress (see {@link ReassemblerOptions.maxPendingBytes}). */
  pendingBytes: number;
}

interface Pending {
  key: string;
  device: string;
  meta?: CubeMessageMeta;
  /**
   * Chunk bodies received (copied unless {@link ReassemblerOptions.ownsPayloads} hands them over), by index. Kept apart until
   * the last one arrives rather than in one payload-sized buffer, so memory follows what was received, never
   * what a meta announced.
   */
  chunks: Map<number, CubeChunk>;
  bytes: number;
  firstSeen: number;
  /** Last time a new chunk or the meta arrived; the least recently progressing cube is dropped first. */
  lastProgress: number;
}

/**
 * Puts cubes back together from meta and chunk messages in any order, with duplicates, and from a
 * hostile sender: every message is validated before it is used, memory is charged per message received
 * (never per byte announced) and bounded, cubes in progress are bounded per device and in total, and a cube
 * is delivered only when every chunk is present and the payload matches the announced sha256.
 * `accept` never throws on bad input; problems come back as `error` events.
 * @example
 * const r = new Reassembler();
 * client.on('message', (topic, payload) => {
 *   for (const ev of r.accept(topic, payload)) if (ev.type === 'cube') save(ev.cube);
 * });
 * setInterval(() => r.sweep().forEach(report), 1000);
 */
export class Reassembler {
  private readonly opts: Required<Omit<ReassemblerOptions, 'limits'>>;
  private readonly limits: Required<DecodeLimits>;
  /** Insertion order is irrelevant; eviction picks by `lastProgress`. */
  private readonly pending = new Map<string, Pending>();
  private readonly perDevice = new Map<string, number>();
  private readonly completed = new Set<string>();
  private readonly counters: ReassemblerStats = {
    cubes: 0,
    chunks: 0,
    duplicateChunks: 0,
    duplicateCubes: 0,
    rejected: 0,
    incomplete: 0,
    evicted: 0,
    pendingBytes: 0,
  };

  /** @param options - See {@link ReassemblerOptions}. */
  constructor(options: ReassemblerOptions = {}) {
    this.opts = withDefaults(DEFAULT_REASSEMBLER_OPTIONS, options);
    this.limits = withDefaults(DEFAULT_DECODE_LIMITS, options.limits ?? {});
    if (!(this.opts.timeoutMs > 0)) throw new RangeError(`Expected timeoutMs > 0 but received ${this.opts.timeoutMs}`);
    for (const k of ['maxPendingCubesPerDevice', 'maxPendingCubes'] as const) {
      if (!Number.isInteger(this.opts[k]) || this.opts[k] < 1) throw new RangeError(`Expected ${k} to be a positive integer but received ${this.opts[k]}`);
    }
    if (!(this.opts.maxPendingBytes > CUBE_COST)) throw new RangeError(`Expected maxPendingBytes > ${CUBE_COST} but received ${this.opts.maxPendingBytes}`);
  }

  /** Counters so far (a copy). */
  get stats(): ReassemblerStats {
    return { ...this.counters };
  }

  /** Cubes in progress. */
  get inProgress(): number {
    return this.pending.size;
  }

  /**
   * Feeds one message.
   * @param topic - Message topic.
   * @param payload - Message payload (copied, unless {@link ReassemblerOptions.ownsPayloads} hands it over).
   * @param now - Clock for timeouts. @defaultValue Date.now()
   * @returns Events: a finished cube, a duplicate, or errors (including cubes dropped to make room).
   */
  accept(topic: string, payload: Uint8Array, now: number = Date.now()): ReassemblyEvent[] {
    const events: ReassemblyEvent[] = [];
    try {
      const where = parseCubeTopic(topic);
      if (where === undefined) throw new CubeProtocolError(topic, 'not a cube topic');
      if (where.kind === 'meta') {
        const meta = decodeMeta(topic, payload, this.limits);
        this.onMeta(meta, now, events);
      } else {
        const chunk = decodeChunk(topic, payload);
        if (chunk.count > this.limits.maxChunkCount) throw new CubeProtocolError(topic, `chunk says ${chunk.count} chunks; the ceiling is ${this.limits.maxChunkCount}`);
        const owned = this.opts.ownsPayloads && payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength;
        this.onChunk(where.device, `${where.device}/${where.sequence}/${chunk.cubeId}`, topic, owned ? chunk : { ...chunk, body: new Uint8Array(chunk.body) }, now, events);
      }
    } catch (err) {
      if (!(err instanceof SpectraError)) throw err;
      this.counters.rejected++;
      events.push({ type: 'error', error: err });
    }
    return events;
  }

  /**
   * Drops cubes whose timeout ran out and reports which chunks never came.
   * @param now - Clock. @defaultValue Date.now()
   * @returns One error event per dropped cube.
   */
  sweep(now: number = Date.now()): ReassemblyEvent[] {
    const out: ReassemblyEvent[] = [];
    for (const p of [...this.pending.values()]) {
      if (now - p.firstSeen < this.opts.timeoutMs) continue;
      this.drop(p);
      this.counters.incomplete++;
      out.push({ type: 'error', error: this.incomplete(p) });
    }
    return out;
  }

  /** Why a cube in progress is not complete: meta never came, or which chunks are missing. */
  private incomplete(p: Pending): SpectraError {
    if (p.meta === undefined) return new CubeProtocolError(p.key, `${p.chunks.size} chunk(s) arrived but the meta never did; dropped`);
    // O(received + MAX_MISSING_LISTED): the scan stops once enough gaps are listed, however many chunks the meta announced.
    const missing: number[] = [];
    for (let i = 0; i < p.meta.chunkCount && missing.length < MAX_MISSING_LISTED; i++) if (!p.chunks.has(i)) missing.push(i);
    return new IncompleteCubeError(p.key, missing, p.meta.chunkCount, p.meta.chunkCount - p.chunks.size);
  }

  private onMeta(meta: CubeMessageMeta, now: number, events: ReassemblyEvent[]): void {
    const key = `${meta.device}/${meta.sequence}/${meta.cubeId}`;
    if (this.completed.has(key)) {
      events.push(this.duplicateCube(key));
      return;
    }
    let p = this.pending.get(key);
    if (p?.meta !== undefined) return;
    if (p === undefined) p = this.open(key, meta.device, now, events);
    p.meta = meta;
    p.lastProgress = now;
    // Chunks that came first are checked against the meta now; one that disagrees poisons only itself.
    for (const c of [...p.chunks.values()]) {
      const problem = this.mismatch(meta, c);
      if (problem === undefined) continue;
      p.chunks.delete(c.index);
      this.release(p, c.body.length + CHUNK_COST);
      this.counters.rejected++;
      events.push({ type: 'error', error: new CubeProtocolError(metaTopicOf(meta), problem) });
    }
    if (p.chunks.size === meta.chunkCount) events.push(...this.finish(p));
  }

  private onChunk(device: string, key: string, topic: string, chunk: CubeChunk, now: number, events: ReassemblyEvent[]): void {
    if (this.completed.has(key)) {
      events.push(this.duplicateCube(key));
      return;
    }
    const p = this.pending.get(key) ?? this.open(key, device, now, events);
    if (p.chunks.has(chunk.index)) {
      this.counters.duplicateChunks++;
      return;
    }
    if (p.meta !== undefined) {
      const problem = this.mismatch(p.meta, chunk);
      if (problem !== undefined) throw new CubeProtocolError(topic, problem);
    }
    const cost = chunk.body.length + CHUNK_COST;
    this.makeRoom(cost, p, key, events);
    p.chunks.set(chunk.index, chunk);
    p.bytes += cost;
    p.lastProgress = now;
    this.counters.pendingBytes += cost;
    this.counters.chunks++;
    if (p.meta !== undefined && p.chunks.size === p.meta.chunkCount) events.push(...this.finish(p));
  }

  /** Starts bookkeeping for a cube, first dropping the stalest cubes if a count bound would be exceeded. */
  private open(key: string, device: string, now: number, events: ReassemblyEvent[]): Pending {
    const ofDevice = (this.perDevice.get(device) ?? 0) + 1;
    if (ofDevice > this.opts.maxPendingCubesPerDevice) {
      this.evict(events, 'maxPendingCubesPerDevice', `more than ${this.opts.maxPendingCubesPerDevice} cubes of device ${device} in progress`, (q) => q.device === device);
    }
    if (this.pending.size + 1 > this.opts.maxPendingCubes) {
      this.evict(events, 'maxPendingCubes', `more than ${this.opts.maxPendingCubes} cubes in progress`, () => true);
    }
    this.makeRoom(CUBE_COST, undefined, key, events);
    const p: Pending = { key, device, chunks: new Map(), bytes: CUBE_COST, firstSeen: now, lastProgress: now };
    this.pending.set(key, p);
    this.perDevice.set(device, (this.perDevice.get(device) ?? 0) + 1);
    this.counters.pendingBytes += CUBE_COST;
    return p;
  }

  /**
   * Drops the least recently progressing cubes (never `keep`) until `cost` more bytes fit. A meta that only
   * announces a size and never sends chunks therefore costs one {@link CUBE_COST} and is the first to go.
   * @throws {@link ReassemblyLimitError} when even that cannot make room (the message alone is too big).
   */
  private makeRoom(cost: number, keep: Pending | undefined, key: string, events: ReassemblyEvent[]): void {
    const max = this.opts.maxPendingBytes;
    while (this.counters.pendingBytes + cost > max) {
      const dropped = this.evict(events, 'maxPendingBytes', `pending reassembly memory would exceed ${max} bytes`, (q) => q !== keep);
      if (!dropped) throw new ReassemblyLimitError(key, 'maxPendingBytes', `a ${cost}-byte message does not fit in ${max} bytes of pending reassembly memory; dropped`);
    }
  }

  /** Drops the matching cube that made progress least recently; false when none matches. */
  private evict(events: ReassemblyEvent[], limit: ReassemblyLimitError['limit'], why: string, match: (p: Pending) => boolean): boolean {
    let victim: Pending | undefined;
    for (const q of this.pending.values()) if (match(q) && (victim === undefined || q.lastProgress < victim.lastProgress)) victim = q;
    if (victim === undefined) return false;
    this.drop(victim);
    this.counters.evicted++;
    const have = victim.meta ? `${victim.chunks.size} of ${victim.meta.chunkCount} chunks` : `${victim.chunks.size} chunk(s), no meta`;
    events.push({ type: 'error', error: new ReassemblyLimitError(victim.key, limit, `${why}; dropped this cube (it had ${have})`) });
    return true;
  }

  /** Why a chunk cannot belong to the cube its meta describes, or undefined. */
  private mismatch(meta: CubeMessageMeta, chunk: CubeChunk): string | undefined {
    if (chunk.count !== meta.chunkCount) return `chunk says ${chunk.count} chunks but the meta says ${meta.chunkCount}`;
    const offset = chunk.index * meta.chunkSize;
    if (chunk.offset !== offset) return `chunk ${chunk.index} claims offset ${chunk.offset}; expected ${offset}`;
    const length = Math.min(meta.chunkSize, meta.payloadBytes - offset);
    if (chunk.body.length !== length) return `chunk ${chunk.index} holds ${chunk.body.length} bytes; expected ${length}`;
    return undefined;
  }

  private finish(p: Pending): ReassemblyEvent[] {
    const meta = p.meta!;
    this.drop(p);
    // The one payload-sized allocation happens here, once every chunk is in hand and checked. It is not
    // zero-filled: the checked chunks cover every byte (chunkCount = ceil(payloadBytes / chunkSize), exact
    // offsets and lengths).
    const payload = new Uint8Array(Buffer.allocUnsafeSlow(meta.payloadBytes).buffer, 0, meta.payloadBytes);
    const hash = createHash('sha256');
    for (let i = 0; i < meta.chunkCount; i++) {
      const c = p.chunks.get(i)!;
      payload.set(c.body, c.offset);
      hash.update(c.body);
    }
    p.chunks.clear();
    const digest = hash.digest('hex');
    if (digest !== meta.sha256) {
      this.counters.rejected++;
      return [{ type: 'error', error: new CubeIntegrityError(p.key, meta.sha256, digest) }];
    }
    this.remember(p.key);
    this.counters.cubes++;
    const [bands, height, width] = meta.shape;
    const cube: Cube = {
      bands,
      height,
      width,
      data: toFloat32(payload),
      wavelengths: meta.wavelengths,
      ...(meta.fwhm ? { fwhm: meta.fwhm } : {}),
      meta: {
        device: meta.device,
        sequence: meta.sequence,
        cubeId: meta.cubeId,
        model: meta.model,
        capturedAt: meta.capturedAt,
        ...(meta.bandValid ? { bandValid: meta.bandValid } : {}),
      },
    };
    return [{ type: 'cube', cube: { meta, cube } }];
  }

  private duplicateCube(key: string): ReassemblyEvent {
    this.counters.duplicateCubes++;
    return { type: 'duplicate', key };
  }

  private release(p: Pending, bytes: number): void {
    p.bytes -= bytes;
    this.counters.pendingBytes -= bytes;
  }

  private drop(p: Pending): void {
    if (!this.pending.delete(p.key)) return;
    this.counters.pendingBytes -= p.bytes;
    const n = (this.perDevice.get(p.device) ?? 1) - 1;
    if (n === 0) this.perDevice.delete(p.device);
    else this.perDevice.set(p.device, n);
  }

  private remember(key: string): void {
    this.completed.add(key);
    if (this.completed.size > this.opts.rememberCompleted) {
      // Sets iterate in insertion order, so the first key is the oldest.
      this.completed.delete(this.completed.values().next().value as string);
    }
  }
}

function metaTopicOf(meta: CubeMessageMeta): string {
  return `spectra/${meta.device}/cube/${meta.sequence}/meta`;
}

/** Little-endian float32 bytes as a Float32Array (byte-swapped on a big-endian host). */
function toFloat32(bytes: Uint8Array): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Uint8Array.from(bytes);
  const out = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 0) {
    const view = new DataView(aligned.buffer, aligned.byteOffset, aligned.length);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}
