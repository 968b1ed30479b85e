import { CUBE_PROTOCOL, type PullRequest, decodeChunk, decodeControl, parseCubeTopic, parseDirectTopic, pullTopic } from './protocol';

/** A message to publish (forward or claim) or to feed to the local reassembler. */
export interface RoutedMessage {
  topic: string;
  payload: Uint8Array;
}

/** What the router decided for one incoming message. */
export interface RouteResult {
  /** Feed these to this member's reassembler. */
  local: RoutedMessage[];
  /** Publish these (pull requests, claims, forwards to the owner). */
  publish: RoutedMessage[];
  /**
   * Pull delivery: cubes (`device/sequence/cubeId`) offered again although this member already stored them (its
   * receipt was lost or late): send the receipt again instead of pulling them a second time.
   */
  receipts?: string[];
}

/** Counters of a {@link ShareRouter}. */
export interface ShareRouterStats {
  /** Pull delivery: offers received (one per cube dealt to this member). */
  offers: number;
  /** Pull delivery: pull requests sent. */
  pulls: number;
  /** Pull delivery: messages received on this member's direct topics (meta and chunks of pulled cubes). */
  direct: number;
  /** Claim rule (push devices): messages this member forwarded to another member's inbox, i.e. that crossed the broker twice. */
  forwarded: number;
  /** Payload bytes of those. */
  forwardedBytes: number;
  /** Claim rule: messages received from other members' forwards. */
  inbox: number;
}

/** Options for {@link ShareRouter}. */
export interface ShareRouterOptions {
  /** Chunks waiting for a claim are dropped after this long (the owner then reports them missing). @defaultValue 30000 */
  parkMs?: number;
  /** Bytes of parked chunks before the oldest are dropped. @defaultValue 256 MiB */
  maxParkedBytes?: number;
  /** Claims remembered. @defaultValue 4096 */
  rememberClaims?: number;
  /** Consumer group named in pull requests (the device's `receiptGroup`). @defaultValue the share group */
  consumerGroup?: string;
  /** Whether this member already stored a cube (`device/sequence/cubeId`); such offers are answered with a receipt, not a pull. */
  isStored?: (key: string) => boolean;
}

/**
 * Makes MQTT 5 shared subscriptions deliver whole cubes, each to one member.
 *
 * Pull delivery (devices with `delivery: 'pull'`; docs/cube-protocol.md §6.2): the device offers each cube with
 * one message on `spectra/<device>/offer/<group>`, which members subscribe to shared, so the broker deals
 * offers (whole cubes) round-robin. The member that gets an offer asks for the cube on
 * `spectra/<device>/pull/<group>`; the device sends meta and chunks to `spectra/<device>/to/<member>/cube/…`,
 * which only that member subscribes to. Nothing is forwarded. An overdue receipt brings the offer back to
 * that member first (`spectra/<device>/to/<member>/offer/<group>`), which answers with its receipt if it
 * stored the cube, so a lost receipt does not make a second member take the cube too.
 *
 * Claim rule (devices that push meta and chunks on `spectra/<device>/cube/…`): a shared subscription hands
 * each *message* to one member of the group, so the chunks of one cube scatter across members:
 *
 * 1. The member that receives a cube's meta owns the cube and announces a claim on
 *    `spectra-share/<group>/claim/<device>/<sequence>/<cubeId>` (payload: its client id), which every member
 *    subscribes to without sharing.
 * 2. A member that receives a chunk it does not own forwards it unchanged to the owner's inbox,
 *    `spectra-share/<group>/inbox/<owner>/<original topic>`; chunks that arrive before the claim wait
 *    (bounded in time and bytes) and are forwarded when it comes.
 * 3. If two members claim the same cube (the publisher re-sent its meta after a restart), the smaller
 *    client id wins everywhere; the loser forwards what it holds to the winner.
 *
 * This class only decides; {@link CubeSubscriber} does the MQTT I/O.
 */
export class ShareRouter {
  private readonly claims = new Map<string, string>();
  private readonly parked = new Map<string, { at: number; messages: RoutedMessage[] }>();
  /** Raw messages of cubes this member owns, kept so they can be handed over if it loses a tie-break. */
  private readonly owned = new Map<string, RoutedMessage[]>();
  private parkedBytes = 0;
  private readonly parkMs: number;
  private readonly maxParkedBytes: number;
  private readonly rememberClaims: number;
  private readonly consumerGroup: string;
  private readonly isStored: (key: string) => boolean;
  private readonly counters: ShareRouterStats = { offers: 0, pulls: 0, direct: 0, forwarded: 0, forwardedBytes: 0, inbox: 0 };

