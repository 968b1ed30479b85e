import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Cube } from '../cube/cube';
import { assertCube } from '../cube/create';
import { bandValidity } from '../cube/band-validity';
import mqtt, { type IClientOptions, type IClientPublishOptions, type IConnackPacket, type MqttClient, type Packet } from 'mqtt';
import { type BrokerOptions, clientOptions, connectClient, credentialsFromUrl, endClient, explainConnectError } from './broker-connection';
import { withDefaults } from '../core/defaults';
import { PacketTooLargeError } from './errors';
import { type Logger, type NamespacedLog, createLogger } from '../core/log';
import { FileOutbox, type UnhashedHeader, MemoryOutbox, type OutboxEntry, type OutboxStore } from './outbox';
import {
  CHUNK_CONTENT_TYPE,
  CHUNK_HEADER_BYTES,
  CUBE_PROTOCOL,
  STATUS_SCHEMA,
  type CubeMessageMeta,
  DEFAULT_CHUNK_SIZE,
  META_CONTENT_TYPE,
  MQTT_MAX_PACKET,
  type LossNotice,
  assertDeviceId,
  chunkTopic,
  decodeControl,
  lostTopic,
  MAX_SEQUENCES_PER_MESSAGE,
  type CubeOffer,
  directTopic,
  offerTopic,
  pullTopic,
  receiptTopic,
  resendTopic,
  encodeChunkInto,
  encodeMeta,
  metaTopic,
  propertyBytes,
  publishPacketBytes,
  quicklookTopic,
  spectraTopic,
  statusTopic,
} from './protocol';

/** Options for {@link CubePublisher.connect}. */
export interface PublisherOptions extends BrokerOptions {
  /** Device id: one topic level (`spectra/<device>/…`). */
  device: string;
  /**
   * Where cubes wait for their acknowledgements: a directory (durable {@link FileOutbox}), a store,
   * or `false` for an in-memory outbox that a restart loses. @defaultValue false
   */
  outbox?: string | OutboxStore | false;
  /** Byte bound of the outbox this publisher creates (ignored for a store passed in). @defaultValue 512 MiB */
  outboxMaxBytes?: number;
  /** Chunk body size; lowered automatically to fit the broker's Maximum Packet Size. @defaultValue 262144 */
  chunkSize?: number;
  /** Packet size limit to respect when the broker does not announce one (MQTT 3.1.1, AWS IoT's 128 KB). */
  maxPacketSize?: number;
  /** Chunks in flight without a PUBACK; capped by the broker's Receive Maximum (mosquitto: 20). @defaultValue 16 */
  window?: number;
  /** MQTT 5 session expiry, so the broker keeps the session across short outages. @defaultValue 3600 */
  sessionExpirySeconds?: number;
  /** First reconnect delay; doubles up to `reconnectMaxMs`, with jitter. @defaultValue 250 */
  reconnectMinMs?: number;
  /** @defaultValue 15000 */
  reconnectMaxMs?: number;
  /** Attempts per chunk the broker rejects with an error PUBACK before the cube is dropped. @defaultValue 3 */
  maxChunkAttempts?: number;
  /**
   * How long a fully acknowledged cube stays in the outbox. A PUBACK means the broker has the message,
   * not that subscribers do: if the connection drops within this time and the broker comes back
   * without our session (it crashed or restarted without persistence), the cube is sent again.
   * Subscribers drop the duplicate by cube id. @defaultValue 2000
   */
  settleMs?: number;
  /**
   * `true`: {@link CubePublisher.connect} waits for the first CONNACK and rejects when the broker refuses or
   * cannot be reached. `false`: it returns at once and keeps retrying in the background (a device that boots
   * before its network, or restarts during an outage); failures are logged and emitted as `connection-error`.
   * @defaultValue true
   */
  waitForBroker?: boolean;
  /**
   * v2 end-to-end delivery: keep each cube in the outbox until a consumer of this group sends a receipt on
   * `spectra/<device>/receipt/<group>` (a PUBACK only says the broker has it). Unreceipted cubes are sent
   * again after `receiptTimeoutMs` (doubling per attempt, at most 5 min), resend requests on
   * `spectra/<device>/resend/<group>` are answered from the outbox, and cubes the outbox bound evicts are
   * announced on `spectra/<device>/lost`. Unset: v1 behaviour (a cube leaves after its PUBACKs and `settleMs`).
   */
  receiptGroup?: string;
  /** First wait for a receipt before a cube is sent again. @defaultValue 10000 */
  receiptTimeoutMs?: number;
  /**
   * How cubes reach `receiptGroup` (docs/cube-protocol.md §6.2). `push`: meta and chunks on
   * `spectra/<device>/cube/…`, for any number of subscribers. `pull`: for a consumer group that is one MQTT 5
   * share group: each cube is offered with one small message on `spectra/<device>/offer/<group>` (members
   * subscribe to it shared, so the broker deals whole cubes round-robin), the member that gets the offer asks
   * for it on `spectra/<device>/pull/<group>`, and the device sends meta and chunks to that member only
   * (`spectra/<device>/to/<member>/cube/…`). Every chunk crosses the broker once and members get even shares;
   * subscribers outside the group (and members of older SDKs, which never pull) get nothing. An offer nobody
   * pulls, or a pulled cube without a receipt, is offered again after `receiptTimeoutMs` (doubling), so a
   * member that leaves or dies loses nothing. Needs `receiptGroup`. @defaultValue 'push'
   */
  delivery?: 'push' | 'pull';
  /** Log sink for namespace `spectra:mqtt`. */
  log?: Logger;
}

/** Defaults for {@link PublisherOptions}. */
export const DEFAULT_PUBLISHER_OPTIONS = Object.freeze({
  outboxMaxBytes: 512 * 1024 ** 2,
  chunkSize: DEFAULT_CHUNK_SIZE,
  window: 16,
  sessionExpirySeconds: 3600,
  reconnectMinMs: 250,
  reconnectMaxMs: 15_000,
  maxChunkAttempts: 3,
  settleMs: 2000,
  waitForBroker: true,
  receiptTimeoutMs: 10_000,
  delivery: 'push' as 'push' | 'pull',
});

/** What to publish with a cube besides its pixels. */
export interface PublishInfo {
  /** Sequence number in the topic; the previous one + 1 when omitted. */
  sequence?: number;
  capturedAt?: Date | string;
  fusedAt?: Date | string;
  model?: { id: string; precision: string };
  scale?: number;
  quality?: Record<string, number>;
  /**
   * Hand `cube.data` over instead of copying it (32 MB per 512 x 512 x 31 cube): the caller must not
   * change the array afterwards. The pipeline does this, since every fused cube is a fresh array.
   * Ignored on big-endian hosts, where the bytes are swapped into a copy anyway. @defaultValue false
   */
  transfer?: boolean;
}

