/**
 * Template for wrapping a real camera (vendor SDK, V4L2, GStreamer) as a {@link FrameSource}.
 * Copy this file, fill in the three marked methods, and the pipeline, queue policy and counters come
 * from {@link QueuedSource}. docs/cube-protocol.md ("Capture adapters") walks through it.
 *
 * Rules for a camera adapter:
 * - Grab in a loop inside `produce()` and hand each pair to `this.emit()`; return when `this.stopped`.
 * - Live cameras should default to `policy: 'drop-oldest'` so a slow model drops stale frames instead
 *   of stalling the sensor; the drops are counted in `stats.dropped` and logged.
 * - Convert raw counts to physical units (0..1 reflectance or a documented radiance scale) here, not in
 *   the model: the model card says inputs are physical units.
 * - Put exposure, gain, sensor temperature and timestamps in `meta`; they travel with the cube.
 * - Release the device in `cleanup()`; it runs once, after `produce()` returns or throws.
 *
 * A GStreamer or V4L2 source fits the same shape: spawn `gst-launch-1.0 … ! fdsink fd=1` (or read
 * `/dev/videoN` with a V4L2 binding), read fixed-size raw frames from stdout, and build the cubes from
 * the bytes (one frame = bands x height x width samples of the sensor's bit depth).
 */
import type { Cube } from '../cube/cube';
import type { Logger } from '../core/log';
import type { CaptureOptions } from './frame';
import { QueuedSource } from './queued-source';

/** Options of the template camera; add the device's own (serial number, exposure…). */
export interface CameraTemplateOptions extends CaptureOptions {
  /** Device identifier, e.g. a serial number or `/dev/video0`. */
  device: string;
  log?: Logger;
}

/** One raw capture from the device, before conversion to cubes. */
export interface RawCapture {
  hsi: Cube;
  msi: Cube;
  /** Device timestamp, if the camera provides one. */
  timestamp?: Date;
  meta?: Record<string, unknown>;
}

/**
 * Skeleton of a camera adapter. Subclass it and implement `openDevice`, `grab` and `closeDevice`.
 * @example
 * class MyCamera extends CameraTemplate {
 *   protected async openDevice() { this.handle = await vendor.open(this.options.device); }
 *   protected async grab() { const f = await this.handle.next(); return { hsi: toCube(f.hsi), msi: toCube(f.rgb) }; }
 *   protected async closeDevice() { await this.handle.close(); }
 * }
 * for await (const frame of new MyCamera({ device: 'SN1234', policy: 'drop-oldest' })) …
 */
export abstract class CameraTemplate extends QueuedSource {
  private sequence = 0;

  /** @param options - Device id plus the common capture options. */
  constructor(protected readonly options: CameraTemplateOptions) {
    super(`camera:${options.device}`, { policy: 'drop-oldest', ...options }, options.log);
  }

  /** Opens and configures the device (exposure, trigger mode, ROI). */
  protected abstract openDevice(): Promise<void>;
  /** Blocks until the next synchronised HSI + MSI capture; undefined when the device has no more (end of stream). */
  protected abstract grab(): Promise<RawCapture | undefined>;
  /** Releases the device. */
  protected abstract closeDevice(): Promise<void>;

  protected async produce(): Promise<void> {
    await this.openDevice();
    while (!this.stopped) {
      const raw = await this.grab();
      if (raw === undefined) return;
      const meta = { source: this.name, ...raw.meta };
      await this.emit({ lrhsi: raw.hsi, hrmsi: raw.msi, sequence: this.sequence++, capturedAt: raw.timestamp ?? new Date(), meta });
    }
  }

  protected override async cleanup(): Promise<void> {
    await this.closeDevice();
  }
}
