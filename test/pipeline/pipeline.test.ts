import t from 'tap';
import mqtt from 'mqtt';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readEnvi } from '../../sdk/cube/envi';
import { SyntheticSource } from '../../sdk/capture/synthetic';
import { EmbeddedBroker } from '../../sdk/publish/embedded-broker';
import { formatReport, runPipeline } from '../../sdk/pipeline/pipeline';
import { CubePublisher } from '../../sdk/publish/publisher';
import { CubeSubscriber, type ReceivedCube } from '../../sdk/publish/subscriber';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import { mosquittoMissing, startMosquitto } from '../helpers/mosquitto';
import { patternCube, sameBytes, tempDir, until } from '../publish/helpers';

const ROOT = resolve(__dirname, '..', '..');
const TINY = join(ROOT, 'test', 'fixtures', 'tiny', 'tiny-student.onnx');
const quiet = (): void => {};

t.test('runPipeline: synthetic -> fuse -> embedded broker, a report per frame with PSNR', async (t) => {
  const model = await FusionModel.load(TINY);
  t.teardown(() => model.release());
  const lines: string[] = [];
  const result = await runPipeline({
    model,
    source: new SyntheticSource({ card: model.card, scene: 'generated', size: [32, 32], maxFrames: 3, log: quiet }),
    frames: 3,
    onFrame: (r) => lines.push(String(r.sequence)),
    log: quiet,
  });
  t.equal(result.frames.length, 3);
  t.same(lines, ['0', '1', '2']);
  t.ok(result.frames.every((f) => Number.isFinite(f.psnr) && f.latencyMs >= 0 && f.fuseMs > 0));
  t.ok(result.frames.every((f) => f.denoise !== undefined && Number.isFinite(f.denoise.snrDb)), "each report carries fuse's default denoise decision");
  t.ok(result.drained, 'every cube acknowledged by the embedded broker');
  t.equal(result.publisher.cubesAcked, 3);
  t.match(result.broker, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  t.match(result.wsBroker, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
});

t.test('runPipeline: the consistency check runs on every n-th frame, and each report splits its latency', async (t) => {
  const model = await FusionModel.load(TINY);
  t.teardown(() => model.release());
  const run = (options: { qualityEvery?: number; quality?: boolean }) =>
    runPipeline({
      model,
      source: new SyntheticSource({ card: model.card, scene: 'generated', size: [32, 32], maxFrames: 5, log: quiet }),
      frames: 5,
      ...(options.qualityEvery !== undefined ? { qualityEvery: options.qualityEvery } : {}),
      ...(options.quality !== undefined ? { fuse: { quality: options.quality } } : {}),
      log: quiet,
    });
  const checkedFrames = (r: Awaited<ReturnType<typeof run>>) => r.frames.filter((f) => f.consistencyPsnr !== undefined).map((f) => f.sequence);
  const byDefault = await run({});
  t.same(checkedFrames(byDefault), [0, 4], 'every 4th frame by default, the first included');
  t.ok(byDefault.frames.every((f) => (f.consistencyPsnr === undefined) === (f.qualityMs === 0)), 'qualityMs is spent exactly on checked frames');
  t.same(checkedFrames(await run({ qualityEvery: 2 })), [0, 2, 4]);
  t.same(checkedFrames(await run({ qualityEvery: 1 })), [0, 1, 2, 3, 4]);
  t.same(checkedFrames(await run({ qualityEvery: 1, quality: false })), [], 'fuse.quality false turns it off');
  for (const f of byDefault.frames) {
    t.ok(f.queueMs >= 0 && f.publishMs >= 0, `frame ${f.sequence}: queue ${f.queueMs} ms, store ${f.publishMs.toFixed(1)} ms`);
    t.ok(f.queueMs + f.fuseMs + f.publishMs <= f.latencyMs + 2, 'the parts fit inside the capture-to-outbox latency');
  }
  await t.rejects(run({ qualityEvery: 0 }), /qualityEvery/, 'a bad interval is named');
});

t.test('runPipeline -> mosquitto -> subscriber: the fused cubes arrive bit-exact', { skip: mosquittoMissing() }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const sub = await CubeSubscriber.connect({ broker: broker.url, quicklook: false, log: quiet });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const out = tempDir();
  const model = await FusionModel.load(TINY);
  t.teardown(() => model.release());
  const result = await runPipeline({
    model,
    source: new SyntheticSource({ card: model.card, scene: 'generated', size: [32, 32], maxFrames: 2, log: quiet }),
    frames: 2,
    broker: broker.url,
    device: 'edge-1',
    out,
    log: quiet,
  });
  t.ok(result.drained);
  await until(() => got.length === 2, 10_000, 'two cubes');
  for (const g of got) {
    const local = await readEnvi(join(out, `fused_${String(g.meta.sequence).padStart(6, '0')}.hdr`));
    t.ok(sameBytes(g.cube.data, local.data), `cube ${g.meta.sequence} equals the fused output`);
    t.equal(g.meta.model?.id, 'tiny-student');
    t.ok(g.meta.quality && Number.isFinite(g.meta.quality.psnr), 'PSNR travels in the meta');
  }
  t.ok(readdirSync(out).includes('run.json'));
  await sub.close();
});

interface CliRun {
  out: { stdout: string; stderr: string };
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function start(args: string[], timeoutMs = 60_000): CliRun {
  const out = { stdout: '', stderr: '' };
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'spectra.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, ...out });
    }),
  );
  return { out, done };
}

