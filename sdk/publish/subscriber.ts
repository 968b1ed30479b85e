import { EventEmitter } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { writeEnvi } from '../cube/envi';
import { writeQuicklook } from '../cube/quicklook';
import type { SpectraError } from '../core/errors';
import { type BrokerOptions, connectClient } from './broker-connection';
import { withDefaults } from '../core/defaults';
import { type Logger, type NamespacedLog, createLogger } from '../core/log';
import type { DecodeLimits } from './protocol';
import { type ReassembledCube, Reassembler, type ReassemblerStats } from './reassembler';
import { ShareRouter } from './share-router';

/** Options for {@link CubeSubscriber.connect}. */
export interface SubscriberOptions extends BrokerOptions {
  /** Write each cube here as ENVI (`.hdr` + `.img`), a `.json` meta and a quicklook `.png`. Nothing is written when omitted. */
  out?: string;
  /** Join this MQTT 5 shared-subscription group; cubes are split across members, each cube to one member. */
  share?: string;
  /** Only this device (one topic level). @defaultValue '+' (all) */
  device?: string;
  /** Also write a quicklook PNG per cube. @defaultValue true */
  quicklook?: boolean;
  /** Reassembly timeout per cube. @defaultValue 30000 */
  timeoutMs?: number;
  /** How often timeouts are checked. @defaultValue 1000 */
  sweepMs?: number;
  /** Delay between reconnection attempts after the broker went away. @defaultValue 1000 */
  reconnectMs?: number;
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

/** Events of a {@link CubeSubscriber}. */
export interface SubscriberEvents {
  cube: (cube: ReceivedCube) => void;
  /** A cube was dropped: malformed message, sha256 mismatch, chunks missing after the timeout, write failure. */
  'cube-error': (error: SpectraError | Error) => void;
  /** A cube that was already delivered arrived again (a publisher resend) and was ignored. */
  duplicate: (key: string) => void;
}

export interface CubeSubscriber {
  on<E extends keyof SubscriberEvents>(event: E, listener: SubscriberEvents[E]): this;
  once<E extends keyof SubscriberEvents>(event: E, listener: SubscriberEvents[E]): this;
  off<E extends keyof SubscriberEvents>(event: E, listener: SubscriberEvents[E]): this;
  emit<E extends keyof SubscriberEvents>(event: E, ...args: Parameters<SubscriberEvents[E]>): boolean;
}

const DEFAULTS = Object.freeze({ device: '+', quicklook: true, timeoutMs: 30_000, sweepMs: 1000, reconnectMs: 1000 });

/**
 * Receives cubes published with the cube protocol: reassembles chunks (any order, duplicates
 * ignored), verifies the sha256, reports missing chunks after a timeout, and optionally writes ENVI
 * plus a quicklook. Writes are serialised so cubes land in arrival order.
 * @example
 * const sub = await CubeSubscriber.connect({ broker: 'mqtt://127.0.0.1:1883', out: 'received' });
 * sub.on('cube', ({ meta, files }) => console.log(meta.sequence, files?.header));
 */
export class CubeSubscriber extends EventEmitter {
  private readonly log: NamespacedLog;
  private readonly reassembler: Reassembler;
  private readonly router: ShareRouter | undefined;
  private readonly timer: NodeJS.Timeout;
  private writes: Promise<void> = Promise.resolve();
  private received = 0;
  private closed = false;

  private constructor(
    private readonly client: MqttClient,
    private readonly opts: SubscriberOptions & typeof DEFAULTS,
  ) {
    super();
    this.log = createLogger('spectra:mqtt', opts.log);
    this.reassembler = new Reassembler({ timeoutMs: opts.timeoutMs, ...(opts.limits ? { limits: opts.limits } : {}) });
    this.router = opts.share !== undefined ? new ShareRouter(opts.share, client.options.clientId as string) : undefined;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.timer = setInterval(() => this.sweep(), opts.sweepMs);
    this.timer.unref();
  }

