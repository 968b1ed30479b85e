import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { writeEnvi } from '../cube/envi';
import { writeQuicklook } from '../cube/quicklook';
import type { SpectraError } from '../core/errors';
import { type BrokerOptions, clientOptions, connectClient, credentialsFromUrl, endClient, explainConnectError, redactUrl } from './broker-connection';
import { withDefaults } from '../core/defaults';
import { type Logger, type NamespacedLog, createLogger } from '../core/log';
import {
  CUBE_PROTOCOL,
  type DecodeLimits,
  MAX_SEQUENCES_PER_MESSAGE,
  type CubeReceipt,
  type ResendRequest,
  decodeControl,
  lostTopic,
  receiptTopic,
  resendTopic,
} from './protocol';
import { type ReassembledCube, Reassembler, type ReassemblerOptions, type ReassemblerStats } from './reassembler';
import { type RouteResult, ShareRouter, type ShareRouterStats } from './share-router';

/** Options for {@link CubeSubscriber.connect}. */
export interface SubscriberOptions extends BrokerOptions {
  /** Write each cube here as ENVI (`.hdr` + `.img`), a `.json` meta and a quicklook `.png`. Nothing is written when omitted. */
  out?: string;
  /**
   * Join this MQTT 5 shared-subscription group; cubes are split across members, each cube whole to one member.
   * With a device in pull delivery (`delivery: 'pull'`, whose `receiptGroup` is `group`) members get even
   * shares and every chunk crosses the broker once; with a device that pushes, the claim rule applies
   * (docs/cube-protocol.md §6.2).
   */
  share?: string;
  /** Only this device (one topic level). @defaultValue '+' (all) */
  device?: string;
  /** Also write a quicklook PNG per cube. @defaultValue true */
  quicklook?: boolean;
  /** Reassembly timeout per cube. @defaultValue 30000 */
  timeoutMs?: number;
  /** How often timeouts and sequence gaps are checked. @defaultValue 1000 */
  sweepMs?: number;
  /** First delay before reconnecting after the broker went away; doubles up to 5 s. @defaultValue 100 */
  reconnectMs?: number;
  /**
   * MQTT 5 session expiry: with `clean: false` the broker keeps this subscriber's session (its subscriptions
   * and the QoS 1 messages that arrive while it is away) this long. 0 = a clean session. @defaultValue 3600
   */
  sessionExpirySeconds?: number;
  /** Subscription QoS. QoS 0 gives up the broker's queueing for this subscriber. @defaultValue 1 */
  qos?: 0 | 1;
  /**
   * v2 receipts: after a cube is verified (and written, when `out` is set), publish a receipt on
   * `spectra/<device>/receipt/<group>`, ask for resends of sequence gaps on `spectra/<device>/resend/<group>`
   * and listen for the device's loss notices. @defaultValue true
   */
  receipts?: boolean;
  /** Consumer group named in receipts and resend requests; a publisher keeps cubes until this group acknowledged them. @defaultValue share ?? 'default' */
  group?: string;
  /** A sequence gap this old (no cube, nothing in progress) is asked for again. @defaultValue 3000 */
  resendAfterMs?: number;
  /** Resend requests per missing sequence before it is reported missing. @defaultValue 5 */
  maxResendRequests?: number;
  /**
   * Payload bytes of received cubes waiting to be written. Beyond it the subscriber stops acknowledging
   * messages (the PUBACK waits), so the broker holds the backlog instead of this process. @defaultValue 256 MiB
   */
  maxWriteQueueBytes?: number;
  /**
   * `false`: return at once and connect in the background (a device that boots before the broker).
   * @defaultValue true
   */
  waitForBroker?: boolean;
  /** Reassembler bounds (pending bytes, pending cubes per device, …). */
  reassembler?: Omit<ReassemblerOptions, 'timeoutMs' | 'limits'>;
  limits?: DecodeLimits;
  /** Log sink for namespace `spectra:mqtt`. */
  log?: Logger;
}

/** Files written for one cube. */
export interface WrittenFiles {
  header: string;
  data: string;
  meta: string;
  quicklook?: string;
}

/** A cube that arrived complete and verified. */
export interface ReceivedCube extends ReassembledCube {
  /** Present when `out` was set. */
  files?: WrittenFiles;
}

/** Why a sequence number is reported missing. */
export type MissingReason = 'evicted' | 'rejected' | 'not-held' | 'no-answer';