const cli = (args: string[]) => start(args).done;

t.test('CLI: spectra run publishes to mosquitto and spectra subscribe writes the cubes', { skip: mosquittoMissing() }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const out = tempDir();
  const subscriber = start(['subscribe', '--broker', broker.url, '--out', out, '--count', '2']);
  await until(() => subscriber.out.stderr.includes('listening on'), 30_000, 'the subscriber to subscribe');
  const run = await cli(['run', '--model', TINY, '--broker', broker.url, '--frames', '2', '--scene', 'generated', '--size', '32x32', '--device', 'cli-cam']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /frame 0: fuse \d+ ms, latency \d+ ms \(queue \d+, store \d+\), PSNR -?[\d.]+ dB/);
  t.match(run.stdout, /published 2 cube\(s\)/);
  const sub = await subscriber.done;
  t.equal(sub.code, 0, sub.stderr);
  t.match(sub.stdout, /cube cli-cam\/0: 8x32x32 float32/);
  t.equal(readdirSync(out).filter((n) => n.endsWith('.hdr')).length, 2);
});

t.test('CLI: a refused broker is one clear line and a non-zero exit', async (t) => {
  const run = await cli(['run', '--model', TINY, '--broker', 'mqtt://127.0.0.1:9', '--frames', '1', '--scene', 'generated', '--size', '32x32']);
  t.not(run.code, 0);
  t.match(run.stderr, /BrokerConnectionError \[E_BROKER_CONNECT\]: mqtt:\/\/127\.0\.0\.1:9: connection refused/);
});

t.test('embedded broker: a WebSocket client receives what a TCP client publishes', async (t) => {
  const broker = await EmbeddedBroker.start({ port: 0, wsPort: 0, log: quiet });
  t.teardown(() => broker.close());
  t.match(broker.wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
  const sub = await CubeSubscriber.connect({ broker: broker.wsUrl!, protocolVersion: 4, quicklook: false, log: quiet });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'emb', protocolVersion: 4, chunkSize: 2048, log: quiet });
  const cube = patternCube(3, 16, 16, 8);
  await pub.publish(cube);
  await until(() => got.length === 1, 10_000, 'the cube over WebSocket');
  t.ok(sameBytes(got[0].cube.data, cube.data));
  await pub.close();
  await sub.close();
});

