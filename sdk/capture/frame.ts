import type { CameraProfile } from '../camera/profile';
import type { Cube } from '../cube/cube';

/** One capture: a co-registered LR-HSI / HR-MSI pair, ready for {@link FusionModel.fuse}. */
export interface FramePair {
  lrhsi: Cube;
  hrmsi: Cube;
  /** Increasing per source (gaps show dropped or unpaired frames). */
  sequence: number;
  capturedAt: Date;
  /** Ground-truth HR-HSI when the source knows it (synthetic and recorded test sequences). */
  truth?: Cube;
  /** Provenance: source name, file paths, crop window, noise seed… */
  meta: FrameMeta;
}

/** Provenance of a frame. */
export interface FrameMeta {
  /** Adapter that produced it (`synthetic`, `directory`, `replay`, or a camera name). */
  source: string;
  readonly [key: string]: unknown;
}

/** What a source does when the consumer (inference) falls behind and its queue is full. */
export type BackpressurePolicy = 'block' | 'drop-oldest';

/** Options every capture source takes. */
export interface CaptureOptions {
  /** Frames buffered between capture and inference. @defaultValue 4 */
  queueSize?: number;
  /**
   * `block`: capture waits for the consumer (nothing lost; right for files and replays).
   * `drop-oldest`: the oldest queued frame is dropped and counted (right for live cameras, where fresh beats complete).
   * @defaultValue 'block'
   */
  policy?: BackpressurePolicy;
  /** Stop after this many frames. @defaultValue Infinity */
  maxFrames?: number;
  /**
   * The camera that took the frames (`readCameraProfile`): its band table and value scales are put on every
   * LR-HSI and HR-MSI read, so a camera is described once rather than per scene.
   */
  camera?: CameraProfile;
}

/** Counters of a capture source. */
export interface CaptureStats {
  /** Frames the adapter produced. */
  produced: number;
  /** Frames handed to the consumer. */
  delivered: number;
  /** Frames dropped by the `drop-oldest` policy. */
  dropped: number;
  /** Files or frames that never found their other half (directory sources). */
  unpaired: number;
  /** Frames in the queue now. */
  queued: number;
}

/**
 * A capture source: an async iterable of frame pairs with a bounded queue between the adapter and the
 * consumer. Iterate it once; `close()` (or leaving a `for await` loop) stops the adapter.
 * @example
 * const source = new SyntheticSource({ card, frames: 10 });
 * for await (const frame of source) await model.fuse(frame.lrhsi, frame.hrmsi);
 */
export interface FrameSource extends AsyncIterable<FramePair> {
  readonly name: string;
  readonly stats: CaptureStats;
  close(): Promise<void>;
}