  /**
   * Connects and subscribes (QoS 1).
   * @param options - See {@link SubscriberOptions}.
   * @throws RangeError for a bad device or share group (synchronously).
   * @throws {@link BrokerConnectionError} when the broker refuses or cannot be reached (rejects).
   */
  static connect(options: SubscriberOptions): Promise<CubeSubscriber> {
    const opts = withDefaults(DEFAULTS, options);
    if (opts.device !== '+' && !/^[A-Za-z0-9_.:-]{1,64}$/.test(opts.device)) throw new RangeError(`Expected device to be one topic level but received '${opts.device}'`);
    if (opts.share !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(opts.share)) throw new RangeError(`Expected share to be one topic level but received '${opts.share}'`);
    if (opts.share !== undefined && (opts.protocolVersion ?? 5) !== 5) throw new RangeError('Shared subscriptions need protocolVersion 5');
    return CubeSubscriber.open(opts);
  }

  private static async open(opts: SubscriberOptions & typeof DEFAULTS): Promise<CubeSubscriber> {
    if (opts.out !== undefined) await mkdir(opts.out, { recursive: true });
    const clientId = opts.clientId ?? `spectra-sub-${Math.random().toString(16).slice(2, 10)}`;
    const { client } = await connectClient({ ...opts, clientId }, { clientId, clean: true });
    const sub = new CubeSubscriber(client, opts);
    const filters = sub.router
      ? [ShareRouter.dataFilter(opts.share!, opts.device), ...sub.router.controlFilters]
      : [`spectra/${opts.device}/cube/#`];
    await client.subscribeAsync(filters, { qos: 1 });
    sub.log.info(`subscribed to ${filters.join(', ')} on ${opts.broker}`);
    // Reconnect forever with a fixed short period; mqtt.js restores the subscriptions.
    client.on('close', () => {
      if (!sub.closed) setTimeout(() => !sub.closed && client.reconnect(), opts.reconnectMs).unref();
    });
    client.on('error', (err) => sub.log.warn(`broker ${opts.broker}: ${err.message}`));
    client.on('connect', (ack) => {
      sub.log.info(`reconnected to ${opts.broker}${ack.sessionPresent ? ' (session resumed)' : ''}`);
      // mqtt.js's reconnect() forgets subscriptions when the broker lost the session; restore them.
      if (!ack.sessionPresent) client.subscribe(filters, { qos: 1 });
    });
    return sub;
  }

  /** Reassembly counters. */
  get stats(): ReassemblerStats & { written: number } {
    return { ...this.reassembler.stats, written: this.received };
  }

  /** Unsubscribes, waits for pending writes and disconnects. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.client.endAsync();
    await this.writes;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const routed = this.router ? this.router.route(topic, payload) : { local: [{ topic, payload }], publish: [] };
    for (const m of routed.publish) this.client.publish(m.topic, Buffer.from(m.payload), { qos: 1 });
    for (const m of routed.local) {
      for (const ev of this.reassembler.accept(m.topic, m.payload)) {
        if (ev.type === 'cube') {
          this.router?.done(`${ev.cube.meta.device}/${ev.cube.meta.sequence}/${ev.cube.meta.cubeId}`);
          this.deliver(ev.cube);
        } else if (ev.type === 'duplicate') {
          this.emit('duplicate', ev.key);
        } else {
          this.log.warn(ev.error.message);
          this.emit('cube-error', ev.error);
        }
      }
    }
  }

  private sweep(): void {
    for (const ev of this.reassembler.sweep()) {
      if (ev.type !== 'error') continue;
      this.log.warn(ev.error.message);
      this.emit('cube-error', ev.error);
    }
    this.router?.sweep();
  }

  private deliver(cube: ReassembledCube): void {
    this.writes = this.writes.then(async () => {
      try {
        const files = this.opts.out !== undefined ? await this.write(cube) : undefined;
        this.received++;
        this.emit('cube', { ...cube, ...(files ? { files } : {}) });
      } catch (err) {
        this.log.error(`cube ${cube.meta.device}/${cube.meta.sequence}: cannot write: ${(err as Error).message}`);
        this.emit('cube-error', err as Error);
      }
    });
  }

  private async write({ meta, cube }: ReassembledCube): Promise<WrittenFiles> {
    const stem = join(this.opts.out!, `${meta.device}_${String(meta.sequence).padStart(6, '0')}_${meta.cubeId}`);
    const { header, data } = await writeEnvi(`${stem}.hdr`, cube, {
      extra: { description: `spectra-cube/1 ${meta.device} sequence ${meta.sequence} model ${meta.model?.id ?? 'unknown'}` },
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