/** Counters of a {@link CubePublisher}. */
export interface PublisherMetrics {
  /** Messages (meta + chunks, and offers in pull delivery) handed to the socket, retries included. */
  published: number;
  /** Messages the broker acknowledged. */
  acknowledged: number;
  /** Messages sent again (error PUBACK, or a cube restarted after a reconnect). */
  retried: number;
  /** Cubes every chunk of which was acknowledged. */
  cubesAcked: number;
  /** Cubes dropped to keep the outbox within its byte bound. */
  evicted: number;
  /** Cubes dropped because the broker would never take them (oversized meta, repeated error PUBACKs, corrupt on disk). */
  rejected: number;
  outboxBytes: number;
  outboxCubes: number;
  /** Payload bytes acknowledged. */
  bytesAcked: number;
  /** Payload bytes acknowledged per second of sending time. */
  throughputBytesPerSecond: number;
  reconnects: number;
  /** v2: cubes a consumer of `receiptGroup` acknowledged (they then left the outbox). */
  cubesDelivered: number;
  /** v2: acknowledged cubes still waiting for their receipt. */
  awaitingReceipt: number;
  /** Pull delivery: cubes offered and not pulled yet. */
  offered: number;
  /** Pull delivery: offers sent (re-offers included). */
  offers: number;
  /** Pull delivery: pull requests honoured (each sent the cube to the member that asked). */
  pulls: number;
  /** Pull delivery: pull requests ignored (the cube was already pulled by another member, or is no longer held). */
  pullsIgnored: number;
  /** v2: cubes sent again because no receipt came in time or a consumer asked. */
  resent: number;
  /** v2: sequence numbers announced lost on `spectra/<device>/lost` (evicted, rejected, not held). */
  lost: number;
  /** Corrupt outbox files (header checksum, payload sha256) taken out of the queue and moved to `<outbox>/quarantine/`. */
  quarantined: number;
}

/** Events of a {@link CubePublisher}. */
export interface PublisherEvents {
  /** Every chunk of the cube was acknowledged and it left the outbox. */
  'cube-acked': (sequence: number) => void;
  /** The cube was dropped from a full outbox before it was sent. */
  'cube-evicted': (sequence: number) => void;
  /** The cube was dropped because it can never be delivered. */
  'cube-rejected': (sequence: number, error: Error) => void;
  connect: () => void;
  offline: () => void;
  /** A connection or reconnection failed; the publisher keeps retrying (not named 'error' so an unheard one never throws). */
  'connection-error': (error: Error) => void;
  /** v2: a consumer of `receiptGroup` acknowledged the cube; it left the outbox. */
  'cube-delivered': (sequence: number) => void;
  /** v2: the cube was announced lost to consumers (with the reason). */
  'cube-lost': (sequence: number, reason: LossNotice['reason']) => void;
  /** Pull delivery: `consumer` pulled the cube; it is sent to that member only. */
  'cube-pulled': (sequence: number, consumer: string) => void;
}

// Typed overloads over EventEmitter, the way mqtt.js's TypedEmitter does it.
export interface CubePublisher {
  on<E extends keyof PublisherEvents>(event: E, listener: PublisherEvents[E]): this;
  once<E extends keyof PublisherEvents>(event: E, listener: PublisherEvents[E]): this;
  off<E extends keyof PublisherEvents>(event: E, listener: PublisherEvents[E]): this;
  emit<E extends keyof PublisherEvents>(event: E, ...args: Parameters<PublisherEvents[E]>): boolean;
}

type Resolved = Required<Omit<PublisherOptions, keyof BrokerOptions | 'outbox' | 'log' | 'maxPacketSize' | 'receiptGroup'>> & PublisherOptions;

/** Pull delivery: cubes offered and not yet pulled, at most (older offers are answered or time out first). */
const MAX_OPEN_OFFERS = 32;

/**
 * Publishes fused cubes over MQTT with QoS 1, a persistent session and a durable outbox: each cube is
 * stored before `publish` resolves and removed only when the broker acknowledged every chunk, so a
 * broker outage or a process restart loses nothing (the outbox resumes on the next `connect`).
 * Chunks are pipelined (a window of unacknowledged chunks) and sized to the broker's Maximum Packet Size.
 * @example
 * const pub = await CubePublisher.connect({ broker: 'mqtt://127.0.0.1:1883', device: 'cam1', outbox: '/var/lib/spectra/outbox' });
 * pub.on('cube-acked', (seq) => console.log('delivered', seq));
 * await pub.publish(fused, { sequence: 7, model: { id: card.name, precision: 'fp32' } });
 * await pub.drain();
 * await pub.close();
 */
export class CubePublisher extends EventEmitter {
  private readonly log: NamespacedLog;
  /** Undefined until the first CONNACK (when started with `waitForBroker: false`). */
  private connack: IConnackPacket | undefined;
  private closing = false;
  private wakeUp: (() => void) | undefined;
  private nextSequence = 0;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private sendingMs = 0;
  private readonly pumpDone: Promise<void>;
  private readonly drainWaiters: (() => void)[] = [];
  /** Acknowledged cubes still inside their settle time: outbox id -> time of the last PUBACK. */
  private readonly settling = new Map<number, number>();
  /** Bumped on every lost connection; acknowledgements from an older connection are ignored and the cube starts over. */
  private generation = 0;
  private settleTimer: NodeJS.Timeout | undefined;
  /**
   * Chunk buffers reused once their PUBACK arrived: a fresh 256 KiB buffer per chunk made garbage
   * collection a large share of the publisher's CPU time. Dropped (never reused) when a connection is lost,
   * since mqtt.js may still hold the old buffers in its offline queue.
   */
  private chunkPool: { size: number; generation: number; free: Buffer[] } = { size: 0, generation: -1, free: [] };
  private readonly m = {
    published: 0,
    acknowledged: 0,
    retried: 0,
    cubesAcked: 0,
    evicted: 0,
    rejected: 0,
    bytesAcked: 0,
    reconnects: 0,
    cubesDelivered: 0,
    resent: 0,
    lost: 0,
    offers: 0,
    pulls: 0,
    pullsIgnored: 0,
  };
  /**
   * v2: cubes waiting for the group: outbox id -> when the wait started, how many times it was sent (or offered)
   * and what is awaited: a receipt (sent, acknowledged by the broker) or, in pull delivery, a pull (offered).
   */
  private readonly awaiting = new Map<number, { since: number; attempts: number; stage: 'receipt' | 'offer' }>();
  /** Pull delivery: cubes a member pulled, waiting to be sent to it: outbox id -> that member's client id. */
  private readonly assigned = new Map<number, string>();
  /** Pull delivery: the member a cube was last sent to, while its receipt is awaited (its next offer goes there first). */
  private readonly sentTo = new Map<number, string>();
  /** v2: sends (push) or offers (pull) so far per outbox id (for the receipt timeout's backoff). */
  private readonly attempts = new Map<number, number>();
  /** v2: receipts that arrived while their cube was still being sent (a fast consumer beats the last PUBACK). */
  private readonly earlyReceipts = new Set<number>();
  /** v2: what became of recent sequence numbers that left the outbox, to answer resend requests. */
  private readonly history = new Map<number, 'delivered' | 'evicted' | 'rejected'>();
  /** v2: recent losses, repeated in every meta (newest last, at most MAX_SEQUENCES_PER_MESSAGE). */
  private readonly recentLost: { sequence: number; reason: 'evicted' | 'rejected' | 'not-held' }[] = [];
  /** v2: loss notices waiting for a connection. */
  private readonly notices: LossNotice[] = [];
  private receiptTimer: NodeJS.Timeout | undefined;
  /** First sequence this process stored: a resend request for a later one it never stored names a skipped frame. */
  private firstSequence: number | undefined;

