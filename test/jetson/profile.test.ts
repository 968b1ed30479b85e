import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ProfileError } from '../../devices/jetson/errors';
import { loadProfile, validateProfile } from '../../devices/jetson/profile';

const EXAMPLE = join(__dirname, '../../devices/jetson/profile.example.json');

function base(): Record<string, unknown> {
  return {
    schema: 'spectra-edge/device-profile@1',
    device: 'cam-1',
    model: 'models/student.onnx',
    capture: { adapter: 'synthetic' },
    broker: { url: 'mqtt://127.0.0.1:1883' },
    outbox: { path: 'outbox' },
  };
}

function rejects(t: Test, raw: Record<string, unknown>, field: string, pattern: RegExp): void {
  try {
    validateProfile(raw, 'p.json', '/srv');
    t.fail(`expected a ProfileError on ${field}`);
  } catch (err) {
    t.type(err, ProfileError);
    const e = err as ProfileError;
    t.equal(e.code, 'E_PROFILE');
    t.equal(e.field, field);
    t.match(e.message, /^p\.json: /);
    t.match(e.message, pattern);
  }
}

t.test('loads: the shipped example profile', async (t) => {
  const p = loadProfile(EXAMPLE);
  t.equal(p.device, 'orin-nx-01');
  t.same(p.providers[0], {
    name: 'tensorrt',
    deviceId: 0,
    fp16: true,
    int8: false,
    engineCacheDir: '/var/lib/spectra/trt-engines',
    timingCacheDir: '/var/lib/spectra/trt-timing',
    workspaceBytes: 2147483648,
  });
  t.equal(p.providers[2], 'cpu');
  t.equal(p.broker.passwordFile, '/etc/spectra/broker.password');
  t.equal(p.outbox.maxBytes, 4294967296);
});

t.test('fills defaults and resolves relative paths against the profile folder', async (t) => {
  const p = validateProfile(base(), 'p.json', '/srv/spectra');
  t.same(p.providers, ['tensorrt', 'cuda', 'cpu']);
  t.equal(p.model, '/srv/spectra/models/student.onnx');
  t.equal(p.outbox.path, '/srv/spectra/outbox');
  t.same(p.status, { intervalSeconds: 10, tegrastats: true });
  t.same(p.capture.options, {});
  t.equal(p.binding, undefined);
});

t.test('rejects: a misspelt TensorRT option instead of ignoring it', async (t) => {
  rejects(t, { ...base(), providers: [{ name: 'tensorrt', fp_16: true }] }, 'providers[0].fp_16', /unknown field; known: .*fp16/);
});

t.test('rejects: fp16 given as a string', async (t) => {
  rejects(t, { ...base(), providers: [{ name: 'tensorrt', fp16: 'yes' }] }, 'providers[0].fp16', /expected true or false but received 'yes'/);
});

t.test('rejects: a workspace in MiB instead of bytes', async (t) => {
  rejects(t, { ...base(), providers: [{ name: 'tensorrt', workspaceBytes: 2048 }] }, 'providers[0].workspaceBytes', /\[16777216, .*received 2048/);
});

t.test('rejects: an unknown provider name', async (t) => {
  rejects(t, { ...base(), providers: ['tensorrt', 'openvino'] }, 'providers[1]', /'tensorrt', 'cuda' or 'cpu' but received 'openvino'/);
});

t.test('rejects: a provider listed twice', async (t) => {
  rejects(t, { ...base(), providers: ['cuda', { name: 'cuda', deviceId: 1 }] }, 'providers[1]', /listed twice/);
});

t.test('rejects: a CUDA option on the CPU provider', async (t) => {
  rejects(t, { ...base(), providers: [{ name: 'cpu', deviceId: 0 }] }, 'providers[0].deviceId', /unknown field/);
});

t.test('rejects: a broker URL without a scheme', async (t) => {
  rejects(t, { ...base(), broker: { url: 'broker:1883' } }, 'broker.url', /mqtt:\/\/.*received 'broker:1883'/);
});

t.test('rejects: an MQTT version other than 4 or 5', async (t) => {
  rejects(t, { ...base(), broker: { url: 'mqtt://b', protocolVersion: 3 } }, 'broker.protocolVersion', /4 \(MQTT 3\.1\.1\) or 5 but received 3/);
});

t.test('rejects: password and passwordFile together', async (t) => {
  rejects(t, { ...base(), broker: { url: 'mqtt://b', password: 'x', passwordFile: 'f' } }, 'broker.password', /not both/);
});

t.test('rejects: a client certificate without its key', async (t) => {
  rejects(t, { ...base(), broker: { url: 'mqtts://b', cert: 'c.pem' } }, 'broker.key', /cert and key together/);
});

t.test('rejects: a missing outbox', async (t) => {
  const raw = base();
  delete raw.outbox;
  rejects(t, raw, 'outbox', /expected an object but received nothing \(the field is missing\)/);
});

t.test('rejects: an outbox too small for one cube', async (t) => {
  rejects(t, { ...base(), outbox: { path: 'o', maxBytes: 1000 } }, 'outbox.maxBytes', /\[1048576, /);
});

t.test('rejects: a device id that is not one topic level', async (t) => {
  rejects(t, { ...base(), device: 'site/cam+1' }, 'device', /one MQTT topic level/);
});

t.test('rejects: the wrong schema', async (t) => {
  rejects(t, { ...base(), schema: 'spectra-edge/device-profile@2' }, 'schema', /device-profile@1/);
});

t.test('rejects: a status interval of zero', async (t) => {
  rejects(t, { ...base(), status: { intervalSeconds: 0 } }, 'status.intervalSeconds', /\[1, 3600\] but received 0/);
});

t.test('rejects: a profile file that is not JSON, naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'profile-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, '{ "device": ');
  t.throws(() => loadProfile(file), { name: 'ProfileError', code: 'E_PROFILE', message: new RegExp(`^${file}: not valid JSON`) });
  t.throws(() => loadProfile(join(dir, 'missing.json')), { code: 'E_PROFILE', message: /missing\.json: cannot read the profile \(ENOENT\)/ });
});
