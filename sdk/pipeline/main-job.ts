import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FramePair } from '../capture/frame';
import { type StatusPayload, StatusTracker } from './status';
import { redactUrl } from '../publish/broker-connection';
import { CubePublisher } from '../publish/publisher';
import { EmbeddedBroker } from '../publish/embedded-broker';
import { DEFAULT_PIPELINE_OPTIONS, type FrameReport, type PipelineOptions, type PipelineResult, runPipeline } from './pipeline';
import { CubeSubscriber, type ReceivedCube } from '../publish/subscriber';

/** Options for {@link runMainJob}: those of {@link runPipeline} (with `broker` as a URL only) plus the subscriber side. */
export interface MainJobOptions extends Omit<PipelineOptions, 'broker' | 'out'> {
  /** Broker URL. When omitted an {@link EmbeddedBroker} runs on loopback for the duration. */
  broker?: string;
  /**
   * Output folder: the subscriber writes each received cube here (ENVI + meta + quicklook PNG) and the
   * job writes `run.json`; with `subscribe: false` the pipeline writes its own copies here instead.
   * @defaultValue {@link DEFAULT_MAIN_JOB_OPTIONS}.out
   */
  out?: string;
  /** Run the built-in subscriber next to the pipeline. @defaultValue true */
  subscribe?: boolean;
  /** How long to wait after the last frame for the subscriber to receive every published cube. @defaultValue 30000 */
  receiveTimeoutMs?: number;
  /** Publish a {@link StatusTracker} report on `spectra/<device>/status` after every frame. @defaultValue true */
  status?: boolean;
  /** Called for each cube the subscriber received, verified and wrote. */
  onCube?: (cube: ReceivedCube) => void;
}

/** What the built-in subscriber got. */
export interface ReceiveSummary {
  /** Cubes the pipeline published. */
  expected: number;
  /** Of those, cubes the subscriber received, verified and wrote. */
  received: number;
  /** Sequences published but not received before the timeout. */
  missing: number[];
  /** Cubes dropped by the subscriber (sha256 mismatch, chunks missing, write failure). */
  errors: number;
  out: string;
}

/** Summary of a {@link runMainJob} call. */
export interface MainJobResult extends PipelineResult {
  /** Absent with `subscribe: false`. */
  subscriber?: ReceiveSummary;
  /** The last status payload published. */
  status?: StatusPayload;
}

/** Defaults for {@link MainJobOptions}. */
export const DEFAULT_MAIN_JOB_OPTIONS = Object.freeze({ out: join('out', 'run'), subscribe: true, receiveTimeoutMs: 30_000, status: true });

/**
 * The main job behind `spectra run`: {@link runPipeline} (capture -> fuse -> publish) with the built-in
 * {@link CubeSubscriber} on the same broker, which reassembles, verifies and writes every cube. It
 * waits (bounded) until the subscriber has every published cube, so `subscriber.missing` is empty
 * exactly when the whole path worked.
 * @param options - See {@link MainJobOptions}.
 * @returns The pipeline result plus the subscriber's summary and the last status payload.
 * @throws {@link BrokerConnectionError} when the broker cannot be reached.
 * @example
 * const r = await runMainJob({ model: 'models/student-cave31-rgb-x4.onnx', frames: 5 });
 * if (r.subscriber!.missing.length > 0) process.exitCode = 4;
 */