/** Events of a {@link CubeSubscriber}. */
export interface SubscriberEvents {
  cube: (cube: ReceivedCube) => void;
  /** A cube was dropped: malformed message, sha256 mismatch, chunks missing after the timeout, write failure. */
  'cube-error': (error: SpectraError | Error) => void;
  /** A cube that was already delivered arrived again (a publisher resend) and was ignored. */
  duplicate: (key: string) => void;
  /**
   * A cube will not arrive: the device announced it lost (outbox eviction, broker refusal, no longer held),
   * or a sequence gap stayed open through every resend request.
   */
  missing: (device: string, sequence: number, reason: MissingReason) => void;
}

export interface CubeSubscriber {
  on<E extends keyof SubscriberEvents>(event: E, listener: SubscriberEvents[E]): this;
  once<E extends keyof SubscriberEvents>(event: E, listener: SubscriberEvents[E]): this;
  off<E extends keyof SubscriberEvents>(event: E, listener: SubscriberEvents[E]): this;
  emit<E extends keyof SubscriberEvents>(event: E, ...args: Parameters<SubscriberEvents[E]>): boolean;
}

/** Defaults for {@link SubscriberOptions}. */
export const DEFAULT_SUBSCRIBER_OPTIONS = Object.freeze({
  device: '+',
  quicklook: true,
  timeoutMs: 30_000,
  sweepMs: 1000,
  reconnectMs: 100,
  sessionExpirySeconds: 3600,
  qos: 1 as 0 | 1,
  receipts: true,
  resendAfterMs: 3000,
  maxResendRequests: 5,
  maxWriteQueueBytes: 256 * 1024 ** 2,
  waitForBroker: true,
});

type Resolved = SubscriberOptions & typeof DEFAULT_SUBSCRIBER_OPTIONS & { group: string; clientId: string };

/** Sequence bookkeeping of one device, for gap detection (v2). */
interface DeviceTrack {
  /** Highest sequence delivered so far; gaps are looked for below it only. */
  highest: number;
  delivered: Set<number>;
  gaps: Map<number, { since: number; requests: number; lastRequest: number }>;
  /** Sequences already reported missing (each once). */
  reported: Set<number>;
}

/** Gaps opened by one jump in sequence numbers at most; a jump beyond is a restarted counter, not losses. */
const MAX_GAP = 10_000;

/**
 * A stable client id for a subscriber: the same host, output folder, device filter and share group give the
 * same id across restarts (so the broker's persistent session, and the messages it queued, are found again),
 * while two subscribers with different folders on one host never take each other's session over.
 * @param options - Subscriber options.
 * @returns `spectra-sub-<host>-<8 hex>`.
 */
