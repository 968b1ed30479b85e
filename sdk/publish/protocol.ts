/**
 * Cube protocol v1 (docs/cube-protocol.md): how a float32 cube travels over MQTT as one JSON meta
 * message plus binary chunks that each fit the broker's packet limit.
 */
import { CubeProtocolError } from './errors';

/**
 * Value of `meta.protocol` this SDK publishes. v2 keeps v1's meta and chunk bytes and adds delivery receipts,
 * resend requests and loss notices (docs/cube-protocol.md §5); a subscriber accepts both.
 */
export const CUBE_PROTOCOL = 'spectra-cube/2';
/** Protocol values a subscriber accepts in a meta. */
export const ACCEPTED_PROTOCOLS: readonly string[] = Object.freeze(['spectra-cube/1', 'spectra-cube/2']);
/** `schema` of every payload on `spectra/<device>/status` (the same value as the pipeline's status tracker). */
export const STATUS_SCHEMA = 'spectra-edge/status@1';
/** MQTT v5 content type of meta messages. */
export const META_CONTENT_TYPE = 'application/json';
/** MQTT v5 content type of chunk messages. */
export const CHUNK_CONTENT_TYPE = 'application/vnd.spectra.cube-chunk';
/** Bytes of the binary header in front of every chunk body. */
export const CHUNK_HEADER_BYTES = 32;
/** Default chunk body size: well under EMQX's 1 MB default, and large enough to keep per-message overhead low. */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
/** Largest packet MQTT can express (remaining length 268,435,455 plus the 5-byte fixed header). */
export const MQTT_MAX_PACKET = 268_435_460;

const MAGIC = 0x4b435053; // 'SPCK' read as little-endian u32

/** Describes one cube; published on `spectra/<device>/cube/<sequence>/meta`. */
export interface CubeMessageMeta {
  protocol: 'spectra-cube/1' | 'spectra-cube/2';
  device: string;
  sequence: number;
  /** 16 hex digits, random per cube; every chunk carries it so chunks of a re-used sequence number never mix. */
  cubeId: string;
  /** [bands, height, width]; the payload is band-sequential. */
  shape: [number, number, number];
  dtype: 'float32';
  byteOrder: 'little';
  layout: 'bsq';
  wavelengths: number[];
  fwhm?: number[];
  /**
   * Per band, false where the band holds no data (zeros): the input did not cover it or the model never learnt
   * it. Absent when every band is valid. Consumers skip invalid bands in displays and metrics.
   */
  bandValid?: boolean[];
  /** Spatial scale of the fusion model (HR = scale x LR). */
  scale?: number;
  model?: { id: string; precision: string };
  /** ISO-8601 times: when the frame was captured, fused, handed to the publisher. */
  capturedAt: string;
  fusedAt?: string;
  enqueuedAt: string;
  payloadBytes: number;
  chunkSize: number;
  chunkCount: number;
  /** Hex sha256 of the whole payload (all chunk bodies in order). */
  sha256: string;
  /** Fusion quality when ground truth was known (PSNR dB, SAM degrees…). */
  quality?: Record<string, number>;
  /**
   * v2: sequence numbers this device recently announced lost (at most {@link MAX_SEQUENCES_PER_MESSAGE}),
   * repeated in every meta so a consumer that missed the notice on `spectra/<device>/lost` (offline, or its
   * broker queue overflowed) still learns of them from the next cube it gets.
   */
  lost?: { sequence: number; reason: 'evicted' | 'rejected' | 'not-held' }[];
}

/** A decoded chunk: header fields plus a view of the body (no copy). */
export interface CubeChunk {
  cubeId: string;
  index: number;
  count: number;
  offset: number;
  body: Uint8Array;
}

/** Where a message belongs, parsed from its topic. */
export type CubeTopic =
  | { kind: 'meta'; device: string; sequence: number }
  | { kind: 'chunk'; device: string; sequence: number; index: number };

