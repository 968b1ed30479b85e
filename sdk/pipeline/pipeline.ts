import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeEnvi } from '../cube/envi';
import type { CaptureStats, FramePair, FrameSource } from '../capture/frame';
import { SyntheticSource } from '../capture/synthetic';
import { type Logger, type NamespacedLog, createLogger } from '../core/log';
import type { ModelCard } from '../core/model-card';
import { quicklook } from '../cube/quicklook';
import { psnr, sam } from '../metrics/full-reference';
import { type BrokerOptions, redactUrl } from '../publish/broker-connection';
import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../publish/embedded-broker';
import { CubePublisher, type PublishInfo, type PublisherMetrics, type PublisherOptions, sampleSpectra } from '../publish/publisher';
import { type FuseOptions, FusionModel } from '../runtime/fusion-model';
import { bandValidity } from '../cube/band-validity';

/** Options for {@link runPipeline}. Every part can be passed in ready-made, so callers can compose their own flow. */
export interface PipelineOptions {
  /** A loaded model (the caller releases it), or the path of an `.onnx` with its card (loaded and released here). */
  model: FusionModel | string;
  /** Frame source; closed at the end either way. @defaultValue a {@link SyntheticSource} on a generated scene, built from the model's card */
  source?: FrameSource;
  /** Frames to process; `Infinity` runs until the source ends (a service). @defaultValue 10 */
  frames?: number;
  /**
   * With an in-memory outbox, fusing waits while this many cubes are still undelivered, so a source faster than
   * the broker and its consumers cannot grow the heap without bound (a file source then waits; a live source
   * drops its oldest frames, counted). A durable outbox (`outbox: dir`) keeps fusing through outages: its
   * cubes are on disk. @defaultValue 4
   */
  maxPendingCubes?: number;
  /**
   * Broker URL, or a publisher to reuse. When omitted an {@link EmbeddedBroker} is started on loopback
   * (MQTT 3.1.1 over TCP and WebSocket) and stopped at the end.
   */
  broker?: string | CubePublisher;
  /** Credentials, TLS, protocol version… for `broker` given as a URL. */
  brokerOptions?: Omit<BrokerOptions, 'broker'>;
  /** Publisher settings (outbox directory, chunk size, window…). */
  publisherOptions?: Partial<Omit<PublisherOptions, keyof BrokerOptions | 'device'>>;
  /** Ports of the embedded broker. @defaultValue { port: 0, wsPort: 0 } (free ports) */
  embeddedBroker?: EmbeddedBrokerOptions;
  /** Device id in the topics. @defaultValue 'spectra-edge' */
  device?: string;
  /** Also write every fused cube here as ENVI, plus `run.json` with the per-frame reports. */
  out?: string;
  /** Also publish a quicklook PNG and a few pixel spectra per frame for browsers (see {@link CubePublisher.publishPreview}). @defaultValue false */
  previews?: boolean;
  /** Passed to {@link FusionModel.fuse}. */
  fuse?: FuseOptions;
  /**
   * Compute the no-reference consistency check on every n-th frame only (the first frame always). It cost 28 %
   * on top of `fuse()` per frame (`npm run bench`, 512², 2 threads); every 4th frame keeps it under 10 % while a
   * drifting camera is still noticed within a few frames. `fuse.quality: false` turns it off. @defaultValue 4
   */
  qualityEvery?: number;
  /** Wait this long at the end for the broker to acknowledge everything. @defaultValue 30000 */
  drainMs?: number;
  /** Called when a frame leaves the source, before it is fused (a watchdog times frames from here). */
  onFrameStart?: (frame: FramePair) => void;
  /** Called after each frame is fused and stored in the outbox. */
  onFrame?: (report: FrameReport, frame: FramePair) => void;
  log?: Logger;
}

/** What happened to one frame. */
export interface FrameReport {
  sequence: number;
  /** Inference time (FusedCube.timing.totalMs, consistency check included). */
  fuseMs: number;
  /** Capture to stored-in-outbox, in ms: queueMs + fuseMs + scoring + publishMs. */
  latencyMs: number;
  /** Capture to leaving the source's queue (waiting behind earlier frames). */
  queueMs: number;
  /** Of `fuseMs`, the no-reference consistency check (0 on frames it skipped, see `qualityEvery`). */
  qualityMs: number;
  /** Handing the cube to the publisher: encoding and storing it in the outbox. */
  publishMs: number;
  /** Against ground truth, when the source knows it. */
  psnr?: number;
  sam?: number;
  /** No-reference consistency PSNRs (re-degraded output vs. inputs). */
  consistencyPsnr?: { spatial: number; spectral: number };
  /** The LR-HSI's SNR and whether the output was projected onto its signal subspace (`FuseOptions.denoise`). */
  denoise?: { snrDb: number; projected: boolean };
}