  private constructor(
    private readonly client: MqttClient,
    connack: IConnackPacket | undefined,
    private readonly outbox: OutboxStore,
    private readonly opts: Resolved,
    private readonly quarantined: { count: number } = { count: 0 },
  ) {
    super();
    this.log = createLogger('spectra:mqtt', opts.log);
    this.connack = connack;
    for (const e of outbox.entries()) this.nextSequence = Math.max(this.nextSequence, e.header.sequence + 1);
    noDelay(client);
    storeWithoutCopy(client);
    client.on('connect', (ack) => {
      noDelay(client);
      this.connack = ack;
      this.failures = 0;
      this.log.info(`connected to ${opts.broker}${ack.sessionPresent ? ' (session resumed)' : ''}`);
      if (!ack.sessionPresent) {
        this.replayUnsettled();
        this.subscribeControl();
        // Pull requests on their way to us were lost with the session: offer those cubes again now.
        for (const [id, a] of this.awaiting) if (a.stage === 'offer') this.awaiting.delete(id);
        // The broker lost everything (our session, and likely the members' too): the clocks of cubes awaiting a
        // receipt start again, so members can reconnect and subscribe before an overdue cube is offered again to
        // the member that had it. Offered at once, that offer found nobody subscribed and went on to the group,
        // where a second member took a cube the first had stored (its receipt was lost in the crash).
        if (this.opts.delivery === 'pull') for (const a of this.awaiting.values()) a.since = Date.now();
      }
      this.flushNotices();
      this.announce();
      this.emit('connect');
      this.wake();
    });
    client.on('close', () => {
      this.generation++;
      this.wake();
      this.scheduleReconnect();
    });
    client.on('error', (err) => {
      const e = explainConnectError(opts.broker, err);
      this.log.warn(e.message);
      this.emit('connection-error', e);
    });
    if (opts.receiptGroup !== undefined) {
      client.on('message', (topic, payload) => this.onControl(topic, payload));
      this.subscribeControl();
      this.receiptTimer = setInterval(() => this.checkReceipts(), Math.max(50, Math.min(1000, opts.receiptTimeoutMs / 4)));
    }
    this.announce();
    this.pumpDone = this.pump();
  }

