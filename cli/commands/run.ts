import { Command, InvalidArgumentError, Option } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import type { FrameSource } from '../../sdk/capture/frame';
import { SOURCE_NAMES, openSource } from '../../sdk/capture/registry';
import { type CameraProfile, cameraFuseOptions, readCameraProfile } from '../../sdk/camera/profile';
import { DEFAULT_MAIN_JOB_OPTIONS, runMainJob } from '../../sdk/pipeline/main-job';
import { type FrameReport, formatReport } from '../../sdk/pipeline/pipeline';
import { defaultModel, defaultScene } from '../paths';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import { redactUrl } from '../../sdk/publish/broker-connection';
import type { GlobalOptions } from '../main';
import { barOptions, showProgress } from '../progress';
import { type BrokerCliOptions, addBrokerFlags, brokerOptionsFrom } from './subscribe';
import { finite, integer } from '../arguments';
import { AUTO_DENOISE_SNR_DB } from '../../sdk/spectral/subspace';

interface RunCliOptions extends BrokerCliOptions {
  model?: string;
  broker?: string;
  frames: number;
  out: string;
  subscribe: boolean;
  receiveTimeoutMs: number;
  device: string;
  source: string;
  input?: string;
  scene?: string;
  size?: [number, number];
  snr: number;
  denoise: 'auto' | 'none' | 'subspace';
  fps: number;
  policy?: 'block' | 'drop-oldest';
  outbox?: string;
  waitForBroker: boolean;
  chunkSize?: number;
  tile: number;
  previews: boolean;
  camera?: string;
  receiptGroup?: string;
  delivery: 'push' | 'pull';
  json: boolean;
}

function size(value: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(value);
  if (m === null) throw new InvalidArgumentError(`expected HEIGHTxWIDTH such as 128x128, got '${value}'`);
  return [Number(m[1]), Number(m[2])];
}