export async function runMainJob(options: MainJobOptions): Promise<MainJobResult> {
  const out = options.out ?? DEFAULT_MAIN_JOB_OPTIONS.out;
  const subscribe = options.subscribe ?? DEFAULT_MAIN_JOB_OPTIONS.subscribe;
  const device = options.device ?? DEFAULT_PIPELINE_OPTIONS.device;
  const withLog = options.log ? { log: options.log } : {};
  const waitForBroker = options.publisherOptions?.waitForBroker ?? true;
  // The job owns the embedded broker, the subscriber and the publisher (not runPipeline), so the subscriber
  // is on the broker before the first frame and everything is closed, with bounded waits, in `finally`.
  const embedded = options.broker === undefined ? await EmbeddedBroker.start({ port: 0, wsPort: 0, ...options.embeddedBroker, ...withLog }) : undefined;
  const broker = options.broker ?? embedded!.url;
  // aedes speaks MQTT 3.1.1 only.
  const brokerOptions = { ...options.brokerOptions, ...(embedded ? { protocolVersion: 4 as const } : {}) };
  let subscriber: CubeSubscriber | undefined;
  let publisher: CubePublisher | undefined;
  try {
    const received = new Set<number>();
    let errors = 0;
    if (subscribe) {
      subscriber = await CubeSubscriber.connect({ ...brokerOptions, broker, out, device, group: RECEIPT_GROUP, waitForBroker, ...withLog });
      subscriber.on('cube', (cube) => {
        received.add(cube.meta.sequence);
        options.onCube?.(cube);
      });
      subscriber.on('cube-error', () => errors++);
    }
    publisher = await CubePublisher.connect({
      ...brokerOptions,
      // With the built-in subscriber, a cube leaves the outbox only once it has it (v2 receipts).
      ...(subscribe ? { receiptGroup: RECEIPT_GROUP } : {}),
      ...options.publisherOptions,
      broker,
      device,
      ...withLog,
    });
    const pub = publisher;
    const tracker = new StatusTracker(device);
    let status: StatusPayload | undefined;
    const withStatus = options.status ?? DEFAULT_MAIN_JOB_OPTIONS.status;
    const onFrame = (report: FrameReport, frame: FramePair): void => {
      tracker.recordFrame(report.latencyMs);
      if (withStatus) {
        const m = pub.metrics();
        status = tracker.report({ outbox: { depth: m.outboxCubes, bytes: m.outboxBytes } });
        // One writer and one shape on the status topic: the publisher's own connection (issue 17).
        void pub.publishStatus({ ...status }).catch(() => undefined);
      }
      options.onFrame?.(report, frame);
    };
    // Without `out`, runPipeline writes no copies of its own: with a subscriber they would duplicate its files.
    const { out: _out, subscribe: _subscribe, receiveTimeoutMs: _timeout, status: _status, onCube: _onCube, ...pipelineOptions } = options;
    const result = await runPipeline({ ...pipelineOptions, broker: pub, device, onFrame, ...(subscribe ? {} : { out }) });
    result.broker = redactUrl(broker);
    let summary: ReceiveSummary | undefined;
    if (subscriber) {
      const sub = subscriber;
      const expected = result.frames.map((f) => f.sequence);
      const lost = (): Set<number> => new Set(sub.missing()[device] ?? []);
      // Done when every cube arrived or was announced lost; bounded by receiveTimeoutMs either way.
      await waitFor(() => expected.every((s) => received.has(s) || lost().has(s)), options.receiveTimeoutMs ?? DEFAULT_MAIN_JOB_OPTIONS.receiveTimeoutMs);
      const missing = expected.filter((s) => !received.has(s));
      summary = { expected: expected.length, received: expected.length - missing.length, missing, errors, out };
    }
    const job: MainJobResult = {
      ...result,
      publisher: pub.metrics(),
      ...(embedded?.wsUrl ? { wsBroker: embedded.wsUrl } : {}),
      ...(summary ? { subscriber: summary } : {}),
      ...(status ? { status } : {}),
    };
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'run.json'), JSON.stringify(job, null, 2));
    return job;
  } finally {
    // Each close is bounded (forced disconnects after a short grace), so a dead broker cannot stall the exit.
    await subscriber?.close();
    await publisher?.close();
    await embedded?.close();
  }
}

/** Receipt group of the built-in subscriber, which the job's publisher waits for. */
const RECEIPT_GROUP = 'spectra-run';

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}