/** Summary of a {@link runPipeline} call. */
export interface PipelineResult {
  model: string;
  broker: string;
  /** WebSocket URL of the embedded broker, when one ran. */
  wsBroker?: string;
  frames: FrameReport[];
  capture: CaptureStats;
  publisher: PublisherMetrics;
  /** Whether every cube was acknowledged before the end. */
  drained: boolean;
  wallMs: number;
}

/** Defaults for {@link PipelineOptions}. */
export const DEFAULT_PIPELINE_OPTIONS = Object.freeze({ frames: 10, device: 'spectra-edge', drainMs: 30_000, qualityEvery: 4, maxPendingCubes: 4 });

/**
 * What goes out with a fused frame besides its pixels: sequence, timestamps, model id and precision, scale.
 * Built here only, so every path that publishes frames (`spectra run`, the main job, the Jetson service)
 * describes them alike.
 * @param card - Card of the model that fused the frame.
 * @param frame - The captured frame.
 * @param fusedAt - When fusion finished.
 * @param quality - Full-reference scores, when the frame has ground truth.
 */
export function frameInfo(card: ModelCard, frame: FramePair, fusedAt: Date, quality?: Record<string, number>): PublishInfo {
  return {
    sequence: frame.sequence,
    capturedAt: frame.capturedAt,
    fusedAt,
    model: { id: card.name, precision: card.precision ?? 'fp32' },
    scale: card.scale,
    ...(quality ? { quality } : {}),
  };
}

/**
 * capture -> fuse -> publish, one frame at a time, with one log line per frame (latency, and PSNR/SAM
 * when the source knows the ground truth). The pieces are ordinary SDK objects, so a caller can pass its
 * own source, model or publisher, or listen to `onFrame` to add a subscriber or quicklooks.
 * @param options - See {@link PipelineOptions}.
 * @returns Per-frame reports and counters.
 * @example
 * const result = await runPipeline({ model: 'models/student-cave31-rgb-x4.onnx', frames: 5 });
 * console.log(result.frames.map((f) => f.psnr));
 */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const log = createLogger('spectra:run', options.log);
  const frames = options.frames ?? DEFAULT_PIPELINE_OPTIONS.frames;
  if (!(frames === Infinity || (Number.isInteger(frames) && frames >= 0))) {
    throw new RangeError(`Expected frames to be a non-negative integer or Infinity but received ${frames}`);
  }
  if (!(options.model instanceof FusionModel) && typeof options.model !== 'string') {
    throw new TypeError('Expected options.model to be a FusionModel or the path of an .onnx file');
  }
  const t0 = Date.now();
  const withLog = options.log ? { log: options.log } : {};
  // What this call acquired, released in reverse order in `finally`, on failure as on success.
  const release: { what: string; run: () => Promise<unknown> }[] = [];
  try {
    let model: FusionModel;
    if (options.model instanceof FusionModel) {
      model = options.model;
    } else {
      model = await FusionModel.load(options.model, withLog);
      release.push({ what: 'model', run: () => model.release() });
    }
    let embedded: EmbeddedBroker | undefined;
    let publisher: CubePublisher;
    let brokerUrl: string;
    if (options.broker instanceof CubePublisher) {
      publisher = options.broker;
      brokerUrl = publisher.brokerUrl;
    } else {
      if (options.broker === undefined) {
        const broker = await EmbeddedBroker.start({ port: 0, wsPort: 0, ...options.embeddedBroker, ...withLog });
        release.push({ what: 'embedded broker', run: () => broker.close() });
        embedded = broker;
      }
      // Printed and saved in run.json: never with credentials.
      brokerUrl = redactUrl(options.broker ?? embedded!.url);
      const own = await CubePublisher.connect({
        ...options.brokerOptions,
        // The embedded broker (aedes) speaks MQTT 3.1.1 only.
        ...(embedded ? { protocolVersion: 4 as const } : {}),
        ...options.publisherOptions,
        broker: options.broker ?? embedded!.url,
        device: options.device ?? DEFAULT_PIPELINE_OPTIONS.device,
        ...withLog,
      });
      release.push({ what: 'publisher', run: () => own.close() });
      publisher = own;
    }
    const source = options.source ?? new SyntheticSource({ card: model.card, maxFrames: frames, ...withLog });
    release.push({ what: 'source', run: () => source.close() });
    if (options.out) await mkdir(options.out, { recursive: true });
    const reports = await frameLoop(model, source, publisher, frames, options, log);
    const drained = await publisher.drain(options.drainMs ?? DEFAULT_PIPELINE_OPTIONS.drainMs);
    const result: PipelineResult = {
      model: model.path,
      broker: brokerUrl,
      ...(embedded?.wsUrl ? { wsBroker: embedded.wsUrl } : {}),
      frames: reports,
      capture: source.stats,
      publisher: publisher.metrics(),
      drained,
      wallMs: Date.now() - t0,
    };
    if (options.out) await writeFile(join(options.out, 'run.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await releaseAll(release.reverse(), log);
  }
}

/** The loop itself: one frame at a time, fuse -> publish (-> preview, copy), until `frames` or the source ends. */
async function frameLoop(model: FusionModel, source: FrameSource, publisher: CubePublisher, frames: number, options: PipelineOptions, log: NamespacedLog): Promise<FrameReport[]> {
  const reports: FrameReport[] = [];
  if (frames === 0) return reports;
  const every = options.qualityEvery ?? DEFAULT_PIPELINE_OPTIONS.qualityEvery;
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`Expected qualityEvery to be an integer >= 1 but received ${every}`);
  const checked = options.fuse?.quality ?? true;
  const maxPending = options.maxPendingCubes ?? DEFAULT_PIPELINE_OPTIONS.maxPendingCubes;
  if (!(Number.isInteger(maxPending) && maxPending >= 1)) throw new RangeError(`Expected maxPendingCubes to be an integer >= 1 but received ${maxPending}`);
  for await (const frame of source) {
    const started = Date.now();
    options.onFrameStart?.(frame);
    const fused = await model.fuse(frame.lrhsi, frame.hrmsi, { ...options.fuse, quality: checked && reports.length % every === 0 });
    const fusedAt = new Date();
    // Bands the input did not cover hold zeros, not estimates: they are not scored.
    const bandMask = bandValidity(fused);
    const truth = frame.truth ? { psnr: psnr(fused, frame.truth, { bandMask }), sam: sam(fused, frame.truth, { bandMask }) } : undefined;
    // Every fused cube is a fresh array, so the publisher may take it over instead of copying.
    const tp = performance.now();
    await publisher.publish(fused, { ...frameInfo(model.card, frame, fusedAt, truth), transfer: true });
    const publishMs = performance.now() - tp;
    const report: FrameReport = {
      sequence: frame.sequence,
      fuseMs: fused.timing.totalMs,
      latencyMs: Date.now() - frame.capturedAt.getTime(),
      queueMs: Math.max(0, started - frame.capturedAt.getTime()),
      qualityMs: fused.timing.qualityMs,
      publishMs,
      ...truth,
      ...(fused.quality ? { consistencyPsnr: { spatial: fused.quality.spatial.psnr, spectral: fused.quality.spectral.psnr } } : {}),
      ...(fused.denoise ? { denoise: { snrDb: fused.denoise.snrDb, projected: fused.denoise.projected } } : {}),
    };
    if (options.previews) await publisher.publishPreview({ quicklook: (await quicklook(fused)).png, spectra: sampleSpectra(fused) });
    reports.push(report);
    if (options.out) await writeEnvi(join(options.out, `fused_${String(frame.sequence).padStart(6, '0')}.hdr`), fused);
    log.info(formatReport(report));
    options.onFrame?.(report, frame);
    if (reports.length >= frames) break;
    if (publisher.holdsCubesInMemory) await roomInOutbox(publisher, maxPending);
  }
  return reports;
}

