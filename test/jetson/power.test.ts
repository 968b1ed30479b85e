import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ProfileError } from '../../devices/jetson/errors';
import { applyPower, checkPower, parseNvpmodelQuery, readPowerMode } from '../../devices/jetson/power';
import { validateProfile } from '../../devices/jetson/profile';

const REPO = join(__dirname, '..', '..');
const ORIN_QUERY = 'NV Power Mode: MAXN\n0\n';

t.test('power: nvpmodel -q is parsed, warnings and odd output included', async (t) => {
  t.same(parseNvpmodelQuery(ORIN_QUERY), { id: 0, name: 'MAXN' });
  t.same(parseNvpmodelQuery('NVPM WARN: patching tpc_pg_mask\nNV Power Mode: 15W\n2\n'), { id: 2, name: '15W' });
  t.equal(parseNvpmodelQuery('command not found\n'), undefined);
  t.equal(parseNvpmodelQuery('NV Power Mode: MAXN\n'), undefined, 'a mode without its id is not a mode');
  t.same(readPowerMode(() => ORIN_QUERY), { id: 0, name: 'MAXN' });
  t.equal(
    readPowerMode(() => {
      throw Object.assign(new Error('spawn nvpmodel ENOENT'), { code: 'ENOENT' });
    }),
    undefined,
    'off a Jetson there is no mode, and no error',
  );
});

t.test('power: --check warns when the board runs another mode than the profile asks for', async (t) => {
  t.same(checkPower(undefined, { id: 2, name: '15W' }), [], 'no power section, nothing to say');
  t.same(checkPower({ nvpmodel: 2 }, { id: 2, name: '15W' }), []);
  t.match(checkPower({ nvpmodel: 0 }, { id: 2, name: '15W' })[0], /runs nvpmodel 2 \(15W\), the profile asks for 0.*sudo nvpmodel -m 0/);
  t.match(checkPower({ nvpmodel: 0 }, undefined)[0], /gave no mode/);
});

t.test('power: applying runs nvpmodel then jetson_clocks, and a failure names the command and the fix', async (t) => {
  const calls: string[] = [];
  const runner = (file: string, args: readonly string[]): string => {
    calls.push([file, ...args].join(' '));
    return '';
  };
  t.same(applyPower({ nvpmodel: 0, jetsonClocks: true }, runner), ['nvpmodel -m 0', 'jetson_clocks']);
  t.same(calls, ['nvpmodel -m 0', 'jetson_clocks']);
  t.same(applyPower(undefined, runner), [], 'nothing asked, nothing run');
  const denied = (): string => {
    throw Object.assign(new Error('exit 1'), { stderr: 'NVPM ERROR: failed to write: permission denied\n' });
  };
  t.throws(() => applyPower({ nvpmodel: 0 }, denied), /'nvpmodel -m 0' failed: NVPM ERROR: failed to write: permission denied; it needs root/);
  const missing = (): string => {
    throw Object.assign(new Error('spawn jetson_clocks ENOENT'), { code: 'ENOENT' });
  };
  t.throws(() => applyPower({ jetsonClocks: true }, missing), /jetson_clocks not found/);
});

t.test('power: the profile section is validated like every other', async (t) => {
  const base = { schema: 'spectra-edge/device-profile@1', device: 'cam-1', model: 'm.onnx', capture: { adapter: 'synthetic' }, broker: { url: 'mqtt://127.0.0.1:1883' }, outbox: { path: 'o' } };
  t.same(validateProfile({ ...base, power: { nvpmodel: 0, jetsonClocks: true } }).power, { nvpmodel: 0, jetsonClocks: true });
  t.equal(validateProfile(base).power, undefined);
  t.throws(() => validateProfile({ ...base, power: { nvpmodel: 'MAXN' } }), ProfileError);
  t.throws(() => validateProfile({ ...base, power: { clocks: true } }), /power.*clocks/);
});

t.test('service: --apply-power sets the mode as the unit runs it, --check compares it with the board', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spectra-power-'));
  const calls = join(dir, 'calls.txt');
  writeFileSync(calls, '');
  // Stand-ins for JetPack's tools: they log their arguments; nvpmodel -q reports mode 2.
  for (const tool of ['nvpmodel', 'jetson_clocks']) {
    const script = join(dir, tool);
    writeFileSync(script, `#!/bin/sh\necho "${tool} $*" >> '${calls}'\n[ "$1" = "-q" ] && printf 'NV Power Mode: 15W\\n2\\n'\nexit 0\n`);
    chmodSync(script, 0o755);
  }
  const profile = join(dir, 'profile.json');
  writeFileSync(
    profile,
    JSON.stringify({
      schema: 'spectra-edge/device-profile@1',
      device: 'pwr',
      model: join(REPO, 'test/fixtures/tiny/tiny-student.onnx'),
      providers: ['cpu'],
      capture: { adapter: 'synthetic' },
      broker: { url: 'mqtt://127.0.0.1:1' },
      outbox: { path: 'outbox' },
      power: { nvpmodel: 0, jetsonClocks: true },
    }),
  );
  const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
  const service = (args: string[]) => spawnSync(process.execPath, [join(REPO, 'devices/jetson/spectra-service.js'), '--profile', profile, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  const applied = service(['--apply-power']);
  t.equal(applied.status, 0, applied.stderr);
  t.match(applied.stdout, /power: nvpmodel -m 0\npower: jetson_clocks/);
  t.same(readFileSync(calls, 'utf8').trim().split('\n'), ['nvpmodel -m 0', 'jetson_clocks']);
  const check = service(['--check']);
  t.equal(check.status, 0, check.stderr);
  t.match(check.stdout, /WARNING   power: the board runs nvpmodel 2 \(15W\), the profile asks for 0/);
});