  /**
   * Opens the outbox, connects, and starts sending whatever the outbox still holds from a previous run.
   * @param options - See {@link PublisherOptions}.
   * @returns A connected publisher.
   * @throws RangeError for a bad device id, chunk size or window (synchronously).
   * @throws {@link BrokerConnectionError} when the broker refuses, TLS fails or nothing answers (rejects).
   * @throws {@link OutboxError} when the outbox directory is unusable (rejects).
   */
  static connect(options: PublisherOptions): Promise<CubePublisher> {
    assertDeviceId(options.device);
    const opts = withDefaults(DEFAULT_PUBLISHER_OPTIONS, options) as Resolved;
    for (const key of ['chunkSize', 'window', 'outboxMaxBytes', 'maxChunkAttempts'] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < 1) throw new RangeError(`Expected ${key} to be a positive integer but received ${opts[key]}`);
    }
    if (opts.receiptGroup !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(opts.receiptGroup)) {
      throw new RangeError(`Expected receiptGroup to be one topic level of [A-Za-z0-9_.:-] but received '${opts.receiptGroup}'`);
    }
    if (!(opts.receiptTimeoutMs > 0)) throw new RangeError(`Expected receiptTimeoutMs > 0 but received ${opts.receiptTimeoutMs}`);
    if (opts.delivery !== 'push' && opts.delivery !== 'pull') throw new RangeError(`Expected delivery 'push' or 'pull' but received '${String(opts.delivery)}'`);
    if (opts.delivery === 'pull' && opts.receiptGroup === undefined) throw new RangeError("delivery 'pull' needs receiptGroup (the share group that pulls the cubes)");
    // Credentials travel as connect options only, so no log line, error or run.json can print them.
    const split = credentialsFromUrl(opts.broker);
    opts.broker = split.url;
    if (split.username !== undefined) opts.username ??= split.username;
    if (split.password !== undefined) opts.password ??= split.password;
    if (opts.maxPacketSize !== undefined && !(opts.maxPacketSize >= 128)) {
      throw new RangeError(`Expected maxPacketSize >= 128 bytes but received ${opts.maxPacketSize}`);
    }
    return CubePublisher.open(opts);
  }

  private static async open(opts: Resolved): Promise<CubePublisher> {
    const log = createLogger('spectra:mqtt', opts.log);
    // Shared with the instance, which does not exist yet while the outbox opens.
    const quarantined = { count: 0 };
    const outbox =
      typeof opts.outbox === 'string'
        ? new FileOutbox(opts.outbox, {
            maxBytes: opts.outboxMaxBytes,
            onCorrupt: (p, why) => {
              quarantined.count++;
              log.error(`outbox: corrupt cube file ${p} taken out of the queue: ${why}`);
            },
          })
        : opts.outbox || new MemoryOutbox(opts.outboxMaxBytes);
    await outbox.open();
    if (outbox.entries().length > 0) log.info(`outbox: resuming ${outbox.entries().length} cube(s), ${outbox.bytes} bytes`);
    const v5 = (opts.protocolVersion ?? 5) === 5;
    const session: IClientOptions = {
      clientId: opts.clientId ?? `spectra-pub-${opts.device}`,
      clean: false,
      ...(v5 ? { properties: { sessionExpiryInterval: opts.sessionExpirySeconds } } : {}),
      will: { topic: statusTopic(opts.device), payload: Buffer.from(JSON.stringify(statusPayload(opts.device, 'offline'))), qos: 1 as const, retain: true },
    };
    if (!opts.waitForBroker) {
      const client = mqtt.connect(opts.broker, await clientOptions(opts, session));
      const pub = new CubePublisher(client, undefined, outbox, opts, quarantined);
      log.info(`started without waiting for ${opts.broker}; cubes wait in the outbox until it answers`);
      return pub;
    }
    const { client, connack } = await connectClient(opts, session);
    return new CubePublisher(client, connack, outbox, opts, quarantined);
  }

  /**
   * Stores a cube in the outbox for sending. Resolves once it is stored (for a file outbox: on disk,
   * fsynced), not once it is delivered; listen for `cube-acked` or call {@link CubePublisher.drain}.
   * @param cube - Band-sequential float32 cube.
   * @param info - Sequence, timestamps, model id. See {@link PublishInfo}.
   * @returns The sequence number used.
   * @throws {@link DataTypeError} when the cube is malformed.
   * @throws {@link OutboxError} when it cannot be stored.
   */
  async publish(cube: Cube, info: PublishInfo = {}): Promise<number> {
    assertCube(cube, 'cube');
    if (this.closing) throw new Error('publish() after close()');
    const sequence = info.sequence ?? this.nextSequence;
    if (!Number.isSafeInteger(sequence) || sequence < 0) throw new RangeError(`Expected sequence to be a non-negative integer but received ${sequence}`);
    this.nextSequence = Math.max(this.nextSequence, sequence + 1);
    this.firstSequence ??= sequence;
    const valid = bandValidity(cube);
    const invalid = valid.some((v) => !v);
    const payload = littleEndianBytes(cube.data, info.transfer ?? false);
    const iso = (d: Date | string | undefined): string | undefined => (d === undefined ? undefined : typeof d === 'string' ? d : d.toISOString());
    const now = new Date().toISOString();
    const header: UnhashedHeader = {
      protocol: CUBE_PROTOCOL,
      device: this.opts.device,
      sequence,
      cubeId: randomBytes(8).toString('hex'),
      shape: [cube.bands, cube.height, cube.width],
      dtype: 'float32',
      byteOrder: 'little',
      layout: 'bsq',
      wavelengths: Array.from(cube.wavelengths),
      ...(cube.fwhm ? { fwhm: Array.from(cube.fwhm) } : {}),
      ...(invalid ? { bandValid: valid } : {}),
      ...(info.scale !== undefined ? { scale: info.scale } : {}),
      ...(info.model ? { model: info.model } : {}),
      capturedAt: iso(info.capturedAt) ?? now,
      ...(info.fusedAt !== undefined ? { fusedAt: iso(info.fusedAt) } : {}),
      enqueuedAt: now,
      payloadBytes: payload.length,
      ...(info.quality ? { quality: info.quality } : {}),
    };
    const { evicted } = await this.outbox.put(header, payload);
    for (const e of evicted) {
      this.m.evicted++;
      this.log.warn(`outbox full (${this.outbox.maxBytes} bytes): evicted cube ${e.header.sequence} (${this.m.evicted} evicted so far)`);
      this.emit('cube-evicted', e.header.sequence);
      this.forget(e.id);
      this.lose(e.header.sequence, 'evicted');
    }
    this.wake();
    return sequence;
  }

  /**
   * Waits until every stored cube was acknowledged (or evicted, or rejected).
   * @param timeoutMs - Give up after this long. @defaultValue Infinity
   * @returns true when drained, false on timeout.
   */
  drain(timeoutMs = Infinity): Promise<boolean> {
    if (this.drained()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => resolve(false), timeoutMs) : undefined;
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Whether the cubes waiting for delivery are held in this process's memory (the default outbox) rather than on
   * disk: a producer faster than delivery then grows the heap, and the frame loop waits for room
   * (`PipelineOptions.maxPendingCubes`).
   */
  get holdsCubesInMemory(): boolean {
    return this.outbox instanceof MemoryOutbox;
  }

  /** Whether {@link CubePublisher.close} has been called. */
  get closed(): boolean {
    return this.closing;
  }

  /** Counters and outbox state. */
  metrics(): PublisherMetrics {
    return {
      ...this.m,
      awaitingReceipt: [...this.awaiting.values()].filter((a) => a.stage === 'receipt').length,
      offered: [...this.awaiting.values()].filter((a) => a.stage === 'offer').length,
      quarantined: this.quarantined.count,
      outboxBytes: this.outbox.bytes,
      outboxCubes: this.outbox.entries().length,
      throughputBytesPerSecond: this.sendingMs > 0 ? (this.m.bytesAcked * 1000) / this.sendingMs : 0,
    };
  }

  /** The broker URL, without credentials (safe to print). */
  get brokerUrl(): string {
    return this.opts.broker;
  }

  /**
   * Publishes the device status (retained, QoS 1) on `spectra/<device>/status` over this publisher's own
   * connection, so the topic has one writer and one shape: `{ schema, device, state, protocol, time, … }`
   * (the last will is the same object with `state: 'offline'`). Skipped while offline.
   * @param status - More fields (frames, fps, latency, outbox…); `schema`, `device`, `state` and `protocol` are set here.
   * @returns Whether it was sent.
   */
  async publishStatus(status: Record<string, unknown> = {}): Promise<boolean> {
    if (!this.client.connected) return false;
    const body = JSON.stringify(statusPayload(this.opts.device, 'online', status));
    await this.client.publishAsync(statusTopic(this.opts.device), body, { qos: 1, retain: true });
    return true;
  }

  /** Maximum Packet Size in force: the broker's (MQTT 5 CONNACK) and `maxPacketSize`, whichever is smaller. */
  get maxPacketSize(): number {
    return Math.min(this.connack?.properties?.maximumPacketSize ?? MQTT_MAX_PACKET, this.opts.maxPacketSize ?? MQTT_MAX_PACKET);
  }

  /**
   * Stops sending and disconnects. Cubes not yet acknowledged stay in a file outbox for the next run.
   * @param options - `drainMs`: first wait this long for the outbox to empty. @defaultValue 0
   */
  async close(options: { drainMs?: number } = {}): Promise<void> {
    if (options.drainMs) await this.drain(options.drainMs);
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.settleTimer);
    clearInterval(this.receiptTimer);
    // A clean close with the broker up: acknowledged cubes need no settling, so they do not come back next run.
    if (this.client.connected) for (const e of this.outbox.entries()) if (this.settling.has(e.id)) await this.outbox.remove(e);
    this.wake();
    if (this.client.connected) {
      await new Promise<void>((resolve) =>
        this.client.publish(statusTopic(this.opts.device), JSON.stringify(statusPayload(this.opts.device, 'offline')), { qos: 1, retain: true }, () => resolve()),
      );
    }
    // Forced: a non-forced end() waits for every message mqtt.js still tracks, including ones from a
    // dropped connection that will never be acknowledged (their cube was re-sent instead).
    await endClient(this.client, 0);
    await this.pumpDone;
  }

  /**
   * Publishes the browser previews: a quicklook PNG and/or a small spectra JSON, retained, QoS 0, on
   * `spectra/<device>/quicklook` and `spectra/<device>/spectra`. They bypass the outbox (only the latest
   * matters) and are skipped while offline. Browsers over MQTT/WebSocket should use these, not cubes.
   * @param preview - `quicklook`: PNG bytes; `spectra`: any small JSON value (e.g. {@link sampleSpectra}).
   * @returns Whether anything was sent.
   * @throws {@link PacketTooLargeError} when a preview exceeds the broker's maximum packet size.
   */
  async publishPreview(preview: { quicklook?: Uint8Array; spectra?: unknown }): Promise<boolean> {
    if (!this.client.connected) return false;
    const v5 = (this.opts.protocolVersion ?? 5) === 5;
    const items: [string, Buffer, string][] = [];
    if (preview.quicklook) items.push([quicklookTopic(this.opts.device), Buffer.from(preview.quicklook), 'image/png']);
    if (preview.spectra !== undefined) items.push([spectraTopic(this.opts.device), Buffer.from(JSON.stringify(preview.spectra)), META_CONTENT_TYPE]);
    for (const [topic, body, type] of items) {
      const bytes = publishPacketBytes(topic, body.length, v5 ? propertyBytes(type) : 0, v5);
      if (bytes > this.maxPacketSize) throw new PacketTooLargeError(topic, bytes, this.maxPacketSize);
    }
    await Promise.all(
      items.map(([topic, body, type]) => this.client.publishAsync(topic, body, { qos: 0, retain: true, ...(v5 ? { properties: { contentType: type } } : {}) })),
    );
    return items.length > 0;
  }

  private announce(): void {
    if (!this.client.connected) return;
    const status = JSON.stringify(statusPayload(this.opts.device, 'online'));
    this.client.publish(statusTopic(this.opts.device), status, { qos: 1, retain: true });
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer !== undefined) return;
    if (this.failures === 0) {
      this.log.warn(`lost the broker ${this.opts.broker}; reconnecting with backoff`);
      this.emit('offline');
    }
    const base = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectMinMs * 2 ** this.failures);
    const delay = base / 2 + Math.random() * (base / 2);
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      this.m.reconnects++;
      this.client.reconnect();
    }, delay);
  }

  /**
   * The broker lost our session, so it may also have lost messages it acknowledged but had not yet
   * delivered to subscribers: send the settling cubes again, oldest first.
   */
  private replayUnsettled(): void {
    if (this.settling.size === 0) return;
    this.log.warn(`broker came back without our session; re-sending ${this.settling.size} recently acknowledged cube(s)`);
    this.settling.clear();
  }

  /** Removes cubes whose settle time passed while the connection stayed up. */
  private async settle(): Promise<void> {
    const now = Date.now();
    for (const e of this.outbox.entries()) {
      const at = this.settling.get(e.id);
      if (at === undefined || now - at < this.opts.settleMs) continue;
      this.settling.delete(e.id);
      await this.outbox.remove(e);
    }
    if (this.settling.size === 0) {
      clearTimeout(this.settleTimer);
      this.settleTimer = undefined;
    }
    this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private async pump(): Promise<void> {
    while (!this.closing) {
      const work = this.nextWork();
      if (work === undefined) {
        this.checkDrained();
        await this.sleep();
        continue;
      }
      const { entry, to } = work;
      if (!this.client.connected) {
        await this.sleep();
        continue;
      }
      try {
        if (this.opts.delivery === 'pull' && to === undefined) await this.offer(entry);
        else await this.sendCube(entry, to);
      } catch (err) {
        // An outbox I/O failure must not stop the pump for good; the cube stays stored and is tried again.
        this.log.error(`cube ${entry.header.sequence}: ${(err as Error).message}; retrying in 1 s`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * What the pump does next. Push: send the oldest cube not settling or awaiting its receipt. Pull: first send
   * cubes members pulled (oldest first), else offer the oldest cube not offered yet, at most
   * {@link MAX_OPEN_OFFERS} open at a time.
   */
  private nextWork(): { entry: OutboxEntry; to?: string } | undefined {
    const entries = this.outbox.entries();
    if (this.opts.delivery === 'pull') {
      for (const e of entries) {
        const to = this.assigned.get(e.id);
        if (to !== undefined) return { entry: e, to };
      }
      let open = 0;
      for (const a of this.awaiting.values()) if (a.stage === 'offer') open++;
      if (open >= MAX_OPEN_OFFERS) return undefined;
    }
    const entry = entries.find((e) => !this.settling.has(e.id) && !this.awaiting.has(e.id) && !this.assigned.has(e.id));
    return entry === undefined ? undefined : { entry };
  }

  /**
   * Pull delivery: offers a cube to the group (one small message on the shared offer topic). It counts as
   * awaiting a pull from before the offer goes out, since a member may answer before our PUBACK arrives; an
   * offer nobody pulls is made again by the receipt timeout.
   */
  private async offer(entry: OutboxEntry): Promise<void> {
    const h = entry.header;
    if (this.earlyReceipts.delete(entry.id)) {
      // Its receipt came while it waited to be offered again (the member that had it answered late).
      await this.delivered(entry);
      return;
    }
    const attempts = (this.attempts.get(entry.id) ?? 0) + 1;
    this.attempts.set(entry.id, attempts);
    this.awaiting.set(entry.id, { since: Date.now(), attempts, stage: 'offer' });
    const offer: CubeOffer = { protocol: CUBE_PROTOCOL, sequence: h.sequence, cubeId: h.cubeId };
    // A cube sent to a member whose receipt is overdue goes back to that member first: if it stored the cube
    // (its receipt was lost) it answers with the receipt, and no second member gets the cube. If it does not
    // answer either, the next offer goes to the group.
    const to = this.sentTo.get(entry.id);
    this.sentTo.delete(entry.id);
    const topic = to === undefined ? offerTopic(h.device, this.opts.receiptGroup!) : directTopic(to, offerTopic(h.device, this.opts.receiptGroup!));
    const gen = this.generation;
    this.m.offers++;
    this.m.published++;
    // Waited for like the chunks in sendMessages: mqtt.js may never call back for a packet of a dropped
    // connection, so a lost connection (the close handler bumps the generation and wakes us) ends the wait too.
    let result: { err: Error | undefined } | undefined;
    this.client.publish(topic, JSON.stringify(offer), { qos: 1 }, (e) => {
      result = { err: e ?? undefined };
      this.wake();
    });
    while (result === undefined && gen === this.generation && !this.closing) await this.sleep();
    if (this.closing) return;
    const err = result?.err;
    if (gen !== this.generation) {
      // The connection dropped before our PUBACK: the offer may never have reached the broker, so make it again
      // once reconnected rather than after the timeout (a pull for the first one, if it did arrive, is ignored).
      if (this.awaiting.get(entry.id)?.stage === 'offer') this.awaiting.delete(entry.id);
      return;
    }
    if (err !== undefined) {
      this.log.warn(`cube ${h.sequence}: offer refused by the broker (${err.message}); offering it again after the receipt timeout`);
      return;
    }
    this.m.acknowledged++;
    this.log.debug(`cube ${h.sequence} offered to ${to ?? `group ${this.opts.receiptGroup}`} (attempt ${attempts})`);
  }

  /**
   * Sends one cube and waits for every acknowledgement; on success it leaves the outbox (or, with receipts,
   * waits for its receipt).
   * @param to - Pull delivery: the member that pulled it; meta and chunks go to its direct topics only.
   */
  private async sendCube(entry: OutboxEntry, to?: string): Promise<void> {
    const seq = entry.header.sequence;
    if (to !== undefined && this.earlyReceipts.delete(entry.id)) {
      // The group acknowledged it while it waited to be sent (an earlier send arrived after all).
      await this.delivered(entry);
      return;
    }
    this.outbox.pin(entry);
    try {
      const payload = await this.outbox.read(entry);
      if (payload === undefined) {
        this.reject(entry, new Error(`cube ${seq} was unreadable in the outbox`));
        return;
      }
      const plan = this.plan(entry, to);
      if (plan instanceof Error) {
        await this.outbox.remove(entry);
        this.reject(entry, plan);
        return;
      }
      const started = Date.now();
      const ok = await this.sendMessages(entry, payload, plan, to);
      // A pulled cube that must start over (connection lost) stays assigned to its member.
      if (!ok) return;
      this.assigned.delete(entry.id);
      if (to !== undefined) this.sentTo.set(entry.id, to);
      this.sendingMs += Date.now() - started;
      if (this.opts.receiptGroup !== undefined) {
        // Pull delivery counts offers, push delivery sends.
        const attempts = to !== undefined ? (this.attempts.get(entry.id) ?? 1) : (this.attempts.get(entry.id) ?? 0) + 1;
        this.attempts.set(entry.id, attempts);
        if (this.earlyReceipts.delete(entry.id)) await this.delivered(entry);
        else this.awaiting.set(entry.id, { since: Date.now(), attempts, stage: 'receipt' });
      } else if (this.opts.settleMs > 0) {
        this.settling.set(entry.id, Date.now());
        this.settleTimer ??= setInterval(() => void this.settle(), Math.max(50, this.opts.settleMs / 4));
      } else {
        await this.outbox.remove(entry);
      }
      this.m.cubesAcked++;
      this.m.bytesAcked += payload.length;
      this.log.debug(`cube ${seq} acknowledged (${plan.meta.chunkCount} chunks of ${plan.meta.chunkSize} bytes)`);
      this.emit('cube-acked', seq);
    } finally {
      this.outbox.unpin(entry);
    }
  }

  /** Chooses the chunk size for this connection (and, pulled, this member's longer topics) and checks the meta fits. */
  private plan(entry: OutboxEntry, to?: string): { meta: CubeMessageMeta; v5: boolean } | PacketTooLargeError {
    const v5 = (this.opts.protocolVersion ?? 5) === 5;
    const max = this.maxPacketSize;
    const h = entry.header;
    const at = (topic: string): string => (to === undefined ? topic : directTopic(to, topic));
    const lastTopic = at(chunkTopic(h.device, h.sequence, h.payloadBytes));
    const overhead = publishPacketBytes(lastTopic, CHUNK_HEADER_BYTES, v5 ? propertyBytes(CHUNK_CONTENT_TYPE) : 0, v5);
    // The remaining-length field can grow by up to 3 bytes as the payload grows; keep that margin.
    const chunkSize = Math.min(this.opts.chunkSize, max - overhead - 3);
    if (chunkSize < 64) return new PacketTooLargeError(lastTopic, overhead + 64, max);
    const meta: CubeMessageMeta = {
      ...h,
      chunkSize,
      chunkCount: Math.ceil(h.payloadBytes / chunkSize),
      ...(this.recentLost.length > 0 ? { lost: [...this.recentLost] } : {}),
    };
    const topic = at(metaTopic(h.device, h.sequence));
    const metaBytes = publishPacketBytes(topic, encodeMeta(meta).length, v5 ? propertyBytes(META_CONTENT_TYPE, { protocol: CUBE_PROTOCOL }) : 0, v5);
    if (metaBytes > max) return new PacketTooLargeError(topic, metaBytes, max);
    return { meta, v5 };
  }

  /**
   * Publishes meta then chunks, keeping up to `window` unacknowledged. If the connection drops, the
   * cube starts over from its meta after the reconnect: mqtt.js's `reconnect()` replaces its outgoing
   * store, so messages in flight at the drop would otherwise never complete, and the subscriber drops
   * the chunks it already has. An error PUBACK is retried a few times, then the cube is rejected.
   * @returns false when the cube was rejected, must start over, or sending stopped.
   */
  private async sendMessages(entry: OutboxEntry, payload: Uint8Array, plan: { meta: CubeMessageMeta; v5: boolean }, to?: string): Promise<boolean> {
    const { meta, v5 } = plan;
    const at = (topic: string): string => (to === undefined ? topic : directTopic(to, topic));
    const gen = this.generation;
    const live = (): boolean => !this.closing && gen === this.generation;
    let sent = 0;
    const window = Math.max(1, Math.min(this.opts.window, this.connack?.properties?.receiveMaximum ?? 65_535));
    let inFlight = 0;
    let failed: Error | undefined;
    const bufferBytes = CHUNK_HEADER_BYTES + meta.chunkSize;
    if (this.chunkPool.size !== bufferBytes || this.chunkPool.generation !== gen) this.chunkPool = { size: bufferBytes, generation: gen, free: [] };
    const pool = this.chunkPool;
    const release = (): void => {
      inFlight--;
      this.wake();
    };
    const send = (topic: string, body: Buffer, opts: IClientPublishOptions, attempt: number, buffer?: Buffer): void => {
      inFlight++;
      sent++;
      this.m.published++;
      this.client.publish(topic, body, opts, (err) => {
        if (gen !== this.generation) return;
        if (err === undefined || err === null) {
          this.m.acknowledged++;
          if (buffer && pool.generation === this.generation) pool.free.push(buffer);
        } else if (attempt < this.opts.maxChunkAttempts && live()) {
          this.m.retried++;
          this.log.warn(`${topic}: ${err.message}; retrying (attempt ${attempt + 1} of ${this.opts.maxChunkAttempts})`);
          send(topic, body, opts, attempt + 1, buffer);
        } else {
          failed ??= err;
        }
        release();
      });
    };
    const metaOpts: IClientPublishOptions = { qos: 1, ...(v5 ? { properties: { contentType: META_CONTENT_TYPE, userProperties: { protocol: CUBE_PROTOCOL } } } : {}) };
    const chunkOpts: IClientPublishOptions = { qos: 1, ...(v5 ? { properties: { contentType: CHUNK_CONTENT_TYPE } } : {}) };
    send(at(metaTopic(meta.device, meta.sequence)), encodeMeta(meta), metaOpts, 1);
    for (let i = 0; i < meta.chunkCount && failed === undefined && live(); i++) {
      while (inFlight >= window && live()) await this.sleep();
      if (!live()) break;
      const offset = i * meta.chunkSize;
      const body = payload.subarray(offset, Math.min(offset + meta.chunkSize, payload.length));
      const buffer = pool.free.pop() ?? Buffer.allocUnsafe(bufferBytes);
      send(at(chunkTopic(meta.device, meta.sequence, i)), encodeChunkInto(buffer, meta.cubeId, i, meta.chunkCount, offset, body), chunkOpts, 1, buffer);
    }
    while (inFlight > 0 && live()) await this.sleep();
    if (this.closing) return false;
    if (gen !== this.generation) {
      this.m.retried += sent;
      this.log.info(`cube ${meta.sequence}: connection lost after ${sent} message(s); it starts over after the reconnect`);
      return false;
    }
    if (failed !== undefined) {
      await this.outbox.remove(entry);
      this.reject(entry, failed);
      return false;
    }
    return true;
  }

  private reject(entry: OutboxEntry, error: Error): void {
    this.m.rejected++;
    this.log.error(`cube ${entry.header.sequence} dropped: ${error.message}`);
    this.emit('cube-rejected', entry.header.sequence, error);
    this.forget(entry.id);
    this.lose(entry.header.sequence, 'rejected');
    this.checkDrained();
  }

  private drained(): boolean {
    const entries = this.outbox.entries();
    return this.opts.receiptGroup !== undefined ? entries.length === 0 : entries.every((e) => this.settling.has(e.id));
  }

  private checkDrained(): void {
    if (this.drainWaiters.length > 0 && this.drained()) for (const w of this.drainWaiters.splice(0)) w();
  }

  private forget(id: number): void {
    this.awaiting.delete(id);
    this.assigned.delete(id);
    this.sentTo.delete(id);
    this.attempts.delete(id);
    this.earlyReceipts.delete(id);
  }

  private remember(sequence: number, what: 'delivered' | 'evicted' | 'rejected'): void {
    this.history.set(sequence, what);
    if (this.history.size > 65_536) this.history.delete(this.history.keys().next().value as number);
  }

  /** v2: announces a sequence number consumers will never get, so they report it instead of waiting. */
  private lose(sequence: number, reason: LossNotice['reason']): void {
    if (reason === 'evicted' || reason === 'rejected') this.remember(sequence, reason);
    if (this.opts.receiptGroup === undefined) return;
    if (reason !== 'skipped') {
      this.m.lost++;
      if (!this.recentLost.some((l) => l.sequence === sequence)) this.recentLost.push({ sequence, reason });
      if (this.recentLost.length > MAX_SEQUENCES_PER_MESSAGE) this.recentLost.shift();
    }
    this.emit('cube-lost', sequence, reason);
    const last = this.notices[this.notices.length - 1];
    if (last !== undefined && last.reason === reason && last.sequences.length < MAX_SEQUENCES_PER_MESSAGE) last.sequences.push(sequence);
    else this.notices.push({ protocol: CUBE_PROTOCOL, sequences: [sequence], reason });
    this.flushNotices();
  }

  private flushNotices(): void {
    // Sent only on a live connection: mqtt.js's reconnect() forgets what it queued while offline.
    while (this.client.connected && this.notices.length > 0) {
      const n = this.notices.shift()!;
      this.log.warn(`announcing sequence(s) ${n.sequences.join(', ')} lost (${n.reason}) on ${lostTopic(this.opts.device)}`);
      this.client.publish(lostTopic(this.opts.device), JSON.stringify(n), { qos: 1 });
    }
  }

  private subscribeControl(): void {
    const group = this.opts.receiptGroup;
    if (group === undefined || !this.client.connected) return;
    const filters = [receiptTopic(this.opts.device, group), resendTopic(this.opts.device, group)];
    if (this.opts.delivery === 'pull') filters.push(pullTopic(this.opts.device, group));
    this.client.subscribe(filters, { qos: 1 }, (err) => {
      if (err) this.log.warn(`cannot subscribe to ${filters.join(', ')}: ${err.message}`);
    });
  }

  /** v2: a receipt or a resend request from the consumer group. */
  private onControl(topic: string, payload: Buffer): void {
    let msg;
    try {
      msg = decodeControl(topic, payload);
    } catch (err) {
      this.log.warn((err as Error).message);
      return;
    }
    if (msg === undefined || msg.kind === 'lost' || msg.kind === 'offer' || msg.device !== this.opts.device || msg.group !== this.opts.receiptGroup) return;
    const entries = this.outbox.entries();
    if (msg.kind === 'pull') {
      this.onPull(entries, msg.request.sequence, msg.request.cubeId, msg.request.consumer);
      return;
    }
    if (msg.kind === 'receipt') {
      const { sequence, cubeId } = msg.receipt;
      const entry = entries.find((e) => e.header.sequence === sequence && e.header.cubeId === cubeId);
      if (entry === undefined) return; // a repeated receipt, or one for a cube evicted meanwhile
      // Awaiting a receipt, or (pull) re-offered when the receipt came late: either way the group has it.
      if (this.awaiting.has(entry.id)) void this.delivered(entry);
      else this.earlyReceipts.add(entry.id);
      return;
    }
    for (const sequence of msg.request.sequences) {
      const entry = entries.find((e) => e.header.sequence === sequence);
      if (entry !== undefined) {
        // Still held: send it again now (if it is waiting for a receipt; otherwise it is queued or being sent).
        if (this.awaiting.delete(entry.id)) {
          this.m.resent++;
          this.log.info(`cube ${sequence}: ${msg.request.consumer} asked for it again; re-sending`);
        }
        continue;
      }
      const fate = this.history.get(sequence);
      if (fate === 'delivered') continue; // another member of the group has it
      // A sequence this process never stored, above the first one it did, is a frame capture dropped.
      const skipped = fate === undefined && this.firstSequence !== undefined && sequence > this.firstSequence && sequence < this.nextSequence;
      this.lose(sequence, fate ?? (skipped ? 'skipped' : 'not-held'));
    }
    this.wake();
  }

  /**
   * Pull delivery: the first pull for an open offer wins; the cube goes to that member only. Any other pull
   * (a second member answering a re-offer late, a repeated request, a cube no longer held) is ignored, so
   * each offer sends the cube at most once.
   */
  private onPull(entries: readonly OutboxEntry[], sequence: number, cubeId: string, consumer: string): void {
    if (this.opts.delivery !== 'pull') return;
    const entry = entries.find((e) => e.header.sequence === sequence && e.header.cubeId === cubeId);
    if (entry === undefined || this.awaiting.get(entry.id)?.stage !== 'offer') {
      this.m.pullsIgnored++;
      this.log.debug(`cube ${sequence}: pull from ${consumer} ignored (${entry === undefined ? 'not held' : 'not on offer'})`);
      return;
    }
    this.awaiting.delete(entry.id);
    this.assigned.set(entry.id, consumer);
    this.m.pulls++;
    this.log.debug(`cube ${sequence}: pulled by ${consumer}`);
    this.emit('cube-pulled', sequence, consumer);
    this.wake();
  }

  /** v2: the consumer group has the cube: it leaves the outbox. */
  private async delivered(entry: OutboxEntry): Promise<void> {
    this.forget(entry.id);
    this.remember(entry.header.sequence, 'delivered');
    await this.outbox.remove(entry);
    this.m.cubesDelivered++;
    this.log.debug(`cube ${entry.header.sequence} delivered (receipt from group ${this.opts.receiptGroup})`);
    this.emit('cube-delivered', entry.header.sequence);
    this.checkDrained();
  }

  /** v2: cubes whose receipt is overdue are sent again, with a per-cube doubling wait (at most 5 min). */
  private checkReceipts(): void {
    if (!this.client.connected) return;
    const now = Date.now();
    let resend = 0;
    let reoffer = 0;
    for (const [id, a] of this.awaiting) {
      // An offer is one small message, and a broker keeps dealing offers to a member that died with its session
      // kept (mosquitto does), so re-offers back off to 4 x the timeout at most; re-sent cubes up to 5 min.
      const wait = Math.min(300_000, this.opts.receiptTimeoutMs * 2 ** Math.min(a.attempts - 1, a.stage === 'offer' ? 2 : 10));
      if (now - a.since < wait) continue;
      this.awaiting.delete(id);
      if (a.stage === 'offer') reoffer++;
      else resend++;
    }
    if (resend + reoffer === 0) return;
    this.m.resent += resend;
    if (resend > 0) {
      const again = this.opts.delivery === 'pull' ? 'offering them again' : 're-sending';
      this.log.warn(`${resend} cube(s) acknowledged by the broker but without a receipt from group ${this.opts.receiptGroup}; ${again}`);
    }
    if (reoffer > 0) this.log.warn(`${reoffer} cube(s) offered to group ${this.opts.receiptGroup} but not pulled; offering them again`);
    this.wake();
  }
}

/**
 * The one shape of `spectra/<device>/status` (docs/cube-protocol.md §1): the fields every writer sets, then
 * whatever the caller adds (frames, fps, latency percentiles, outbox depth…).
 */
function statusPayload(device: string, state: 'online' | 'offline', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...extra, schema: STATUS_SCHEMA, device, state, protocol: CUBE_PROTOCOL, time: new Date().toISOString() };
}

/** Spectra of a few pixels for browser previews. */
export interface SampledSpectra {
  wavelengths: number[];
  /** `[x, y, values per band]`, values rounded to 4 decimals. */
  points: { x: number; y: number; values: number[] }[];
}

/**
 * Picks a small, fixed set of pixel spectra from a cube (centre and the four quadrant centres by default),
 * a few hundred bytes of JSON that a browser can plot.
 * @param cube - Band-sequential cube.
 * @param points - Pixel positions; default centre + quadrant centres.
 * @returns The spectra.
 */
export function sampleSpectra(cube: Cube, points?: readonly { x: number; y: number }[]): SampledSpectra {
  const { width: w, height: h } = cube;
  const at = points ?? [
    { x: w >> 1, y: h >> 1 },
    { x: w >> 2, y: h >> 2 },
    { x: (3 * w) >> 2, y: h >> 2 },
    { x: w >> 2, y: (3 * h) >> 2 },
    { x: (3 * w) >> 2, y: (3 * h) >> 2 },
  ];
  const plane = w * h;
  return {
    wavelengths: Array.from(cube.wavelengths),
    points: at.map(({ x, y }) => {
      if (!(x >= 0 && x < w && y >= 0 && y < h)) throw new RangeError(`Expected a pixel inside the ${w} x ${h} cube but received (${x}, ${y})`);
      return { x, y, values: Array.from({ length: cube.bands }, (_, b) => Math.round(cube.data[b * plane + y * w + x] * 1e4) / 1e4) };
    }),
  };
}

/**
 * Turns off Nagle's algorithm on the client's TCP socket. With several PUBLISHes in flight, the small
 * fixed header of the next one would otherwise wait for the ACK of the previous bulk data (Nagle plus
 * delayed ACK, tens of ms each), which made a pipelined window slower than stop-and-wait.
 */
function noDelay(client: MqttClient): void {
  const stream = client.stream as unknown as { setNoDelay?: (on: boolean) => void; socket?: { setNoDelay?: (on: boolean) => void } };
  stream.setNoDelay?.(true);
  stream.socket?.setNoDelay?.(true);
}

type StoreAndSend = (packet: Packet, cb: ((err?: Error) => void) | undefined, cbStorePut: () => void) => void;

/**
 * Keeps mqtt.js from deep-copying every QoS 1 PUBLISH, payload included, before storing it for
 * retransmission (rfdc in `MqttClient._storeAndSend`, mqtt.js 5.x): the copy only guards the stored packet
 * against a topic alias applied later. Per 256 KiB chunk it cost a zero-filled allocation, a copy and the
 * garbage, a sixth of the publisher's CPU in bench:mqtt. This publisher sets no topic aliases, and a
 * chunk buffer is neither changed nor reused before its PUBACK (buffers of a lost connection are never
 * reused), so storing the packet that was sent is safe. Left alone when mqtt.js no longer has that shape.
 */
function storeWithoutCopy(client: MqttClient): void {
  const c = client as unknown as { _storeAndSend?: StoreAndSend; _writePacket?: (packet: Packet, cb?: (err?: Error) => void) => void };
  const copying = c._storeAndSend;
  const write = c._writePacket;
  if (typeof copying !== 'function' || typeof write !== 'function' || client.options.autoUseTopicAlias || client.options.autoAssignTopicAlias) return;
  c._storeAndSend = (packet, cb, cbStorePut) => {
    if (packet.cmd !== 'publish' || packet.properties?.topicAlias !== undefined) {
      copying.call(client, packet, cb, cbStorePut);
      return;
    }
    client.outgoingStore.put(packet, (err) => {
      if (err) {
        cb?.(err);
        return;
      }
      cbStorePut();
      write.call(client, packet, cb);
    });
  };
}

/** Float32 samples as little-endian bytes: a view when transferred, else a copy the caller cannot disturb. */
function littleEndianBytes(data: Float32Array, transfer: boolean): Uint8Array {
  const littleHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleHost && transfer) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  if (littleHost) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } else {
    const view = new DataView(out.buffer);
    data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  }
  return out;
}

