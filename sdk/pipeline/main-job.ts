import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { FramePair } from '../capture/frame';
import { type StatusPayload, StatusTracker } from './status';
import { connectClient } from '../publish/broker-connection';
import { EmbeddedBroker } from '../publish/embedded-broker';
import { createLogger } from '../core/log';
import { DEFAULT_PIPELINE_OPTIONS, type FrameReport, type PipelineOptions, type PipelineResult, runPipeline } from './pipeline';
import { statusTopic } from '../publish/protocol';
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
  const log = createLogger('spectra:run', options.log);
  const out = options.out ?? DEFAULT_MAIN_JOB_OPTIONS.out;
  const subscribe = options.subscribe ?? DEFAULT_MAIN_JOB_OPTIONS.subscribe;
  const device = options.device ?? DEFAULT_PIPELINE_OPTIONS.device;
  const withLog = options.log ? { log: options.log } : {};
  // The job owns the embedded broker (not runPipeline) so the subscriber is on it before the first frame.
  const embedded = options.broker === undefined ? await EmbeddedBroker.start({ port: 0, wsPort: 0, ...options.embeddedBroker, ...withLog }) : undefined;
  const broker = options.broker ?? embedded!.url;
  // aedes speaks MQTT 3.1.1 only.
  const brokerOptions = { ...options.brokerOptions, ...(embedded ? { protocolVersion: 4 as const } : {}) };
  let subscriber: CubeSubscriber | undefined;
  let statusClient: MqttClient | undefined;
  try {
    const received = new Set<number>();
    let errors = 0;
    if (subscribe) {
      subscriber = await CubeSubscriber.connect({ ...brokerOptions, broker, out, device, ...withLog });
      subscriber.on('cube', (cube) => {
        received.add(cube.meta.sequence);
        options.onCube?.(cube);
      });
      subscriber.on('cube-error', () => errors++);
    }
    const tracker = new StatusTracker(device);
    let status: StatusPayload | undefined;
    if (options.status ?? DEFAULT_MAIN_JOB_OPTIONS.status) {
      const clientId = `spectra-status-${Math.random().toString(16).slice(2, 10)}`;
      ({ client: statusClient } = await connectClient({ ...brokerOptions, broker, clientId }, { clientId, clean: true }));
    }
    const onFrame = (report: FrameReport, frame: FramePair): void => {
      tracker.recordFrame(report.latencyMs);
      if (statusClient) {
        status = tracker.report();
        statusClient.publish(statusTopic(device), JSON.stringify(status), { qos: 1, retain: true }, (err) => err && log.warn(`status: ${err.message}`));
      }
      options.onFrame?.(report, frame);
    };
    // Without `out`, runPipeline writes no copies of its own: with a subscriber they would duplicate its files.
    const { out: _out, subscribe: _subscribe, receiveTimeoutMs: _timeout, status: _status, onCube: _onCube, ...pipelineOptions } = options;
    const result = await runPipeline({
      ...pipelineOptions,
      broker,
      brokerOptions,
      device,
      onFrame,
      ...(subscribe ? {} : { out }),
    });
    let summary: ReceiveSummary | undefined;
    if (subscriber) {
      const expected = result.frames.map((f) => f.sequence);
      await waitFor(() => expected.every((s) => received.has(s)), options.receiveTimeoutMs ?? DEFAULT_MAIN_JOB_OPTIONS.receiveTimeoutMs);
      const missing = expected.filter((s) => !received.has(s));
      summary = { expected: expected.length, received: expected.length - missing.length, missing, errors, out };
    }
    const job: MainJobResult = {
      ...result,
      ...(embedded?.wsUrl ? { wsBroker: embedded.wsUrl } : {}),
      ...(summary ? { subscriber: summary } : {}),
      ...(status ? { status } : {}),
    };
    await writeFile(join(out, 'run.json'), JSON.stringify(job, null, 2));
    return job;
  } finally {
    await subscriber?.close();
    await statusClient?.endAsync();
    await embedded?.close();
  }
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}
