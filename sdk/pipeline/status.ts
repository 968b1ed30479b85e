import { STATUS_SCHEMA } from '../publish/protocol';

/** Value of `schema` in a status payload; one value for every writer of the status topic (the publisher's online/offline payloads too). */
export { STATUS_SCHEMA };

/** The JSON published on `spectra/<device>/status`. */
export interface StatusPayload {
  schema: typeof STATUS_SCHEMA;
  device: string;
  state: 'online';
  /** ISO-8601 time of the report. */
  time: string;
  uptimeSeconds: number;
  /** Frames fused since start. */
  frames: number;
  /** Frames per second over the rate window (0 until two frames arrived). */
  fps: number;
  /** End-to-end frame latency over the last {@link StatusOptions.latencyWindow} frames, in ms; null before the first frame. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; count: number } | null;
  /**
   * Where the time goes: median per stage over the same window (queue wait, fuse with the consistency check,
   * the check alone, outbox store), for frames recorded with their parts; absent before the first such frame.
   */
  stagesMsP50?: FrameStages;
  outbox?: { depth: number; bytes: number };
  /** The execution provider the model runs on. */
  provider?: string;
  /** From tegrastats, on a Jetson. */
  jetson?: JetsonReadings;
}

/** Board readings of a Jetson (devices/jetson builds them from tegrastats). */
export interface JetsonReadings {
  temperatureC: Record<string, number>;
  maxTemperatureC?: number;
  powerMw: Record<string, number>;
  totalPowerMw?: number;
  gpuPercent?: number;
  ram?: { usedMb: number; totalMb: number };
  /** The nvpmodel mode the board runs (`nvpmodel -q`), read at service start. */
  powerMode?: { id: number; name: string };
}

/** One frame's latency split into stages, in ms (a {@link FrameReport} carries these). */
export interface FrameStages {
  queueMs: number;
  fuseMs: number;
  qualityMs: number;
  publishMs: number;
}

const STAGES = ['queueMs', 'fuseMs', 'qualityMs', 'publishMs'] as const;

/** Options of {@link StatusTracker}. */
export interface StatusOptions {
  /** Latency samples kept for the percentiles. @defaultValue 512 */
  latencyWindow?: number;
  /** Seconds of frame timestamps the fps is computed over. @defaultValue 10 */
  rateWindowSeconds?: number;
  /** Clock in ms (tests pass a fake one). @defaultValue Date.now */
  now?: () => number;
}

/** Extra readings a status report carries when known. */
export interface StatusExtras {
  outbox?: { depth: number; bytes: number };
  provider?: string;
  jetson?: JetsonReadings;
}

const DEFAULTS = Object.freeze({ latencyWindow: 512, rateWindowSeconds: 10 });

/**
 * Nearest-rank percentile of a sample (the value below which `p` percent of the sample lies).
 * @param sorted - Values in ascending order, at least one.
 * @param p - Percentile in (0, 100].
 * @returns An element of `sorted`.
 * @throws RangeError when `sorted` is empty or `p` is out of range.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('Expected at least one value for a percentile but received none');
  if (!(p > 0 && p <= 100)) throw new RangeError(`Expected a percentile in (0, 100] but received ${p}`);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Counts frames and keeps a bounded window of latencies; {@link StatusTracker.report} turns them into the
 * status payload. Memory stays constant however long the service runs.
 */
export class StatusTracker {
  private readonly latencies: number[] = [];
  private readonly stages: FrameStages[] = [];
  private readonly stamps: number[] = [];
  private next = 0;
  private stageNext = 0;
  private frames = 0;
  private readonly startedAt: number;
  private readonly opts: Required<StatusOptions>;

  /**
   * @param device - Device id, echoed in every payload.
   * @param options - Window sizes and clock.
   */
  constructor(
    readonly device: string,
    options: StatusOptions = {},
  ) {
    this.opts = { ...DEFAULTS, now: Date.now, ...options };
    if (!Number.isInteger(this.opts.latencyWindow) || this.opts.latencyWindow < 1) {
      throw new RangeError(`Expected latencyWindow to be a positive integer but received ${this.opts.latencyWindow}`);
    }
    this.startedAt = this.opts.now();
  }

