/**
 * Paces a source at a fixed frame rate: frame i is due at `start + i / fps`, so a slow frame is followed by
 * shorter waits instead of shifting every later frame.
 */
export class FramePacer {
  private readonly periodMs: number;
  private t0 = 0;

  /**
   * @param fps - Frames per second; 0 or undefined = as fast as possible.
   * @throws RangeError for a negative or non-numeric fps.
   */
  constructor(fps: number | undefined) {
    if (fps !== undefined && !(fps >= 0)) throw new RangeError(`Expected fps >= 0 but received ${fps}`);
    this.periodMs = fps ? 1000 / fps : 0;
  }

  /** Marks the time frame 0 is due. */
  start(): void {
    this.t0 = Date.now();
  }

  /** Resolves when frame `index` is due (at once when unpaced or late). */
  async wait(index: number): Promise<void> {
    if (this.periodMs === 0) return;
    const wait = this.t0 + index * this.periodMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
