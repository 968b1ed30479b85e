import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeEnvi } from '../cube/envi';
import type { CaptureStats, FramePair, FrameSource } from '../capture/frame';
import { SyntheticSource } from '../capture/synthetic';
import { psnr, sam } from '../metrics/full-reference';
import { bandValidity } from '../spectral/coverage';
import type { Logger } from '../core/log';
import { type FuseOptions, FusionModel } from '../runtime/fusion-model';
import { readModelCard } from '../core/model-card';
import type { BrokerOptions } from '../publish/broker-connection';
import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../publish/embedded-broker';
import { createLogger } from '../publish/log';
import { CubePublisher, type PublisherMetrics, type PublisherOptions, sampleSpectra } from '../publish/publisher';
import { quicklook } from '../cube/quicklook';

/** Options for {@link runPipeline}. Every part can be passed in ready-made, so callers can compose their own flow. */
export interface PipelineOptions {
  /** A loaded model, or the path of an `.onnx` with its card. @defaultValue {@link findDefaultModel} */
  model?: FusionModel | string;
  /** Frame source. @defaultValue a {@link SyntheticSource} built from the model's card */
  source?: FrameSource;
  /** Frames to process. @defaultValue 10 */
  frames?: number;
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
  /** Wait this long at the end for the broker to acknowledge everything. @defaultValue 30000 */
  drainMs?: number;
  /** Called after each frame is fused and stored in the outbox. */
  onFrame?: (report: FrameReport, frame: FramePair) => void;
  log?: Logger;
}

/** What happened to one frame. */
export interface FrameReport {
  sequence: number;
  /** Inference time (FusedCube.timing.totalMs). */
  fuseMs: number;
  /** Capture to stored-in-outbox, in ms. */
  latencyMs: number;
  /** Against ground truth, when the source knows it. */
  psnr?: number;
  sam?: number;
  /** No-reference consistency PSNRs (re-degraded output vs. inputs). */
  consistencyPsnr?: { spatial: number; spectral: number };
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
export const DEFAULT_PIPELINE_OPTIONS = Object.freeze({ frames: 10, device: 'spectra-edge', drainMs: 30_000 });

/**
 * The default model: the first `models/*.card.json` (the shipped students), else the tiny test fixture.
 * @param root - Repository root. @defaultValue the checkout this SDK lives in
 * @returns Path of the `.onnx` next to the card.
 */
export async function findDefaultModel(root = packageRoot()): Promise<string> {
  const dir = join(root, 'models');
  let cards: string[] = [];
  try {
    cards = (await readdir(dir)).filter((n) => n.endsWith('.card.json')).sort();
  } catch {
    // No models folder in this checkout.
  }
  for (const name of cards) {
    const card = await readModelCard(join(dir, name));
    if (card.onnx) return join(dir, card.onnx);
  }
  return join(root, 'test', 'fixtures', 'tiny', 'tiny-student.onnx');
}

/** The checkout's root: the nearest folder above this file with a package.json (works from sdk/ and from dist/sdk/). */
function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(__dirname, '..', '..');
}

/**
 * capture -> fuse -> publish, one frame at a time, with one log line per frame (latency, and PSNR/SAM
 * when the source knows the ground truth). The pieces are ordinary SDK objects, so a caller can pass its
 * own source, model or publisher, or listen to `onFrame` to add a subscriber or quicklooks.
 * @param options - See {@link PipelineOptions}.
 * @returns Per-frame reports and counters.
 * @example
 * const result = await runPipeline({ frames: 5 });
 * console.log(result.frames.map((f) => f.psnr));
 */