/** Resolves once fewer than `max` cubes wait in the publisher's outbox (or it is closing). */
async function roomInOutbox(publisher: CubePublisher, max: number): Promise<void> {
  while (publisher.metrics().outboxCubes >= max && !publisher.closed) await new Promise((r) => setTimeout(r, 5));
}

/** Runs every release step even when one fails; a failure is logged, so it never hides the error that ended the run. */
async function releaseAll(steps: readonly { what: string; run: () => Promise<unknown> }[], log: NamespacedLog): Promise<void> {
  for (const step of steps) {
    try {
      await step.run();
    } catch (err) {
      log.warn(`releasing the ${step.what} failed: ${(err as Error).message}`);
    }
  }
}

/**
 * One log line for a frame: `frame 3: fuse 41 ms, latency 58 ms, PSNR 38.21 dB, SAM 2.10°`.
 * @param r - The report.
 */
export function formatReport(r: FrameReport): string {
  const parts = [`frame ${r.sequence}: fuse ${r.fuseMs.toFixed(0)} ms`, `latency ${r.latencyMs.toFixed(0)} ms (queue ${r.queueMs.toFixed(0)}, store ${r.publishMs.toFixed(0)})`];
  if (r.psnr !== undefined) parts.push(`PSNR ${r.psnr.toFixed(2)} dB`);
  if (r.sam !== undefined) parts.push(`SAM ${r.sam.toFixed(2)}°`);
  if (r.consistencyPsnr) parts.push(`consistency ${r.consistencyPsnr.spatial.toFixed(1)}/${r.consistencyPsnr.spectral.toFixed(1)} dB`);
  if (r.denoise?.projected) parts.push(`denoised (LR-HSI SNR ${r.denoise.snrDb.toFixed(1)} dB)`);
  return parts.join(', ');
}