export function defaultSubscriberClientId(options: Pick<SubscriberOptions, 'out' | 'device' | 'share' | 'broker'>): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40) || 'host';
  const key = JSON.stringify([options.out !== undefined ? resolve(options.out) : '', options.device ?? '+', options.share ?? '', redactUrl(options.broker)]);
  return `spectra-sub-${host}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/**
 * Receives cubes published with the cube protocol: reassembles chunks (any order, duplicates ignored,
 * memory bounded), verifies the sha256, reports missing chunks after a timeout, optionally writes ENVI plus a
 * quicklook, and (v2) acknowledges every stored cube with a receipt, asks the device to resend sequence gaps
 * and reports sequences that will never come. It keeps a persistent session (QoS 1, `clean: false`, session
 * expiry) under a stable client id and reconnects for as long as it is open. Writes are serialised so cubes
 * land in arrival order, and bounded: a full write queue holds back PUBACKs instead of growing memory.
 * A cube is acknowledged only once taken (written to `out`, or handed to a 'cube' listener); until the
 * first listener is attached, cubes a resumed session brings in wait for it.
 * @example
 * const sub = await CubeSubscriber.connect({ broker: 'mqtt://127.0.0.1:1883', out: 'received' });
 * sub.on('cube', ({ meta, files }) => console.log(meta.sequence, files?.header));
 * sub.on('missing', (device, sequence, why) => console.error('lost', device, sequence, why));
 */
export class CubeSubscriber extends EventEmitter {
  private readonly log: NamespacedLog;
  private readonly reassembler: Reassembler;
  private readonly router: ShareRouter | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly filters: string[];
  private readonly tracks = new Map<string, DeviceTrack>();
  private writes: Promise<void> = Promise.resolve();
  /** Resolves once somebody takes cubes (a 'cube' listener or `out`), or on close. */
  private readonly taker: Promise<void>;
  private openTaker: () => void = () => {};
  private queuedBytes = 0;
  private readonly heldAcks: (() => void)[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private received = 0;
  private readonly counters = { receiptsSent: 0, resendRequests: 0, missing: 0, reconnects: 0 };
  /** Cubes (`device/sequence/cubeId`) stored and receipted, newest last; a re-offer of one is answered with the receipt. */
  private readonly stored = new Set<string>();
  private closed = false;

  /**
   * @param subscribed - The first connect's subscription is made (and awaited) by `open`, so it can fail
   *   `connect()`; later connects that lost the session subscribe here.
   */
  private constructor(
    private readonly client: MqttClient,
    private readonly opts: Resolved,
    private openSubscribes = false,
  ) {
    super();
    this.log = createLogger('spectra:mqtt', opts.log);
    // A persistent session starts delivering queued cubes before connect() returns to the caller: a cube
    // receipted before any listener was attached would be gone for good, so delivery waits for a taker.
    this.taker = new Promise((resolve) => (this.openTaker = resolve));
    if (opts.out !== undefined) this.openTaker();
    else super.on('newListener', (event: string | symbol) => event === 'cube' && this.openTaker());
    // mqtt.js gives every message a payload of its own and never touches it again, so chunks are kept uncopied.
    this.reassembler = new Reassembler({ ...opts.reassembler, timeoutMs: opts.timeoutMs, ownsPayloads: true, ...(opts.limits ? { limits: opts.limits } : {}) });
    this.router =
      opts.share !== undefined ? new ShareRouter(opts.share, opts.clientId, { consumerGroup: opts.group, isStored: (key) => this.stored.has(key) }) : undefined;
    this.filters = this.router ? [ShareRouter.dataFilter(opts.share!, opts.device), ...this.router.controlFilters] : [`spectra/${opts.device}/cube/#`];
    // Pull delivery needs receipts: a device that pulls are sent to waits for them.
    if (this.router && opts.receipts) this.filters.push(...this.router.pullFilters(opts.device));
    if (opts.receipts) this.filters.push(lostTopic(opts.device));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    // Backpressure: mqtt.js sends a QoS 1 PUBACK (and reads the next packet) only once this callback runs.
    client.handleMessage = (_packet, done) => {
      if (this.queuedBytes <= opts.maxWriteQueueBytes || this.closed) done();
      else this.heldAcks.push(() => done());
    };
    client.on('connect', (ack) => {
      this.failures = 0;
      this.log.info(`connected to ${opts.broker} as ${opts.clientId}${ack.sessionPresent ? ' (session resumed)' : ''}`);
      // A broker that lost our session (restart without persistence, expiry) lost the subscriptions too.
      if (!ack.sessionPresent && !this.openSubscribes) this.subscribe();
      this.openSubscribes = false;
    });
    client.on('close', () => this.scheduleReconnect());
    client.on('error', (err) => this.log.warn(explainConnectError(opts.broker, err).message));
    // Not unref()'d: while a subscriber is open its timers keep the process alive, so a broker outage
    // does not end `spectra subscribe` (issue 17: it exited 0 within 36 ms of losing the broker).
    this.timer = setInterval(() => this.sweep(), opts.sweepMs);
  }

  /**
   * Connects and subscribes (QoS 1, persistent session).
   * @param options - See {@link SubscriberOptions}.
   * @throws RangeError for a bad device, share group or client id (synchronously).
   * @throws {@link BrokerConnectionError} when the broker refuses or cannot be reached (rejects; not with `waitForBroker: false`).
   */
  static connect(options: SubscriberOptions): Promise<CubeSubscriber> {
    const split = credentialsFromUrl(options.broker);
    const base = withDefaults(DEFAULT_SUBSCRIBER_OPTIONS, { ...options, broker: split.url, username: options.username ?? split.username, password: options.password ?? split.password });
    const opts: Resolved = { ...base, group: base.group ?? base.share ?? 'default', clientId: base.clientId ?? defaultSubscriberClientId(base) };
    const level = /^[A-Za-z0-9_.:-]{1,64}$/;
    if (opts.device !== '+' && !level.test(opts.device)) throw new RangeError(`Expected device to be one topic level but received '${opts.device}'`);
    if (opts.share !== undefined && !level.test(opts.share)) throw new RangeError(`Expected share to be one topic level but received '${opts.share}'`);
    if (!level.test(opts.group)) throw new RangeError(`Expected group to be one topic level but received '${opts.group}'`);
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(opts.clientId)) throw new RangeError(`Expected clientId to be 1-128 characters of [A-Za-z0-9_.:-] but received '${opts.clientId}'`);
    if (opts.share !== undefined && (opts.protocolVersion ?? 5) !== 5) throw new RangeError('Shared subscriptions need protocolVersion 5');
    if (opts.qos !== 0 && opts.qos !== 1) throw new RangeError(`Expected qos 0 or 1 but received ${String(opts.qos)}`);
    return CubeSubscriber.open(opts);
  }

  private static async open(opts: Resolved): Promise<CubeSubscriber> {
    if (opts.out !== undefined) await mkdir(opts.out, { recursive: true });
    const v5 = (opts.protocolVersion ?? 5) === 5;
    const persistent = opts.sessionExpirySeconds > 0;
    const session: IClientOptions = {
      clientId: opts.clientId,
      clean: !persistent,
      ...(v5 && persistent ? { properties: { sessionExpiryInterval: opts.sessionExpirySeconds } } : {}),
    };
    if (!opts.waitForBroker) {
      const client = mqtt.connect(opts.broker, await clientOptions(opts, session));
      const sub = new CubeSubscriber(client, opts);
      sub.log.info(`started without waiting for ${opts.broker}; subscribing once it answers`);
      return sub;
    }
    let sub: CubeSubscriber | undefined;
    try {
      await connectClient(opts, session, (client) => (sub = new CubeSubscriber(client, opts, true)));
    } catch (err) {
      sub?.stop();
      throw err;
    }
    if (sub === undefined) throw new Error('unreachable: connectClient attaches before connecting');
    await sub.client.subscribeAsync(sub.filters, { qos: opts.qos });
    sub.log.info(`subscribed to ${sub.filters.join(', ')} on ${opts.broker} as ${opts.clientId}`);
    return sub;
  }

  /** This subscriber's MQTT client id. */
  get clientId(): string {
    return this.opts.clientId;
  }

  /**
   * Reassembly counters plus delivery counters, and the share group's (zero without `share`): `forwarded` counts
   * messages this member sent on to another member (each crossed the broker twice), `pulls` the cubes it pulled.
   */
  get stats(): ReassemblerStats &
    ShareRouterStats & { written: number; receiptsSent: number; resendRequests: number; missing: number; reconnects: number; writeQueueBytes: number } {
    const share = this.router?.stats ?? { offers: 0, pulls: 0, direct: 0, forwarded: 0, forwardedBytes: 0, inbox: 0 };
    return { ...this.reassembler.stats, ...share, written: this.received, ...this.counters, writeQueueBytes: this.queuedBytes };
  }

  /** Sequences reported missing so far, per device (ascending). */
  missing(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [device, t] of this.tracks) if (t.reported.size > 0) out[device] = [...t.reported].sort((a, b) => a - b);
    return out;
  }

  /**
   * Stops reconnecting, waits for pending writes (and their receipts) and disconnects; never hangs on a dead
   * broker (the disconnect is forced after a short grace).
   */
  async close(): Promise<void> {
    // A member leaving the group stops taking offers, so the broker deals the next ones to the others at once
    // instead of queueing them in this session (they would come back only by the device's receipt timeout).
    if (this.router && this.opts.receipts && this.client.connected && !this.closed) {
      const offers = this.router.pullFilters(this.opts.device)[0];
      await Promise.race([this.client.unsubscribeAsync(offers).catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    this.stop();
    for (const release of this.heldAcks.splice(0)) release();
    await this.writes;
    await endClient(this.client, 2000);
  }

  /** Stops the timers and reconnects and releases held deliveries (nothing more arrives after this). */
  private stop(): void {
    this.closed = true;
    this.openTaker();
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
  }

  private subscribe(): void {
    this.client.subscribe(this.filters, { qos: this.opts.qos }, (err) => {
      if (err) this.log.warn(`cannot subscribe to ${this.filters.join(', ')}: ${err.message}`);
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    if (this.failures === 0) this.log.warn(`lost the broker ${this.opts.broker}; reconnecting`);
    const base = Math.min(5000, this.opts.reconnectMs * 2 ** Math.min(this.failures, 16));
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.counters.reconnects++;
      this.client.reconnect();
    }, base);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.opts.receipts && topic.startsWith('spectra/') && topic.endsWith('/lost')) {
      this.onLossNotice(topic, payload);
      return;
    }
    // Closing: nothing new is taken (no pull, no cube, no receipt), so whatever still arrives goes to another
    // member or to the next run by the device's receipt timeout instead of being half-delivered here.
    if (this.closed) return;
    const routed: RouteResult = this.router ? this.router.route(topic, payload) : { local: [{ topic, payload }], publish: [] };
    for (const m of routed.publish) this.client.publish(m.topic, Buffer.from(m.payload), { qos: 1 });
    for (const key of routed.receipts ?? []) {
      const [device, sequence, cubeId] = key.split('/');
      this.sendReceipt(device, Number(sequence), cubeId);
    }
    for (const m of routed.local) {
      for (const ev of this.reassembler.accept(m.topic, m.payload)) {
        if (ev.type === 'cube') {
          this.router?.done(`${ev.cube.meta.device}/${ev.cube.meta.sequence}/${ev.cube.meta.cubeId}`);
          this.deliver(ev.cube);
        } else if (ev.type === 'duplicate') {
          // The device sent a cube we already stored: our receipt was lost (or it never got it), so send it again.
          const [device, sequence, cubeId] = ev.key.split('/');
          if (this.opts.receipts && this.tracks.get(device)?.delivered.has(Number(sequence))) this.sendReceipt(device, Number(sequence), cubeId);
          this.emit('duplicate', ev.key);
        } else {
          this.log.warn(ev.error.message);
          this.emit('cube-error', ev.error);
        }
      }
    }
  }

  private onLossNotice(topic: string, payload: Buffer): void {
    let msg;
    try {
      msg = decodeControl(topic, payload);
    } catch (err) {
      this.log.warn((err as Error).message);
      return;
    }
    if (msg?.kind !== 'lost') return;
    const track = this.track(msg.device);
    for (const s of msg.notice.sequences) {
      if (track.delivered.has(s)) continue;
      track.gaps.delete(s);
      // A skipped number never was a cube (capture dropped the frame): the gap closes without a loss.
      if (msg.notice.reason !== 'skipped') this.reportMissing(msg.device, s, msg.notice.reason);
    }
  }

  private track(device: string): DeviceTrack {
    let t = this.tracks.get(device);
    if (t === undefined) {
      t = { highest: -1, delivered: new Set(), gaps: new Map(), reported: new Set() };
      this.tracks.set(device, t);
    }
    return t;
  }

  private reportMissing(device: string, sequence: number, reason: MissingReason): void {
    const t = this.track(device);
    if (t.reported.has(sequence)) return;
    t.reported.add(sequence);
    this.counters.missing++;
    this.log.error(`cube ${device}/${sequence} is missing (${reason === 'no-answer' ? `no answer to ${this.opts.maxResendRequests} resend requests` : `the device reports it ${reason}`})`);
    this.emit('missing', device, sequence, reason);
  }

  /** Records a stored cube and opens gaps for sequences skipped since the highest one seen (v2 gap detection). */
  private delivered(device: string, sequence: number, now: number): void {
    const t = this.track(device);
    t.delivered.add(sequence);
    t.gaps.delete(sequence);
    if (t.reported.delete(sequence)) this.counters.missing--;
    // Shared members see only some sequences, so gap detection is left to the publisher's receipt timeout there.
    if (this.router === undefined && t.highest >= 0 && sequence > t.highest + 1 && sequence - t.highest <= MAX_GAP) {
      for (let s = t.highest + 1; s < sequence; s++) if (!t.delivered.has(s)) t.gaps.set(s, { since: now, requests: 0, lastRequest: 0 });
    }
    t.highest = Math.max(t.highest, sequence);
    // Bounded memory over long runs: sequences far below the highest are forgotten.
    if (t.delivered.size > 2 * MAX_GAP) for (const s of t.delivered) if (s < t.highest - MAX_GAP) t.delivered.delete(s);
  }

  private sweep(now = Date.now()): void {
    for (const ev of this.reassembler.sweep(now)) {
      if (ev.type !== 'error') continue;
      this.log.warn(ev.error.message);
      this.emit('cube-error', ev.error);
    }
    this.router?.sweep();
    if (!this.opts.receipts || !this.client.connected) return;
    for (const [device, t] of this.tracks) {
      const ask: number[] = [];
      for (const [s, g] of t.gaps) {
        if (now - g.since < this.opts.resendAfterMs || now - g.lastRequest < this.opts.resendAfterMs) continue;
        if (g.requests >= this.opts.maxResendRequests) {
          t.gaps.delete(s);
          this.reportMissing(device, s, 'no-answer');
          continue;
        }
        g.requests++;
        g.lastRequest = now;
        if (ask.length < MAX_SEQUENCES_PER_MESSAGE) ask.push(s);
      }
      if (ask.length === 0) continue;
      const request: ResendRequest = { protocol: CUBE_PROTOCOL, sequences: ask, consumer: this.opts.clientId };
      this.counters.resendRequests++;
      this.log.warn(`device ${device}: sequence(s) ${ask.join(', ')} missing; asking for a resend`);
      this.client.publish(resendTopic(device, this.opts.group), JSON.stringify(request), { qos: 1 });
    }
  }

  private remember(key: string): void {
    this.stored.add(key);
    if (this.stored.size > 4096) this.stored.delete(this.stored.values().next().value as string);
  }

  private sendReceipt(device: string, sequence: number, cubeId: string): void {
    const receipt: CubeReceipt = { protocol: CUBE_PROTOCOL, sequence, cubeId, consumer: this.opts.clientId };
    this.counters.receiptsSent++;
    // QoS 1 in a persistent session: mqtt.js queues it while offline and the broker keeps it for the device.
    this.client.publish(receiptTopic(device, this.opts.group), JSON.stringify(receipt), { qos: 1 });
  }

  private deliver(cube: ReassembledCube): void {
    const bytes = cube.meta.payloadBytes;
    this.queuedBytes += bytes;
    this.writes = this.writes.then(async () => {
      await this.taker;
      try {
        // Closed before anybody took it: no receipt, so the device keeps it and sends it again later.
        if (this.opts.out === undefined && this.listenerCount('cube') === 0) return;
        const files = this.opts.out !== undefined ? await this.write(cube) : undefined;
        this.received++;
        // The receipt goes out only once the cube is stored: a crash before this makes the device send it again.
        if (this.opts.receipts) this.sendReceipt(cube.meta.device, cube.meta.sequence, cube.meta.cubeId);
        this.remember(`${cube.meta.device}/${cube.meta.sequence}/${cube.meta.cubeId}`);
        this.delivered(cube.meta.device, cube.meta.sequence, Date.now());
        // Losses the device announced in-band: reported even if the notice on the lost topic never reached us.
        for (const l of cube.meta.lost ?? []) {
          const t = this.track(cube.meta.device);
          if (t.delivered.has(l.sequence)) continue;
          t.gaps.delete(l.sequence);
          this.reportMissing(cube.meta.device, l.sequence, l.reason);
        }
        this.emit('cube', { ...cube, ...(files ? { files } : {}) });
      } catch (err) {
        this.log.error(`cube ${cube.meta.device}/${cube.meta.sequence}: cannot write: ${(err as Error).message}`);
        this.emit('cube-error', err as Error);
      } finally {
        this.queuedBytes -= bytes;
        if (this.queuedBytes <= this.opts.maxWriteQueueBytes) for (const release of this.heldAcks.splice(0)) release();
      }
    });
  }

  private async write({ meta, cube }: ReassembledCube): Promise<WrittenFiles> {
    // Every part of the stem was validated by the decoder (device: one topic level, sequence: integer, cubeId: hex).
    const stem = join(this.opts.out!, `${meta.device}_${String(meta.sequence).padStart(6, '0')}_${meta.cubeId}`);
    const { header, data } = await writeEnvi(`${stem}.hdr`, cube, {
      extra: { description: `${meta.protocol} ${meta.device} sequence ${meta.sequence} model ${meta.model?.id ?? 'unknown'}` },
    });
    const metaPath = `${stem}.json`;
    await writeFile(metaPath, JSON.stringify(meta, null, 2));
    let quicklook: string | undefined;
    if (this.opts.quicklook) {
      quicklook = `${stem}.png`;
      await writeQuicklook(quicklook, cube);
    }
    return { header, data, meta: metaPath, ...(quicklook ? { quicklook } : {}) };
  }
}