t.test('previews: browsers get a retained quicklook PNG and small spectra over WebSocket, not cubes', async (t) => {
  const broker = await EmbeddedBroker.start({ port: 0, wsPort: 0, log: quiet });
  t.teardown(() => broker.close());
  const model = await FusionModel.load(TINY);
  t.teardown(() => model.release());
  await runPipeline({
    model,
    source: new SyntheticSource({ card: model.card, scene: 'generated', size: [32, 32], maxFrames: 1, log: quiet }),
    frames: 1,
    broker: broker.url,
    brokerOptions: { protocolVersion: 4 },
    device: 'web',
    previews: true,
    log: quiet,
  });
  const browser = await mqtt.connectAsync(broker.wsUrl!, { protocolVersion: 4 });
  const got = new Map<string, Buffer>();
  browser.on('message', (topic, payload) => got.set(topic, payload));
  await browser.subscribeAsync('spectra/web/+', { qos: 0 });
  await until(() => got.has('spectra/web/quicklook') && got.has('spectra/web/spectra'), 5000, 'retained previews');
  t.equal(got.get('spectra/web/quicklook')!.subarray(1, 4).toString(), 'PNG');
  const spectra = JSON.parse(got.get('spectra/web/spectra')!.toString()) as { wavelengths: number[]; points: { values: number[] }[] };
  t.equal(spectra.points.length, 5);
  t.equal(spectra.points[0].values.length, model.card.hsi.bands);
  t.ok(got.get('spectra/web/spectra')!.length < 2000, 'a few hundred bytes');
  await browser.endAsync();
});

t.test('backpressure: with an in-memory outbox, fusing waits while maxPendingCubes cubes are undelivered, then goes on', async (t) => {
  const broker = await EmbeddedBroker.start({ port: 0, wsPort: 0, log: quiet });
  t.teardown(() => broker.close());
  const model = await FusionModel.load(TINY);
  t.teardown(() => model.release());
  // Receipts from group 'late' release cubes; its consumer joins only after a second, so the outbox fills first.
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'bp', protocolVersion: 4, receiptGroup: 'late', receiptTimeoutMs: 500, log: quiet });
  t.teardown(() => pub.close());
  t.ok(pub.holdsCubesInMemory);
  let most = 0;
  const fused: number[] = [];
  const started = Date.now();
  const run = runPipeline({
    model,
    source: new SyntheticSource({ card: model.card, scene: 'generated', size: [32, 32], maxFrames: 8, log: quiet }),
    frames: 8,
    broker: pub,
    device: 'bp',
    maxPendingCubes: 2,
    log: quiet,
    onFrame: () => {
      fused.push(Date.now() - started);
      most = Math.max(most, pub.metrics().outboxCubes);
    },
  });
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(fused.length, 2, 'two frames fused, then the loop waits for room');
  const received: number[] = [];
  const sub = await CubeSubscriber.connect({ broker: broker.url, device: 'bp', group: 'late', protocolVersion: 4, log: quiet });
  t.teardown(() => sub.close());
  sub.on('cube', (c: ReceivedCube) => received.push(c.meta.sequence));
  await run;
  await until(() => received.length === 8, 10_000, 'every cube received');
  t.ok(most <= 2, `at most 2 cubes waited in memory (saw ${most})`);
  t.same([...received].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
  await t.rejects(runPipeline({ model, frames: 1, broker: pub, device: 'bp', maxPendingCubes: 0, log: quiet }), RangeError);
});

t.test('formatReport: a frame whose output was projected says so, with the SNR that decided it', async (t) => {
  const base = { sequence: 4, fuseMs: 40, latencyMs: 60, queueMs: 5, qualityMs: 0, publishMs: 2 };
  t.equal(formatReport({ ...base, denoise: { snrDb: 28.84, projected: true } }), 'frame 4: fuse 40 ms, latency 60 ms (queue 5, store 2), denoised (LR-HSI SNR 28.8 dB)');
  t.equal(formatReport({ ...base, denoise: { snrDb: 52, projected: false } }), 'frame 4: fuse 40 ms, latency 60 ms (queue 5, store 2)');
});
