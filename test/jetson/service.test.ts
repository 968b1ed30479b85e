// The Jetson service end to end on x64: profile -> check -> model (CPU fallback) -> synthetic capture -> fuse ->
// publish, with the status topic and systemd READY/STOPPING through a stand-in systemd-notify.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { EmbeddedBroker } from '../../sdk/publish/embedded-broker';

const REPO = join(__dirname, '..', '..');
const MODEL = join(REPO, 'test/fixtures/tiny/tiny-student.onnx');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, 'devices/jetson/spectra-service.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

t.test('service: fuses and publishes synthetic frames, reports status, tells systemd', async (t) => {
  const broker = await EmbeddedBroker.start({ port: 0, wsPort: null, log: () => undefined });
  t.teardown(() => broker.close());
  const dir = mkdtempSync(join(tmpdir(), 'spectra-service-'));
  const notifyLog = join(dir, 'notify.txt');
  writeFileSync(notifyLog, '');
  const notify = join(dir, 'systemd-notify');
  writeFileSync(notify, `#!/bin/sh\necho "$*" >> '${notifyLog}'\n`);
  chmodSync(notify, 0o755);
  const profile = join(dir, 'profile.json');
  writeFileSync(
    profile,
    JSON.stringify({
      schema: 'spectra-edge/device-profile@1',
      device: 'svc-test',
      model: MODEL,
      providers: [{ name: 'tensorrt', fp16: true, engineCacheDir: 'trt' }, 'cuda', 'cpu'],
      capture: { adapter: 'synthetic', options: { maxFrames: 3, size: [32, 32], scene: 'generated' } },
      broker: { url: broker.url, protocolVersion: 4 },
      outbox: { path: 'outbox' },
      status: { intervalSeconds: 1, tegrastats: false },
    }),
  );
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  t.teardown(() => client.endAsync(true));
  const metas: number[] = [];
  const statuses: Record<string, unknown>[] = [];
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/meta')) metas.push((JSON.parse(payload.toString()) as { sequence: number }).sequence);
    if (topic.endsWith('/status')) statuses.push(JSON.parse(payload.toString()) as Record<string, unknown>);
  });
  await client.subscribeAsync(['spectra/svc-test/cube/+/meta', 'spectra/svc-test/status']);

  const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/fake-notify', WATCHDOG_USEC: '2000000' };
  const check = await run(['--profile', profile, '--check'], env);
  t.equal(check.code, 0, check.out);
  t.match(check.out, /provider  tensorrt: unavailable, .*not bundled/);
  t.match(check.out, /WARNING   no GPU provider is available/);

  const r = await run(['--profile', profile], env);
  t.equal(r.code, 0, r.out);
  const deadline = Date.now() + 5000;
  while (metas.length < 3 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  t.same(metas, [0, 1, 2], 'every frame was published, in order');
  // Every status payload has the schema now (the publisher's online/offline ones too); reports carry frames.
  const online = statuses.filter((s) => s.schema === 'spectra-edge/status@1' && s.frames !== undefined);
  t.ok(online.length >= 1, 'the status report was published');
  t.match(online[online.length - 1], { device: 'svc-test', state: 'online', provider: 'cpu' });
  t.match(statuses[statuses.length - 1], { state: 'offline' }, 'the publisher says offline at the end');
  const calls = readFileSync(notifyLog, 'utf8').split('\n').filter(Boolean);
  t.match(calls[0], /^--ready --status=fusing on cpu$/);
  t.equal(calls[calls.length - 1], 'STOPPING=1');
});

t.test('service: a broken profile fails with the file and field named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spectra-service-'));
  const profile = join(dir, 'profile.json');
  writeFileSync(profile, JSON.stringify({ schema: 'spectra-edge/device-profile@1', device: 'x', model: MODEL, capture: { adapter: 'usb' }, broker: { url: 'mqtt://h' }, outbox: {} }));
  const r = await run(['--profile', profile, '--check'], process.env);
  t.equal(r.code, 2);
  t.match(r.out, new RegExp(`${profile}: outbox\\.path: expected a non-empty string but received nothing`));
});
