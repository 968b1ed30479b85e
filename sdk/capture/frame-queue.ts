import type { BackpressurePolicy } from './frame';

/**
 * A bounded FIFO between a producer and one consumer. With `block`, `push` waits while the queue is
 * full (backpressure reaches the producer); with `drop-oldest`, `push` never waits and the oldest
 * item is dropped and counted.
 * @internal
 */
export class FrameQueue<T> {
  private readonly items: T[] = [];
  private dropCount = 0;
  private ended = false;
  private failure: unknown;
  private wantItem: (() => void) | undefined;
  private wantSpace: (() => void) | undefined;

  constructor(
    readonly capacity: number,
    readonly policy: BackpressurePolicy,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Expected queueSize to be a positive integer but received ${capacity}`);
    if (policy !== 'block' && policy !== 'drop-oldest') throw new RangeError(`Expected policy 'block' or 'drop-oldest' but received '${String(policy)}'`);
  }

  get dropped(): number {
    return this.dropCount;
  }

  get length(): number {
    return this.items.length;
  }

  /** Whether the consumer went away or the queue ended; producers should stop. */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Adds an item.
   * @returns The items dropped to make room (drop-oldest), or an empty array.
   */
  async push(item: T): Promise<T[]> {
    if (this.ended) return [];
    const dropped: T[] = [];
    if (this.policy === 'block') {
      while (this.items.length >= this.capacity && !this.ended) await new Promise<void>((r) => (this.wantSpace = r));
      if (this.ended) return [];
    } else {
      while (this.items.length >= this.capacity) {
        dropped.push(this.items.shift()!);
        this.dropCount++;
      }
    }
    this.items.push(item);
    this.signal('item');
    return dropped;
  }

  /** Ends the queue; the consumer drains what is left, then stops. */
  end(error?: unknown): void {
    if (error !== undefined && this.failure === undefined) this.failure = error;
    this.ended = true;
    this.signal('item');
    this.signal('space');
  }

  /** Drops everything and ends (the consumer stopped). */
  abort(): void {
    this.items.length = 0;
    this.end();
  }

  /** @returns The next item, or undefined once ended and empty. @throws The producer's error, after the items before it. */
  async shift(): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (this.ended) {
        if (this.failure !== undefined) {
          const f = this.failure;
          this.failure = undefined;
          throw f;
        }
        return undefined;
      }
      await new Promise<void>((r) => (this.wantItem = r));
    }
    const item = this.items.shift()!;
    this.signal('space');
    return item;
  }

  private signal(which: 'item' | 'space'): void {
    const w = which === 'item' ? this.wantItem : this.wantSpace;
    if (which === 'item') this.wantItem = undefined;
    else this.wantSpace = undefined;
    w?.();
  }
}
