import { createHash } from 'node:crypto';
import type { Cube } from '../cube/cube';
import { SpectraError } from '../core/errors';
import { withDefaults } from '../core/defaults';
import { CubeIntegrityError, CubeProtocolError, IncompleteCubeError } from './errors';
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
  /** Bytes held for cubes in progress (payload buffers plus chunks that came before their meta). @defaultValue 2 GiB */
  maxPendingBytes?: number;
  /** Cube ids remembered after completion so a re-sent cube (publisher restart) is not delivered twice. @defaultValue 4096 */
  rememberCompleted?: number;
  /** Decoder limits. */
  limits?: DecodeLimits;
}

/** Defaults for {@link ReassemblerOptions}. */
export const DEFAULT_REASSEMBLER_OPTIONS: Readonly<Required<Omit<ReassemblerOptions, 'limits'>>> = Object.freeze({
  timeoutMs: 30_000,
  maxPendingBytes: 2 * 1024 ** 3,
  rememberCompleted: 4096,
});

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
  pendingBytes: number;
}

interface Pending {
  key: string;
  meta?: CubeMessageMeta;
  buffer?: Uint8Array;
  received?: Uint8Array;
  receivedCount: number;
  /** Chunks that arrived before the meta, copied. */
  early: Map<number, CubeChunk>;
  bytes: number;
  firstSeen: number;
}