  /**
   * @param group - Share group name (one topic level).
   * @param me - This member's MQTT client id (one topic level).
   * @param options - See {@link ShareRouterOptions}.
   */
  constructor(
    readonly group: string,
    readonly me: string,
    options: ShareRouterOptions = {},
  ) {
    this.parkMs = options.parkMs ?? 30_000;
    this.maxParkedBytes = options.maxParkedBytes ?? 256 * 1024 ** 2;
    this.rememberClaims = options.rememberClaims ?? 4096;
    this.consumerGroup = options.consumerGroup ?? group;
    this.isStored = options.isStored ?? (() => false);
    for (const [name, v] of [['group', group], ['client id', me], ['consumer group', this.consumerGroup]]) {
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(v)) throw new RangeError(`Expected the share ${name} to be one topic level of [A-Za-z0-9_.:-] but received '${v}'`);
    }
  }

  /** Counters so far (a copy). */
  get stats(): ShareRouterStats {
    return { ...this.counters };
  }

  /** Topic filters this member subscribes to (besides the shared data subscription). */
  get controlFilters(): string[] {
    return [`spectra-share/${this.group}/claim/#`, `spectra-share/${this.group}/inbox/${this.me}/#`];
  }

  /** The shared data subscription (claim rule, for devices that push). */
  static dataFilter(group: string, device = '+'): string {
    return `$share/${group}/spectra/${device}/cube/#`;
  }

  /**
   * Pull delivery: the shared offer subscription and this member's direct (not shared) subscription.
   * @param device - One device, or `+` for all. @defaultValue '+'
   */
  pullFilters(device = '+'): string[] {
    return [`$share/${this.group}/spectra/${device}/offer/${this.consumerGroup}`, `spectra/${device}/to/${this.me}/#`];
  }

  /**
   * Routes one received message.
   * @param topic - Topic it arrived on.
   * @param payload - Payload.
   * @param now - Clock. @defaultValue Date.now()
   */
  route(topic: string, payload: Uint8Array, now: number = Date.now()): RouteResult {
    const out: RouteResult = { local: [], publish: [] };
    const direct = parseDirectTopic(topic);
    if (direct !== undefined) {
      // Sent to this member alone because it pulled the cube; anything addressed elsewhere is not ours.
      if (direct.consumer !== this.me) return out;
      // An offer made again to this member only: its receipt for a cube it pulled is overdue.
      if (/\/offer\/[^/]+$/.test(direct.cubeTopic)) this.onOffer(direct.cubeTopic, payload, out);
      else {
        this.counters.direct++;
        out.local.push({ topic: direct.cubeTopic, payload });
      }
      return out;
    }
    if (/^spectra\/[^/]+\/offer\/[^/]+$/.test(topic)) {
      this.onOffer(topic, payload, out);
      return out;
    }
    const inbox = `spectra-share/${this.group}/inbox/${this.me}/`;
    if (topic.startsWith(inbox)) {
      this.counters.inbox++;
      out.local.push({ topic: topic.slice(inbox.length), payload });
      return out;
    }
    const claimPrefix = `spectra-share/${this.group}/claim/`;
    if (topic.startsWith(claimPrefix)) {
      this.onClaim(topic.slice(claimPrefix.length), Buffer.from(payload).toString('utf8'), out);
      return out;
    }
    const where = parseCubeTopic(topic);
    if (where === undefined) return out;
    if (where.kind === 'meta') {
      // The cube id is in the meta JSON; a malformed meta is the reassembler's to reject.
      const cubeId = metaCubeId(payload);
      if (cubeId === undefined) {
        out.local.push({ topic, payload });
        return out;
      }
      const key = `${where.device}/${where.sequence}/${cubeId}`;
      const owner = this.claims.get(key);
      if (owner !== undefined && owner !== this.me) {
        this.forward(owner, topic, payload, out);
        return out;
      }
      if (owner === undefined) {
        this.setClaim(key, this.me);
        out.publish.push({ topic: claimPrefix + key, payload: Buffer.from(this.me) });
      }
      this.keep(key, topic, payload);
      out.local.push({ topic, payload });
      this.flushParked(key, out);
      return out;
    }
    let cubeId: string;
    try {
      cubeId = decodeChunk(topic, payload).cubeId;
    } catch {
      out.local.push({ topic, payload }); // let the reassembler report it
      return out;
    }
    const key = `${where.device}/${where.sequence}/${cubeId}`;
    const owner = this.claims.get(key);
    if (owner === this.me) {
      this.keep(key, topic, payload);
      out.local.push({ topic, payload });
    } else if (owner !== undefined) {
      this.forward(owner, topic, payload, out);
    } else {
      this.park(key, { topic, payload: Uint8Array.from(payload) }, now);
    }
    return out;
  }

  /** Forgets a cube this member finished (or gave up on). */
  done(key: string): void {
    this.owned.delete(key);
  }

  /**
   * Drops parked chunks older than `parkMs`.
   * @returns How many were dropped.
   */
  sweep(now: number = Date.now()): number {
    let dropped = 0;
    for (const [key, p] of this.parked) {
      if (now - p.at < this.parkMs) continue;
      dropped += p.messages.length;
      this.unpark(key);
    }
    return dropped;
  }

  /** Pull delivery: an offer dealt to this member; ask the device for the cube (or re-send the receipt). */
  private onOffer(topic: string, payload: Uint8Array, out: RouteResult): void {
    let msg;
    try {
      msg = decodeControl(topic, payload);
    } catch {
      return; // malformed: nothing to pull
    }
    if (msg?.kind !== 'offer' || msg.group !== this.consumerGroup) return;
    this.counters.offers++;
    const { sequence, cubeId } = msg.offer;
    const key = `${msg.device}/${sequence}/${cubeId}`;
    if (this.isStored(key)) {
      (out.receipts ??= []).push(key);
      return;
    }
    const request: PullRequest = { protocol: CUBE_PROTOCOL, sequence, cubeId, consumer: this.me };
    this.counters.pulls++;
    out.publish.push({ topic: pullTopic(msg.device, this.consumerGroup), payload: Buffer.from(JSON.stringify(request)) });
  }

  private onClaim(key: string, claimant: string, out: RouteResult): void {
    const current = this.claims.get(key);
    if (current !== undefined && current <= claimant) return;
    this.setClaim(key, claimant);
    if (current === this.me && claimant !== this.me) {
      // Lost the tie-break: hand everything received so far to the winner.
      for (const m of this.owned.get(key) ?? []) this.forward(claimant, m.topic, m.payload, out);
      this.owned.delete(key);
    }
    this.flushParked(key, out);
  }

  private flushParked(key: string, out: RouteResult): void {
    const p = this.parked.get(key);
    if (p === undefined) return;
    this.unpark(key);
    const owner = this.claims.get(key)!;
    for (const m of p.messages) {
      if (owner === this.me) {
        this.keep(key, m.topic, m.payload);
        out.local.push(m);
      } else {
        this.forward(owner, m.topic, m.payload, out);
      }
    }
  }

  private forward(owner: string, topic: string, payload: Uint8Array, out: RouteResult): void {
    this.counters.forwarded++;
    this.counters.forwardedBytes += payload.length;
    out.publish.push({ topic: `spectra-share/${this.group}/inbox/${owner}/${topic}`, payload });
  }

  private keep(key: string, topic: string, payload: Uint8Array): void {
    const list = this.owned.get(key) ?? [];
    list.push({ topic, payload: Uint8Array.from(payload) });
    this.owned.set(key, list);
  }

  private park(key: string, m: RoutedMessage, now: number): void {
    const p = this.parked.get(key) ?? { at: now, messages: [] };
    p.messages.push(m);
    this.parked.set(key, p);
    this.parkedBytes += m.payload.length;
    while (this.parkedBytes > this.maxParkedBytes && this.parked.size > 0) this.unpark(this.parked.keys().next().value as string);
  }

  private unpark(key: string): void {
    const p = this.parked.get(key);
    if (p === undefined) return;
    this.parked.delete(key);
    for (const m of p.messages) this.parkedBytes -= m.payload.length;
  }

  private setClaim(key: string, owner: string): void {
    this.claims.delete(key);
    this.claims.set(key, owner);
    if (this.claims.size > this.rememberClaims) this.claims.delete(this.claims.keys().next().value as string);
  }
}

function metaCubeId(payload: Uint8Array): string | undefined {
  try {
    const m = JSON.parse(Buffer.from(payload).toString('utf8')) as { cubeId?: unknown };
    return typeof m.cubeId === 'string' && /^[0-9a-f]{16}$/.test(m.cubeId) ? m.cubeId : undefined;
  } catch {
    return undefined;
  }
}