/**
 * Checks a device id: one topic level, no wildcards.
 * @param device - Device id.
 * @throws RangeError when it is empty, longer than 64 characters or holds `/`, `+`, `#` or `$` first.
 */
export function assertDeviceId(device: string): void {
  if (typeof device !== 'string') throw new TypeError(`Expected device to be a string but received ${typeof device}`);
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(device)) {
    throw new RangeError(
      `Expected device to be 1-64 characters of [A-Za-z0-9_.:-] (one MQTT topic level, no wildcards) but received '${device}'`,
    );
  }
}

/** Topic of a cube's meta message. */
export function metaTopic(device: string, sequence: number): string {
  return `spectra/${device}/cube/${sequence}/meta`;
}

/** Topic of chunk `index` of a cube. */
export function chunkTopic(device: string, sequence: number, index: number): string {
  return `spectra/${device}/cube/${sequence}/chunk/${index}`;
}

/** Retained device status (`online` / `offline`, the latter as the last will). */
export function statusTopic(device: string): string {
  return `spectra/${device}/status`;
}

/** v2: where consumers of `group` acknowledge verified cubes of `device` (QoS 1, not retained). */
export function receiptTopic(device: string, group: string): string {
  return `spectra/${device}/receipt/${group}`;
}

/** v2: where consumers of `group` ask `device` to send cubes again (QoS 1, not retained). */
export function resendTopic(device: string, group: string): string {
  return `spectra/${device}/resend/${group}`;
}

/** v2: where `device` announces cubes it will never deliver (evicted, rejected, no longer held). QoS 1, not retained. */
export function lostTopic(device: string): string {
  return `spectra/${device}/lost`;
}

/**
 * v2 pull delivery (docs/cube-protocol.md §6.2): where a device whose consumers are one share group offers
 * each cube, with one small message, instead of publishing its meta and chunks on the cube topics. Members
 * subscribe to it shared, so the broker deals whole cubes round-robin. QoS 1, not retained.
 */
export function offerTopic(device: string, group: string): string {
  return `spectra/${device}/offer/${group}`;
}

/** v2 pull delivery: where the member that got an offer asks the device for that cube (QoS 1, not retained). */
export function pullTopic(device: string, group: string): string {
  return `spectra/${device}/pull/${group}`;
}

/**
 * v2 pull delivery: the topic on which a device sends a pulled cube's meta or chunk to one consumer only
 * (`spectra/<device>/to/<consumer>/cube/<sequence>/meta|chunk/<n>`), or offers a cube again to the member that
 * pulled it (`spectra/<device>/to/<consumer>/offer/<group>`), from the shared topic it would otherwise use.
 * @param consumer - Client id of the consumer that pulled the cube (one topic level).
 * @param cubeTopic - `spectra/<device>/cube/<sequence>/…` or `spectra/<device>/offer/<group>`.
 */
export function directTopic(consumer: string, cubeTopic: string): string {
  const m = /^spectra\/([^/]+)\/((?:cube|offer)\/.+)$/.exec(cubeTopic);
  if (m === null) throw new RangeError(`Expected a cube or offer topic (spectra/<device>/cube/… or …/offer/<group>) but received '${cubeTopic}'`);
  return `spectra/${m[1]}/to/${consumer}/${m[2]}`;
}

/**
 * Parses a direct topic: a pulled cube's meta or chunk, or an offer made again to one member only.
 * @returns The consumer it is addressed to and the equivalent shared topic (`spectra/<device>/cube/…` or
 * `spectra/<device>/offer/<group>`), or undefined for any other topic.
 */
export function parseDirectTopic(topic: string): { consumer: string; cubeTopic: string } | undefined {
  const m = /^spectra\/([A-Za-z0-9_.:-]{1,64})\/to\/([A-Za-z0-9_.:-]{1,128})\/((?:cube|offer)\/.+)$/.exec(topic);
  return m === null ? undefined : { consumer: m[2], cubeTopic: `spectra/${m[1]}/${m[3]}` };
}

/** A device's offer of one cube to its consumer group (pull delivery). */
export interface CubeOffer {
  protocol: typeof CUBE_PROTOCOL;
  sequence: number;
  cubeId: string;
}