  /**
   * Records one finished frame.
   * @param latencyMs - Capture-to-publish latency of the frame.
   * @param stages - The same latency split into stages, when known.
   * @throws RangeError when the latency or a stage is negative or not finite.
   */
  recordFrame(latencyMs: number, stages?: FrameStages): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`Expected a latency >= 0 ms but received ${latencyMs}`);
    for (const k of stages ? STAGES : []) {
      if (!Number.isFinite(stages![k]) || stages![k] < 0) throw new RangeError(`Expected ${k} >= 0 but received ${stages![k]}`);
    }
    if (this.latencies.length < this.opts.latencyWindow) this.latencies.push(latencyMs);
    else this.latencies[this.next] = latencyMs;
    if (stages) {
      const picked = { queueMs: stages.queueMs, fuseMs: stages.fuseMs, qualityMs: stages.qualityMs, publishMs: stages.publishMs };
      if (this.stages.length < this.opts.latencyWindow) this.stages.push(picked);
      else this.stages[this.stageNext] = picked;
      this.stageNext = (this.stageNext + 1) % this.opts.latencyWindow;
    }
    this.next = (this.next + 1) % this.opts.latencyWindow;
    this.frames++;
    const now = this.opts.now();
    this.stamps.push(now);
    const horizon = now - this.opts.rateWindowSeconds * 1000;
    while (this.stamps.length > 2 && this.stamps[0] < horizon) this.stamps.shift();
  }

  /**
   * Builds the status payload.
   * @param extras - Outbox depth, granted provider and the latest board readings, when known.
   * @returns The JSON-ready payload.
   */
  report(extras: StatusExtras = {}): StatusPayload {
    const now = this.opts.now();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const span = this.stamps.length >= 2 ? (this.stamps[this.stamps.length - 1] - this.stamps[0]) / 1000 : 0;
    const payload: StatusPayload = {
      schema: STATUS_SCHEMA,
      device: this.device,
      state: 'online',
      time: new Date(now).toISOString(),
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      frames: this.frames,
      fps: span > 0 ? round((this.stamps.length - 1) / span, 3) : 0,
      latencyMs:
        sorted.length === 0
          ? null
          : {
              p50: round(percentile(sorted, 50), 2),
              p90: round(percentile(sorted, 90), 2),
              p99: round(percentile(sorted, 99), 2),
              max: round(sorted[sorted.length - 1], 2),
              count: sorted.length,
            },
    };
    if (this.stages.length > 0) {
      const median = (k: keyof FrameStages): number => round(percentile(this.stages.map((x) => x[k]).sort((a, b) => a - b), 50), 2);
      payload.stagesMsP50 = { queueMs: median('queueMs'), fuseMs: median('fuseMs'), qualityMs: median('qualityMs'), publishMs: median('publishMs') };
    }
    if (extras.outbox) payload.outbox = { ...extras.outbox };
    if (extras.provider) payload.provider = extras.provider;
    if (extras.jetson) payload.jetson = extras.jetson;
    return payload;
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Options of {@link StatusReporter.start}. */
export interface StatusReporterOptions {
  /** Sends one payload, e.g. `(topic, body) => client.publishAsync(topic, body, { qos: 1, retain: true })`. */
  publish: (topic: string, payload: Buffer) => Promise<unknown>;
  /** @defaultValue 10000 */
  intervalMs?: number;
  /** Current outbox depth, granted provider and board readings, read at every report. */
  extras?: () => StatusExtras;
  /** Receives publish failures (the reporter keeps going). @defaultValue silent */
  log?: (message: string) => void;
}

/**
 * Publishes a {@link StatusTracker}'s report on `spectra/<device>/status` every interval.
 */
export class StatusReporter {
  private timer: NodeJS.Timeout | undefined;
  private constructor(
    private readonly tracker: StatusTracker,
    private readonly options: StatusReporterOptions,
  ) {}

  /**
   * Starts the periodic report; the first one goes out immediately.
   * @param tracker - Where frames are recorded.
   * @param options - Publisher, interval and reading sources.
   * @returns The running reporter; {@link StatusReporter.stop} ends it.
   */
  static start(tracker: StatusTracker, options: StatusReporterOptions): StatusReporter {
    const reporter = new StatusReporter(tracker, options);
    void reporter.publishNow();
    reporter.timer = setInterval(() => void reporter.publishNow(), options.intervalMs ?? 10_000);
    // A status timer alone must not keep a finished process alive.
    reporter.timer.unref();
    return reporter;
  }

  /** Publishes one report now; failures go to the logger, never throw. */
  async publishNow(): Promise<void> {
    const payload = this.tracker.report(this.options.extras?.());
    try {
      await this.options.publish(`spectra/${this.tracker.device}/status`, Buffer.from(JSON.stringify(payload)));
    } catch (err) {
      this.options.log?.(`status publish failed: ${(err as Error).message}`);
    }
  }

  /** Stops reporting. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