/**
 * Puts cubes back together from meta and chunk messages in any order, with duplicates, and from a
 * hostile sender: every message is validated before it is used, allocations are bounded, and a cube
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
  private readonly pending = new Map<string, Pending>();
  private readonly completed = new Set<string>();
  private readonly counters: ReassemblerStats = {
    cubes: 0,
    chunks: 0,
    duplicateChunks: 0,
    duplicateCubes: 0,
    rejected: 0,
    incomplete: 0,
    pendingBytes: 0,
  };

  /** @param options - See {@link ReassemblerOptions}. */
  constructor(options: ReassemblerOptions = {}) {
    this.opts = withDefaults(DEFAULT_REASSEMBLER_OPTIONS, options);
    this.limits = withDefaults(DEFAULT_DECODE_LIMITS, options.limits ?? {});
    if (!(this.opts.timeoutMs > 0)) throw new RangeError(`Expected timeoutMs > 0 but received ${this.opts.timeoutMs}`);
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
   * @param payload - Message payload (not kept; chunks are copied).
   * @param now - Clock for timeouts. @defaultValue Date.now()
   * @returns Events: a finished cube, a duplicate, or errors.
   */
  accept(topic: string, payload: Uint8Array, now: number = Date.now()): ReassemblyEvent[] {
    try {
      const where = parseCubeTopic(topic);
      if (where === undefined) throw new CubeProtocolError(topic, 'not a cube topic');
      if (where.kind === 'meta') {
        const meta = decodeMeta(topic, payload, this.limits);
        return this.onMeta(meta, now);
      }
      const chunk = decodeChunk(topic, payload);
      return this.onChunk(`${where.device}/${where.sequence}/${chunk.cubeId}`, topic, chunk, now);
    } catch (err) {
      if (err instanceof SpectraError) {
        this.counters.rejected++;
        return [{ type: 'error', error: err }];
      }
      throw err;
    }
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
      if (p.meta === undefined) {
        out.push({
          type: 'error',
          error: new CubeProtocolError(p.key, `${p.early.size} chunk(s) arrived but the meta never did; dropped`),
        });
      } else {
        const missing: number[] = [];
        p.received!.forEach((v, i) => {
          if (v === 0) missing.push(i);
        });
        out.push({ type: 'error', error: new IncompleteCubeError(p.key, missing, p.meta.chunkCount) });
      }
    }
    return out;
  }

  private onMeta(meta: CubeMessageMeta, now: number): ReassemblyEvent[] {
    const key = `${meta.device}/${meta.sequence}/${meta.cubeId}`;
    if (this.completed.has(key)) return this.duplicateCube(key);
    let p = this.pending.get(key);
    if (p?.meta !== undefined) return [];
    const need = meta.payloadBytes;
    const early = p?.bytes ?? 0;
    if (this.counters.pendingBytes - early + need > this.opts.maxPendingBytes) {
      if (p) this.drop(p);
      throw new CubeProtocolError(
        key,
        `a ${need}-byte cube would take pending reassembly memory over ${this.opts.maxPendingBytes} bytes; dropped`,
      );
    }
    if (p === undefined) {
      p = { key, receivedCount: 0, early: new Map(), bytes: 0, firstSeen: now };
      this.pending.set(key, p);
    }
    p.meta = meta;
    p.buffer = new Uint8Array(need);
    p.received = new Uint8Array(meta.chunkCount);
    this.counters.pendingBytes += need - p.bytes;
    p.bytes = need;
    const events: ReassemblyEvent[] = [];
    const early0 = [...p.early.values()];
    p.early.clear();
    for (const c of early0) events.push(...this.place(p, key, c));
    if (events.length === 0 && p.receivedCount === meta.chunkCount) events.push(...this.finish(p));
    return events;
  }

  private onChunk(key: string, topic: string, chunk: CubeChunk, now: number): ReassemblyEvent[] {
    if (this.completed.has(key)) return this.duplicateCube(key);
    let p = this.pending.get(key);
    if (p === undefined) {
      p = { key, receivedCount: 0, early: new Map(), bytes: 0, firstSeen: now };
      this.pending.set(key, p);
    }
    if (p.meta !== undefined) return this.place(p, topic, chunk);
    if (p.early.has(chunk.index)) {
      this.counters.duplicateChunks++;
      return [];
    }
    if (this.counters.pendingBytes + chunk.body.length > this.opts.maxPendingBytes) {
      throw new CubeProtocolError(topic, `chunk would take pending reassembly memory over ${this.opts.maxPendingBytes} bytes; dropped`);
    }
    // The MQTT client may reuse its receive buffer, so keep a copy until the meta says where it goes.
    p.early.set(chunk.index, { ...chunk, body: Uint8Array.from(chunk.body) });
    p.bytes += chunk.body.length;
    this.counters.pendingBytes += chunk.body.length;
    this.counters.chunks++;
    return [];
  }

  private place(p: Pending, topic: string, chunk: CubeChunk): ReassemblyEvent[] {
    const meta = p.meta!;
    const fail = (msg: string): never => {
      throw new CubeProtocolError(topic, msg);
    };
    if (chunk.count !== meta.chunkCount) fail(`chunk says ${chunk.count} chunks but the meta says ${meta.chunkCount}`);
    const offset = chunk.index * meta.chunkSize;
    if (chunk.offset !== offset) fail(`chunk ${chunk.index} claims offset ${chunk.offset}; expected ${offset}`);
    const length = Math.min(meta.chunkSize, meta.payloadBytes - offset);
    if (chunk.body.length !== length) fail(`chunk ${chunk.index} holds ${chunk.body.length} bytes; expected ${length}`);
    if (p.received![chunk.index] === 1) {
      this.counters.duplicateChunks++;
      return [];
    }
    p.buffer!.set(chunk.body, offset);
    p.received![chunk.index] = 1;
    p.receivedCount++;
    this.counters.chunks++;
    return p.receivedCount === meta.chunkCount ? this.finish(p) : [];
  }

  private finish(p: Pending): ReassemblyEvent[] {
    const meta = p.meta!;
    this.drop(p);
    const digest = createHash('sha256').update(p.buffer!).digest('hex');
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
      data: toFloat32(p.buffer!),
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

  private duplicateCube(key: string): ReassemblyEvent[] {
    this.counters.duplicateCubes++;
    return [{ type: 'duplicate', key }];
  }

  private drop(p: Pending): void {
    this.pending.delete(p.key);
    this.counters.pendingBytes -= p.bytes;
  }

  private remember(key: string): void {
    this.completed.add(key);
    if (this.completed.size > this.opts.rememberCompleted) {
      // Sets iterate in insertion order, so the first key is the oldest.
      this.completed.delete(this.completed.values().next().value as string);
    }
  }
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
