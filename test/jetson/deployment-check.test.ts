import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { checkDeployment } from '../../devices/jetson/deployment-check';
import { validateProfile } from '../../devices/jetson/profile';

function setup(precision: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-'));
  writeFileSync(join(dir, 'student.onnx'), 'not really a model; checkDeployment never opens it');
  writeFileSync(join(dir, 'student.card.json'), JSON.stringify({ schema: 'spectra-edge/model-card@1', precision }));
  writeFileSync(join(dir, 'password'), 'secret\n');
  return dir;
}

function profile(dir: string, extra: Record<string, unknown> = {}): ReturnType<typeof validateProfile> {
  return validateProfile(
    {
      schema: 'spectra-edge/device-profile@1',
      device: 'orin-1',
      model: 'student.onnx',
      providers: [{ name: 'tensorrt', fp16: true, int8: true, engineCacheDir: 'engines' }, 'cuda', 'cpu'],
      capture: { adapter: 'synthetic' },
      broker: { url: 'mqtts://broker:8883', passwordFile: 'password' },
      outbox: { path: 'outbox' },
      ...extra,
    },
    join(dir, 'profile.json'),
    dir,
  );
}

const jetsonUnpatched = () => ({
  path: '/opt/ort/node_modules/onnxruntime-node',
  version: '1.30.0',
  backends: [
    { name: 'cpu', bundled: true },
    { name: 'cuda', bundled: true },
    { name: 'tensorrt', bundled: true },
  ],
  honoursProviderOptions: [] as string[],
});

t.test('check: an int8 model on an unpatched Jetson binding works but warns about rebuilt engines', async (t) => {
  const dir = setup('int8');
  const c = checkDeployment(profile(dir), jetsonUnpatched);
  t.same(c.errors, []);
  t.same(c.providers?.granted, ['tensorrt', 'cuda', 'cpu']);
  t.match(c.warnings.join('\n'), /every start rebuilds the engines/);
  t.same(c.binding, { path: '/opt/ort/node_modules/onnxruntime-node', version: '1.30.0' });
});

t.test('check: rejects TensorRT int8 with an fp32 model', async (t) => {
  const dir = setup('fp32');
  const c = checkDeployment(profile(dir), () => ({ ...jetsonUnpatched(), honoursProviderOptions: ['tensorrt', 'cuda'] }));
  t.match(c.errors, [/tensorrt\.int8 needs the QDQ-quantized model .* says 'fp32'/]);
  t.same(c.warnings, []);
});

t.test('check: names a missing model, card and password file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-'));
  const c = checkDeployment(profile(dir), jetsonUnpatched);
  t.match(c.errors.join('\n'), /model: .*student\.onnx does not exist/);
  t.match(c.errors.join('\n'), /student\.card\.json does not exist/);
  t.match(c.errors.join('\n'), /broker\.passwordFile: .*password is missing or not readable/);
});

t.test('check: a binding that cannot load is an error naming it', async (t) => {
  const dir = setup('int8');
  const c = checkDeployment(profile(dir, { binding: '/nowhere/onnxruntime-node' }), (p) => {
    throw new Error(`Cannot find module '${p}'`);
  });
  t.match(c.errors, [/binding: cannot load \/nowhere\/onnxruntime-node: Cannot find module/]);
  t.equal(c.providers, undefined);
});

t.test('check: with this machine\'s stock binding everything falls back to the CPU', async (t) => {
  const dir = setup('int8');
  const c = checkDeployment(profile(dir));
  t.same(c.errors, []);
  t.same(c.providers?.granted, ['cpu']);
  t.match(c.warnings, [/no GPU provider/]);
});