export async function runPipeline(options: PipelineOptions = {}): Promise<PipelineResult> {
  const log = createLogger('spectra:run', options.log);
  const frames = options.frames ?? DEFAULT_PIPELINE_OPTIONS.frames;
  if (!(Number.isInteger(frames) && frames >= 0)) throw new RangeError(`Expected frames to be a non-negative integer but received ${frames}`);
  const t0 = Date.now();
  const ownModel = !(options.model instanceof FusionModel);
  const model = options.model instanceof FusionModel ? options.model : await FusionModel.load(options.model ?? (await findDefaultModel()), options.log ? { log: options.log } : {});
  let embedded: EmbeddedBroker | undefined;
  let publisher: CubePublisher;
  const ownPublisher = !(options.broker instanceof CubePublisher);
  let brokerUrl: string;
  if (options.broker instanceof CubePublisher) {
    publisher = options.broker;
    brokerUrl = 'external publisher';
  } else {
    if (options.broker === undefined) {
      embedded = await EmbeddedBroker.start({ port: 0, wsPort: 0, ...options.embeddedBroker, ...(options.log ? { log: options.log } : {}) });
    }
    brokerUrl = options.broker ?? embedded!.url;
    publisher = await CubePublisher.connect({
      ...options.brokerOptions,
      // The embedded broker (aedes) speaks MQTT 3.1.1 only.
      ...(embedded ? { protocolVersion: 4 as const } : {}),
      ...options.publisherOptions,
      broker: brokerUrl,
      device: options.device ?? DEFAULT_PIPELINE_OPTIONS.device,
      ...(options.log ? { log: options.log } : {}),
    });
  }
  const source = options.source ?? new SyntheticSource({ card: model.card, maxFrames: frames, ...(options.log ? { log: options.log } : {}) });
  if (options.out) await mkdir(options.out, { recursive: true });
  const reports: FrameReport[] = [];
  const precision = model.card.precision ?? 'fp32';
  try {
    for await (const frame of source) {
      if (reports.length >= frames) break;
      const fused = await model.fuse(frame.lrhsi, frame.hrmsi, options.fuse);
      const fusedAt = new Date();
      // Bands the input did not cover hold zeros, not estimates: they are not scored.
      const bandMask = bandValidity(fused);
      const truth = frame.truth ? { psnr: psnr(fused, frame.truth, { bandMask }), sam: sam(fused, frame.truth, { bandMask }) } : undefined;
      await publisher.publish(fused, {
        sequence: frame.sequence,
        capturedAt: frame.capturedAt,
        fusedAt,
        model: { id: model.card.name, precision },
        scale: model.card.scale,
        ...(truth ? { quality: truth } : {}),
        transfer: true,
      });
      const report: FrameReport = {
        sequence: frame.sequence,
        fuseMs: fused.timing.totalMs,
        latencyMs: Date.now() - frame.capturedAt.getTime(),
        ...truth,
        ...(fused.quality ? { consistencyPsnr: { spatial: fused.quality.spatial.psnr, spectral: fused.quality.spectral.psnr } } : {}),
      };
      if (options.previews) await publisher.publishPreview({ quicklook: (await quicklook(fused)).png, spectra: sampleSpectra(fused) });
      reports.push(report);
      if (options.out) await writeEnvi(join(options.out, `fused_${String(frame.sequence).padStart(6, '0')}.hdr`), fused);
      log.info(formatReport(report));
      options.onFrame?.(report, frame);
    }
  } finally {
    await source.close();
  }
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
  if (ownPublisher) await publisher.close();
  if (embedded) await embedded.close();
  if (ownModel) await model.release();
  if (options.out) await writeFile(join(options.out, 'run.json'), JSON.stringify(result, null, 2));
  return result;
}

/**
 * One log line for a frame: `frame 3: fuse 41 ms, latency 58 ms, PSNR 38.21 dB, SAM 2.10°`.
 * @param r - The report.
 */
export function formatReport(r: FrameReport): string {
  const parts = [`frame ${r.sequence}: fuse ${r.fuseMs.toFixed(0)} ms`, `latency ${r.latencyMs.toFixed(0)} ms`];
  if (r.psnr !== undefined) parts.push(`PSNR ${r.psnr.toFixed(2)} dB`);
  if (r.sam !== undefined) parts.push(`SAM ${r.sam.toFixed(2)}°`);
  if (r.consistencyPsnr) parts.push(`consistency ${r.consistencyPsnr.spatial.toFixed(1)}/${r.consistencyPsnr.spectral.toFixed(1)} dB`);
  return parts.join(', ');
}