/** A member's request for an offered cube; the device sends it to this consumer's direct topics. */
export interface PullRequest {
  protocol: typeof CUBE_PROTOCOL;
  sequence: number;
  cubeId: string;
  consumer: string;
}

/** A consumer's acknowledgement of one verified (and, when it writes files, stored) cube. */
export interface CubeReceipt {
  protocol: typeof CUBE_PROTOCOL;
  sequence: number;
  cubeId: string;
  /** Client id of the consumer that sent it. */
  consumer: string;
}

/** A consumer's request to send cubes again (by sequence number). */
export interface ResendRequest {
  protocol: typeof CUBE_PROTOCOL;
  /** At most {@link MAX_SEQUENCES_PER_MESSAGE}. */
  sequences: number[];
  consumer: string;
}

/** The device's notice that cubes will never be delivered. */
export interface LossNotice {
  protocol: typeof CUBE_PROTOCOL;
  sequences: number[];
  /**
   * `evicted`: the outbox bound forced it out; `rejected`: the broker refused it; `not-held`: a resend asked for
   * a cube no longer stored; `skipped`: no cube was ever made with this number (capture dropped the frame), not a loss.
   */
  reason: 'evicted' | 'rejected' | 'not-held' | 'skipped';
}

/** Most sequence numbers one resend request or loss notice lists. */
export const MAX_SEQUENCES_PER_MESSAGE = 1000;

/** Kinds of v2 control message, keyed by the topic level after the device. */
export type ControlMessage =
  | { kind: 'receipt'; device: string; group: string; receipt: CubeReceipt }
  | { kind: 'resend'; device: string; group: string; request: ResendRequest }
  | { kind: 'lost'; device: string; notice: LossNotice }
  | { kind: 'offer'; device: string; group: string; offer: CubeOffer }
  | { kind: 'pull'; device: string; group: string; request: PullRequest };

const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Parses and validates a v2 control message (receipt, resend request, loss notice, offer, pull request); nothing
 * in it is trusted.
 * @param topic - Topic it arrived on.
 * @param payload - JSON payload.
 * @returns The message, or undefined when the topic is not a control topic.
 * @throws {@link CubeProtocolError} when the payload is malformed.
 */
