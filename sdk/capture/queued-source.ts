import type { BackpressurePolicy, CaptureOptions, CaptureStats, FramePair, FrameSource } from './frame';
import { FrameQueue } from './frame-queue';
import { type Logger, type NamespacedLog, createLogger } from '../core/log';

/** Defaults of {@link CaptureOptions}. */
export const DEFAULT_CAPTURE_OPTIONS = Object.freeze({ queueSize: 4, policy: 'block' as const, maxFrames: Infinity });

/**
 * Base of the bundled adapters and of camera wrappers: a subclass implements {@link QueuedSource.produce},
 * which emits frames with `this.emit(frame)` until it runs out or `this.stopped` turns true; the base
 * provides the bounded queue, the backpressure policy, `maxFrames`, the counters and `close()`.
 */
export abstract class QueuedSource implements FrameSource {
  protected readonly log: NamespacedLog;
  protected readonly maxFrames: number;
  /** What happens to frames while the consumer falls behind. */
  readonly policy: BackpressurePolicy;
  private readonly queue: FrameQueue<FramePair>;
  private started = false;
  private cleaned = false;
  private producing: Promise<void> | undefined;
  private readonly counters = { produced: 0, delivered: 0, unpaired: 0 };

  /**
   * @param name - Source name, also the logger suffix (`spectra:capture:<name>`).
   * @param options - Queue size, policy, frame limit.
   * @param log - Log sink.
   */
  protected constructor(
    readonly name: string,
    options: CaptureOptions = {},
    log?: Logger,
  ) {
    const o = { ...DEFAULT_CAPTURE_OPTIONS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    if (!(o.maxFrames >= 0)) throw new RangeError(`Expected maxFrames >= 0 but received ${o.maxFrames}`);
    this.queue = new FrameQueue<FramePair>(o.queueSize, o.policy);
    this.policy = o.policy;
    this.maxFrames = o.maxFrames;
    this.log = createLogger(`spectra:capture:${name}`, log);
  }

  /** Produces frames by calling {@link QueuedSource.emit}; returns when done or stopped. */
  protected abstract produce(): Promise<void>;

  /** Releases what the adapter holds (file handles, device); called once after production ends. */
  protected async cleanup(): Promise<void> {}

  /** True once the consumer stopped or `maxFrames` were produced; `produce` should return. */
  protected get stopped(): boolean {
    return this.queue.closed || this.counters.produced >= this.maxFrames;
  }

  /**
   * Queues a frame (waiting under the `block` policy while the queue is full).
   * @returns false when the source is stopped and the frame was not queued.
   */
  protected async emit(frame: FramePair): Promise<boolean> {
    if (this.stopped) return false;
    this.counters.produced++;
    const dropped = await this.queue.push(frame);
    for (const d of dropped) this.log.warn(`inference fell behind: dropped frame ${d.sequence} (${this.queue.dropped} dropped so far)`);
    return true;
  }

  /** Counts a file or frame that never found its other half. */
  protected countUnpaired(): void {
    this.counters.unpaired++;
  }

  get stats(): CaptureStats {
    return { ...this.counters, dropped: this.queue.dropped, queued: this.queue.length };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FramePair> {
    if (this.started) throw new Error(`capture source '${this.name}' can be iterated only once`);
    this.started = true;
    this.producing = this.produce().then(
      () => this.queue.end(),
      (err: unknown) => this.queue.end(err),
    );
    try {
      for (;;) {
        const frame = await this.queue.shift();
        if (frame === undefined) return;
        this.counters.delivered++;
        yield frame;
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.queue.abort();
    await this.producing;
    this.producing = undefined;
    if (this.cleaned) return;
    this.cleaned = true;
    await this.cleanup();
  }
}