/** Adds `spectra run`. */
export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description(
      'The main job: capture -> fuse -> publish over MQTT -> built-in subscriber writes each cube, one log line per frame and per received cube (starts an embedded broker when --broker is not given)',
    )
    .option('--model <path>', '.onnx with its .card.json (default: the first models/*.card.json, else the tiny test fixture)')
    .option('--broker <url>', 'MQTT broker; without it an embedded broker runs on 127.0.0.1 (TCP and WebSocket) for the duration')
    .option('--frames <n>', 'frames to process', integer(0), 10)
    .option('--out <dir>', 'the subscriber writes each received cube here (ENVI + meta + quicklook PNG), plus run.json; with --no-subscribe the fused cubes themselves', DEFAULT_MAIN_JOB_OPTIONS.out)
    .option('--no-subscribe', 'publish only: no built-in subscriber')
    .option('--receive-timeout-ms <ms>', 'after the last frame, wait this long for the subscriber to receive every cube', integer(0), DEFAULT_MAIN_JOB_OPTIONS.receiveTimeoutMs)
    .option('--device <id>', 'device id in the topics (spectra/<device>/…)', 'spectra-edge')
    .addOption(new Option('--source <kind>', 'frame source').choices([...SOURCE_NAMES]).default('synthetic'))
    .option('--input <dir>', 'folder of <key>_lrhsi / <key>_hrmsi pairs for --source watch|replay')
    .option('--scene <npy>', "synthetic: HR scene (.npy, H x W x 31 uint16 CAVE-like) or 'generated' (default: CAVE cloth from the data folder, $SPECTRA_DATA or ../shared/data, else generated)")
    .option('--size <HxW>', 'synthetic: HR frame size; frames pan across the scene', size)
    .option('--snr <dB>', 'synthetic: LR-HSI noise', finite, 35)
    .option('--fps <n>', 'synthetic/replay: frame rate; 0 = as fast as inference', finite, 0)
    .addOption(
      new Option('--policy <p>', 'when inference falls behind (default: drop-oldest for live sources — watch, or --fps > 0 — so the newest frame is fused; block otherwise)').choices(['block', 'drop-oldest']),
    )
    .option('--outbox <dir>', 'durable outbox folder (cubes survive broker outages and restarts); in memory when omitted')
    .option('--no-wait-for-broker', 'start even when the broker is unreachable; cubes wait in the outbox')
    .option('--chunk-size <bytes>', 'chunk body size (lowered to fit the broker limit)', integer(1024))
    .option('--tile <px>', 'HR tile size for inference; 0 = whole image', integer(0), 0)
    .addOption(new Option('--denoise <method>', `subspace: denoise each LR-HSI with its HR-MSI's help and project the output onto the signal subspace the LR-HSI shows; auto: only frames whose LR-HSI SNR is below ${AUTO_DENOISE_SNR_DB} dB (docs/new-camera.md §7)`).choices(['auto', 'none', 'subspace']).default('auto'))
    .option('--previews', 'also publish a retained quicklook PNG and pixel spectra per frame (spectra/<device>/quicklook, /spectra) for browsers', false)
    .option('--camera <profile.json>', 'camera profile for --source watch|replay: band table and value scales of its files, MSI response (docs/new-camera.md)')
    .option('--receipt-group <name>', 'with --no-subscribe: keep each cube in the outbox until this consumer group (spectra subscribe --group/--share <name>) sends its receipt')
    .addOption(
      new Option('--delivery <mode>', "pull: offer each cube to the --share members of --receipt-group, which pull whole cubes (a fair share, no chunk crossing the broker twice; docs/cube-protocol.md §6.2)")
        .choices(['push', 'pull'])
        .default('push'),
    )
    .option('--json', 'print the run summary as JSON at the end', false);
  addBrokerFlags(cmd).action(async (opts: RunCliOptions, command: Command) => {
    // The built-in subscriber is the receipt group 'spectra-run'; another group needs it off.
    if (opts.receiptGroup !== undefined && opts.subscribe) throw new InvalidArgumentError('--receipt-group names outside consumers: add --no-subscribe (the built-in subscriber is its own group)');
    if (opts.delivery === 'pull' && opts.receiptGroup === undefined) throw new InvalidArgumentError('--delivery pull needs --receipt-group <name> and --no-subscribe: its members (spectra subscribe --share <name>) pull the cubes');
    const modelPath = opts.model ?? (await defaultModel());
    const model = await FusionModel.load(modelPath);
    const camera = opts.camera ? await readCameraProfile(opts.camera) : undefined;
    const grid = { wavelengths: model.card.hsi.wavelengths_nm, ...(model.card.hsi.fwhm_nm ? { fwhm: model.card.hsi.fwhm_nm } : {}), ...(model.card.hsi.band_valid ? { bandValid: model.card.hsi.band_valid } : {}) };
    const cameraFuse = camera ? cameraFuseOptions(camera, grid) : {};
    const source = makeSource(opts, model, camera);
    const bars = showProgress(command) ? new MultiBar({ ...barOptions('run', 'frames'), clearOnComplete: true }, Presets.shades_classic) : undefined;
    const bar = bars?.create(opts.frames, 0);
    // --quiet keeps the closing summary only.
    const quiet = command.optsWithGlobals<GlobalOptions>().quiet;
    const say = (line: string): void => {
      if (quiet) return;
      if (bars) bars.log(`${line}\n`);
      else process.stdout.write(`${line}\n`);
    };
    say(`spectra run: model ${model.card.name} (${model.card.precision ?? 'fp32'}), source ${source.name}, ${opts.frames} frame(s), broker ${opts.broker ? redactUrl(opts.broker) : 'embedded'}`);
    let result;
    try {
      result = await runMainJob({
        model,
        source,
        frames: opts.frames,
        device: opts.device,
        ...(opts.broker ? { broker: opts.broker, brokerOptions: brokerOptionsFrom(opts) } : {}),
        publisherOptions: {
          waitForBroker: opts.waitForBroker,
          ...(opts.outbox ? { outbox: opts.outbox } : {}),
          ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
          ...(opts.receiptGroup !== undefined ? { receiptGroup: opts.receiptGroup, delivery: opts.delivery } : {}),
        },
        fuse: { tile: opts.tile, denoise: opts.denoise, ...cameraFuse },
        previews: opts.previews,
        out: opts.out,
        subscribe: opts.subscribe,
        receiveTimeoutMs: opts.receiveTimeoutMs,
        onFrame: (r: FrameReport) => {
          say(formatReport(r));
          bar?.increment();
        },
        onCube: ({ meta, files }) => {
          const age = Date.now() - Date.parse(meta.capturedAt);
          say(`received cube ${meta.device}/${meta.sequence}: ${meta.shape.join('x')} float32, sha256 verified, ${age} ms after capture -> ${files?.header}`);
        },
      });
    } finally {
      bars?.stop();
      await model.release();
    }
    const lat = result.frames.map((f) => f.latencyMs).sort((a, b) => a - b);
    const psnrs = result.frames.flatMap((f) => (f.psnr !== undefined ? [f.psnr] : []));
    const p = result.publisher;
    const sub = result.subscriber;
    process.stdout.write(
      `spectra run: ${result.frames.length} frame(s) in ${(result.wallMs / 1000).toFixed(1)} s; ` +
        `latency median ${lat[Math.floor(lat.length / 2)] ?? 0} ms` +
        (psnrs.length ? `, mean PSNR ${(psnrs.reduce((a, b) => a + b, 0) / psnrs.length).toFixed(2)} dB` : '') +
        `; published ${p.cubesAcked} cube(s) to ${result.broker} (${p.acknowledged} messages acknowledged, ${p.evicted} evicted, ${result.capture.dropped} frames dropped)` +
        (result.drained ? '' : '; WARNING: not every cube was acknowledged before exit') +
        (sub ? `; subscriber received ${sub.received}/${sub.expected} cube(s) into ${sub.out}` : '') +
        (sub && sub.missing.length > 0 ? ` (MISSING sequence(s) ${sub.missing.join(', ')})` : '') +
        '\n',
    );
    if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (!result.drained) process.exitCode = 3;
    if (sub && sub.missing.length > 0) process.exitCode = 4;
  });
}

function makeSource(opts: RunCliOptions, model: FusionModel, camera: CameraProfile | undefined): FrameSource {
  const common = { maxFrames: opts.frames, ...(opts.policy ? { policy: opts.policy } : {}), ...(camera ? { camera } : {}) };
  if (opts.source === 'synthetic') {
    if (camera) throw new InvalidArgumentError('--camera describes files from a real camera; use it with --source watch or replay');
    return openSource('synthetic', { ...common, snrDb: opts.snr, fps: opts.fps, scene: opts.scene ?? defaultScene(), ...(opts.size ? { size: opts.size } : {}) }, { card: model.card });
  }
  if (opts.input === undefined) throw new InvalidArgumentError(`--source ${opts.source} needs --input <dir>`);
  if (opts.source === 'replay') return openSource('replay', { ...common, frames: opts.input, fps: opts.fps }, { card: model.card });
  return openSource(opts.source, { ...common, dir: opts.input }, { card: model.card });
}