export function decodeControl(topic: string, payload: Uint8Array): ControlMessage | undefined {
  const t = /^spectra\/([A-Za-z0-9_.:-]{1,64})\/(?:(receipt|resend|offer|pull)\/([A-Za-z0-9_.:-]{1,64})|(lost))$/.exec(topic);
  if (t === null) return undefined;
  const fail = (msg: string): never => {
    throw new CubeProtocolError(topic, msg);
  };
  if (payload.length > 64 * 1024) fail(`control message is ${payload.length} bytes; the limit is 65536`);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail('control message is not valid JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return fail('control message must be a JSON object');
  if (m.protocol !== CUBE_PROTOCOL) fail(`protocol is '${String(m.protocol)}', expected '${CUBE_PROTOCOL}'`);
  const sequences = (): number[] => {
    const v = m.sequences;
    if (!Array.isArray(v) || v.length === 0 || v.length > MAX_SEQUENCES_PER_MESSAGE || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      return fail(`sequences must list 1-${MAX_SEQUENCES_PER_MESSAGE} non-negative integers`);
    }
    return v as number[];
  };
  const consumer = (): string => (typeof m.consumer === 'string' && CLIENT_ID.test(m.consumer) ? m.consumer : fail('consumer must be a client id of [A-Za-z0-9_.:-]'));
  const device = t[1];
  const cube = (): { sequence: number; cubeId: string } => {
    if (!Number.isSafeInteger(m.sequence) || (m.sequence as number) < 0) fail('sequence must be a non-negative integer');
    if (typeof m.cubeId !== 'string' || !/^[0-9a-f]{16}$/.test(m.cubeId)) fail('cubeId must be 16 lower-case hex digits');
    return { sequence: m.sequence as number, cubeId: m.cubeId as string };
  };
  if (t[2] === 'receipt') return { kind: 'receipt', device, group: t[3], receipt: { protocol: CUBE_PROTOCOL, ...cube(), consumer: consumer() } };
  if (t[2] === 'offer') return { kind: 'offer', device, group: t[3], offer: { protocol: CUBE_PROTOCOL, ...cube() } };
  if (t[2] === 'pull') {
    const request: PullRequest = { protocol: CUBE_PROTOCOL, ...cube(), consumer: consumer() };
    // The consumer becomes a topic level of the direct topics (§6.2), which allows 64 characters.
    if (request.consumer.length > 64) fail('consumer of a pull request must be at most 64 characters (it becomes a topic level)');
    return { kind: 'pull', device, group: t[3], request };
  }
  if (t[2] === 'resend') return { kind: 'resend', device, group: t[3], request: { protocol: CUBE_PROTOCOL, sequences: sequences(), consumer: consumer() } };
  if (!['evicted', 'rejected', 'not-held', 'skipped'].includes(m.reason as string)) fail("reason must be 'evicted', 'rejected', 'not-held' or 'skipped'");
  return { kind: 'lost', device, notice: { protocol: CUBE_PROTOCOL, sequences: sequences(), reason: m.reason as LossNotice['reason'] } };
}

/** Latest quicklook PNG, for browsers (MQTT over WebSocket handles small messages only; mqtt.js #655, #980). */
export function quicklookTopic(device: string): string {
  return `spectra/${device}/quicklook`;
}

/** Small JSON spectra (a few pixels' spectra) for browsers. */
export function spectraTopic(device: string): string {
  return `spectra/${device}/spectra`;
}

/**
 * Parses a cube topic.
 * @param topic - Topic of a received message.
 * @returns The parsed location, or undefined when the topic is not a cube meta/chunk topic.
 */
export function parseCubeTopic(topic: string): CubeTopic | undefined {
  const m = /^spectra\/([A-Za-z0-9_.:-]{1,64})\/cube\/(\d{1,15})\/(meta|chunk\/(\d{1,9}))$/.exec(topic);
  if (m === null) return undefined;
  const sequence = Number(m[2]);
  if (m[3] === 'meta') return { kind: 'meta', device: m[1], sequence };
  return { kind: 'chunk', device: m[1], sequence, index: Number(m[4]) };
}

/** Serialises a meta message. */
export function encodeMeta(meta: CubeMessageMeta): Buffer {
  return Buffer.from(JSON.stringify(meta), 'utf8');
}

/** Limits a decoder enforces before allocating anything. */
export interface DecodeLimits {
  /** Largest payload a cube may announce. @defaultValue 1 GiB */
  maxCubeBytes?: number;
  /** Largest meta message accepted. @defaultValue 1 MiB */
  maxMetaBytes?: number;
  /**
   * Most chunks a cube may announce. Bookkeeping is O(chunks received), but a ceiling keeps one meta from
   * promising millions of tiny messages. 1 GiB in 16 KiB chunks is 65,536. @defaultValue 65536
   */
  maxChunkCount?: number;
  /**
   * Smallest chunk body a cube may announce (unless the whole payload is smaller): the publisher never goes
   * below 64 bytes, and a chunk smaller than its own 32-byte header only multiplies per-message cost.
   * @defaultValue 64
   */
  minChunkSize?: number;
}

/** Defaults for {@link DecodeLimits}. */
export const DEFAULT_DECODE_LIMITS: Readonly<Required<DecodeLimits>> = Object.freeze({
  maxCubeBytes: 1024 ** 3,
  maxMetaBytes: 1024 ** 2,
  maxChunkCount: 65_536,
  minChunkSize: 64,
});

/**
 * Characters allowed in the free-text strings of a meta (`model.id`, `model.precision`, `quality` keys).
 * They end up in ENVI headers (where `{`, `}` and line breaks start new fields) and log lines, so anything
 * else is refused rather than escaped: a model name never needs it.
 */
const SAFE_TEXT = /^[A-Za-z0-9 _.,:;+\-/()@#%]{1,128}$/;
/** ISO-8601 date-time as `Date.prototype.toISOString` writes it, with an optional offset instead of `Z`. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses and validates a meta message; nothing in it is trusted.
 * @param topic - Topic it arrived on (must match device and sequence).
 * @param payload - Message payload.
 * @param limits - See {@link DecodeLimits}.
 * @returns The meta.
 * @throws {@link CubeProtocolError} naming the first field that is wrong.
 */
export function decodeMeta(topic: string, payload: Uint8Array, limits: DecodeLimits = {}): CubeMessageMeta {
  const lim = { ...DEFAULT_DECODE_LIMITS, ...limits };
  const fail = (msg: string): never => {
    throw new CubeProtocolError(topic, msg);
  };
  const where = parseCubeTopic(topic);
  if (where?.kind !== 'meta') fail('not a cube meta topic (spectra/<device>/cube/<sequence>/meta)');
  if (payload.length > lim.maxMetaBytes) fail(`meta is ${payload.length} bytes; the limit is ${lim.maxMetaBytes}`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8'));
  } catch {
    fail('meta is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('meta must be a JSON object');
  const m = raw as Record<string, unknown>;
  if (!ACCEPTED_PROTOCOLS.includes(m.protocol as string)) fail(`protocol is '${String(m.protocol)}'; this subscriber speaks ${ACCEPTED_PROTOCOLS.join(', ')}`);
  if (m.device !== where!.device) fail(`meta.device '${String(m.device)}' disagrees with the topic`);
  if (m.sequence !== where!.sequence) fail(`meta.sequence ${String(m.sequence)} disagrees with the topic`);
  if (typeof m.cubeId !== 'string' || !/^[0-9a-f]{16}$/.test(m.cubeId)) fail('meta.cubeId must be 16 lower-case hex digits');
  if (m.dtype !== 'float32' || m.byteOrder !== 'little' || m.layout !== 'bsq') {
    fail(`only float32 / little / bsq is defined in v1 (got ${String(m.dtype)} / ${String(m.byteOrder)} / ${String(m.layout)})`);
  }
  const shape = m.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((v) => Number.isSafeInteger(v) && v > 0)) {
    return fail('meta.shape must be [bands, height, width] of positive integers');
  }
  const [bands, height, width] = shape as number[];
  const bytes = bands * height * width * 4;
  if (!Number.isSafeInteger(bytes) || bytes > lim.maxCubeBytes) fail(`a ${shape.join('x')} cube exceeds the ${lim.maxCubeBytes}-byte limit`);
  if (m.payloadBytes !== bytes) fail(`meta.payloadBytes ${String(m.payloadBytes)} != 4 x ${shape.join(' x ')} = ${bytes}`);
  const chunkSize = m.chunkSize;
  if (!Number.isSafeInteger(chunkSize) || (chunkSize as number) < 1 || (chunkSize as number) > MQTT_MAX_PACKET) {
    fail(`meta.chunkSize ${String(chunkSize)} must be a positive integer`);
  }
  // Checked before anything is allocated: a 1 GiB cube in 1-byte chunks would otherwise be accepted.
  if ((chunkSize as number) < Math.min(lim.minChunkSize, bytes)) fail(`meta.chunkSize ${String(chunkSize)} is below the ${lim.minChunkSize}-byte floor`);
  if (m.chunkCount !== Math.ceil(bytes / (chunkSize as number))) {
    fail(`meta.chunkCount ${String(m.chunkCount)} != ceil(${bytes} / ${String(chunkSize)})`);
  }
  if ((m.chunkCount as number) > lim.maxChunkCount) fail(`meta.chunkCount ${String(m.chunkCount)} exceeds the ceiling of ${lim.maxChunkCount} chunks`);
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) fail('meta.sha256 must be 64 lower-case hex digits');
  const numbers = (v: unknown, name: string): number[] => {
    if (!Array.isArray(v) || v.length !== bands || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return fail(`meta.${name} must list ${bands} finite numbers`);
    }
    return v as number[];
  };
  numbers(m.wavelengths, 'wavelengths');
  if (m.fwhm !== undefined) numbers(m.fwhm, 'fwhm');
  for (const key of ['capturedAt', 'enqueuedAt', 'fusedAt'] as const) {
    if (key === 'fusedAt' && m[key] === undefined) continue;
    if (typeof m[key] !== 'string' || !ISO_TIME.test(m[key] as string)) fail(`meta.${key} must be an ISO-8601 time such as 2026-01-31T12:00:00.000Z`);
  }
  // Every string that can reach an ENVI header, a file or a log line is checked here, once for all consumers.
  if (m.model !== undefined) {
    const model = m.model as Record<string, unknown> | null;
    if (typeof model !== 'object' || model === null || Array.isArray(model)) return fail('meta.model must be { id, precision }');
    for (const k of ['id', 'precision'] as const) {
      if (typeof model[k] !== 'string' || !SAFE_TEXT.test(model[k] as string)) {
        fail(`meta.model.${k} must be 1-128 characters of letters, digits, space and _.,:;+-/()@#% (no braces or line breaks)`);
      }
    }
  }
  if (m.scale !== undefined && !(Number.isSafeInteger(m.scale) && (m.scale as number) > 0)) fail('meta.scale must be a positive integer');
  if (m.lost !== undefined) {
    const lost = m.lost as unknown[];
    const ok =
      Array.isArray(lost) &&
      lost.length <= MAX_SEQUENCES_PER_MESSAGE &&
      lost.every((l) => {
        const e = l as Record<string, unknown> | null;
        return typeof e === 'object' && e !== null && Number.isSafeInteger(e.sequence) && (e.sequence as number) >= 0 && ['evicted', 'rejected', 'not-held'].includes(e.reason as string);
      });
    if (!ok) fail(`meta.lost must list at most ${MAX_SEQUENCES_PER_MESSAGE} { sequence, reason } entries`);
  }
  if (m.quality !== undefined) {
    const q = m.quality as Record<string, unknown> | null;
    if (typeof q !== 'object' || q === null || Array.isArray(q)) return fail('meta.quality must be an object of numbers');
    const entries = Object.entries(q);
    if (entries.length > 64 || !entries.every(([k, v]) => SAFE_TEXT.test(k) && typeof v === 'number' && Number.isFinite(v))) {
      fail('meta.quality must map at most 64 plain names to finite numbers');
    }
  }
  if (m.bandValid !== undefined && !(Array.isArray(m.bandValid) && m.bandValid.length === bands && m.bandValid.every((v) => typeof v === 'boolean'))) {
    fail(`meta.bandValid must list ${bands} booleans`);
  }
  return m as unknown as CubeMessageMeta;
}

/**
 * Builds one chunk message: 32-byte header then the body.
 * @param cubeId - The cube's 16-hex-digit id.
 * @param index - Chunk index.
 * @param count - Chunks in the cube.
 * @param offset - Byte offset of the body in the payload.
 * @param body - Chunk bytes.
 * @returns The message payload.
 */
export function encodeChunk(cubeId: string, index: number, count: number, offset: number, body: Uint8Array): Buffer {
  return encodeChunkInto(Buffer.allocUnsafe(CHUNK_HEADER_BYTES + body.length), cubeId, index, count, offset, body);
}

/**
 * {@link encodeChunk} into a caller's buffer (so a publisher can reuse a few buffers instead of
 * allocating one per chunk).
 * @param target - At least `32 + body.length` bytes.
 * @returns The view of `target` holding the message.
 * @internal
 */
export function encodeChunkInto(target: Buffer, cubeId: string, index: number, count: number, offset: number, body: Uint8Array): Buffer {
  if (target.length < CHUNK_HEADER_BYTES + body.length) throw new RangeError(`Expected a buffer of at least ${CHUNK_HEADER_BYTES + body.length} bytes but received ${target.length}`);
  const out = target.subarray(0, CHUNK_HEADER_BYTES + body.length);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt8(1, 4);
  out.writeUInt8(CHUNK_HEADER_BYTES, 5);
  out.writeUInt16LE(0, 6);
  out.write(cubeId, 8, 8, 'hex');
  out.writeUInt32LE(index, 16);
  out.writeUInt32LE(count, 20);
  out.writeBigUInt64LE(BigInt(offset), 24);
  out.set(body, CHUNK_HEADER_BYTES);
  return out;
}

/**
 * Parses a chunk's header; the body is a view, not a copy.
 * @param topic - Topic it arrived on (its chunk index must match the header's).
 * @param payload - Message payload.
 * @returns The chunk.
 * @throws {@link CubeProtocolError} when the magic, version or fields are wrong.
 */
export function decodeChunk(topic: string, payload: Uint8Array): CubeChunk {
  const fail = (msg: string): never => {
    throw new CubeProtocolError(topic, msg);
  };
  const where = parseCubeTopic(topic);
  if (where?.kind !== 'chunk') fail('not a cube chunk topic (spectra/<device>/cube/<sequence>/chunk/<n>)');
  if (payload.length < CHUNK_HEADER_BYTES) fail(`chunk is ${payload.length} bytes, shorter than its ${CHUNK_HEADER_BYTES}-byte header`);
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  if (buf.readUInt32LE(0) !== MAGIC) fail("chunk does not start with the 'SPCK' magic");
  if (buf.readUInt8(4) !== 1) fail(`chunk format version ${buf.readUInt8(4)} is not 1`);
  if (buf.readUInt8(5) !== CHUNK_HEADER_BYTES) fail(`chunk header length ${buf.readUInt8(5)} is not ${CHUNK_HEADER_BYTES}`);
  const index = buf.readUInt32LE(16);
  const count = buf.readUInt32LE(20);
  const offset = buf.readBigUInt64LE(24);
  if (index !== (where as { index: number }).index) fail(`chunk header says index ${index} but the topic says ${(where as { index: number }).index}`);
  if (count === 0 || index >= count) fail(`chunk index ${index} is outside 0..${count - 1}`);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) fail('chunk offset is out of range');
  // No valid chunk is empty (its length is min(chunkSize, payloadBytes - offset) > 0); empty ones cost
  // bookkeeping without ever counting towards a cube, so they are refused here.
  if (payload.length === CHUNK_HEADER_BYTES) fail('chunk body is empty');
  return {
    cubeId: buf.toString('hex', 8, 16),
    index,
    count,
    offset: Number(offset),
    body: payload.subarray(CHUNK_HEADER_BYTES),
  };
}

/** Bytes a variable-byte integer takes in MQTT. */
function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/**
 * Size of a QoS 1 PUBLISH packet on the wire, for checking against the broker's Maximum Packet Size.
 * @param topic - Topic.
 * @param payloadBytes - Payload length.
 * @param propertyBytes - Encoded MQTT v5 properties (0 for MQTT 3.1.1, which has no property section).
 * @param v5 - Whether the connection speaks MQTT 5.
 * @returns Bytes of the whole packet, fixed header included.
 */
export function publishPacketBytes(topic: string, payloadBytes: number, propertyBytes: number, v5: boolean): number {
  const props = v5 ? varintBytes(propertyBytes) + propertyBytes : 0;
  const remaining = 2 + Buffer.byteLength(topic) + 2 + props + payloadBytes;
  return 1 + varintBytes(remaining) + remaining;
}

/**
 * Encoded size of the MQTT v5 properties the publisher attaches (content type and user properties).
 * @internal
 */
export function propertyBytes(contentType: string, userProperties: Record<string, string> = {}): number {
  let n = 1 + 2 + Buffer.byteLength(contentType);
  for (const [k, v] of Object.entries(userProperties)) n += 1 + 2 + Buffer.byteLength(k) + 2 + Buffer.byteLength(v);
  return n;
}
