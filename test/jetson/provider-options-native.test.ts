// Compiles the C++ option translation that the onnxruntime-node patch uses (devices/jetson/native) and checks
// it agrees with the TypeScript table and the runtime's option strings. Skips when no C++ compiler is present.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { FORWARDED_OPTION_KEYS, ortProviderOptions } from '../../devices/jetson/provider-options';
import { normaliseProvider, toOrtProvider } from '../../sdk/runtime/providers';

const REPO = join(__dirname, '..', '..');
const PATCH = join(REPO, 'devices/jetson/patches/0001-forward-provider-options.patch');

const cxx = ['g++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
if (cxx === undefined) {
  t.plan(0, 'no C++ compiler (g++ or clang++) on PATH; install build-essential to test the binding patch translation');
} else {
  const exe = join(mkdtempSync(join(tmpdir(), 'spectra-native-')), 'translate-main');
  execFileSync(cxx, ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-O0', '-o', exe, join(__dirname, 'native', 'translate-main.cc')]);

  const run = (args: string[], input = ''): { status: number | null; out: string[][] } => {
    const r = spawnSync(exe, args, { input, encoding: 'utf8' });
    return { status: r.status, out: r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')) };
  };
  const encode = (props: Record<string, unknown>): string =>
    Object.entries(props)
      .map(([k, v]) => `${k}\t${typeof v === 'boolean' ? 'b' : typeof v === 'number' ? 'n' : 's'}\t${String(v)}`)
      .join('\n');

  t.test('native: the C++ key table equals the TypeScript table', async (t) => {
    for (const provider of ['tensorrt', 'cuda'] as const) {
      const native = Object.fromEntries(run(['keys', provider]).out);
      t.same(native, FORWARDED_OPTION_KEYS[provider], provider);
    }
    t.same(run(['keys', 'cpu']).out, [], 'cpu takes no options');
  });

  t.test('native: the runtime option strings reach the provider options unchanged', async (t) => {
    const pairs = ortProviderOptions({
      name: 'tensorrt',
      deviceId: 1,
      fp16: true,
      int8: false,
      engineCacheDir: '/var/cache/trt',
      timingCacheDir: '/var/cache/timing',
      workspaceBytes: 3 * 2 ** 30,
    });
    const entry = { name: 'tensorrt', deviceId: 1, ...Object.fromEntries(pairs) };
    const r = run(['translate', 'tensorrt'], encode(entry));
    t.equal(r.status, 0);
    t.same(r.out, pairs, 'same keys, same values, same order; name and deviceId are left to the binding');
  });

  t.test('native: JavaScript booleans and numbers become onnxruntime strings', async (t) => {
    const r = run(['translate', 'tensorrt'], encode({ trt_fp16_enable: true, trt_dla_enable: false, trt_max_workspace_size: 2 ** 33, trt_dla_core: '1' }));
    t.same(r.out, [
      ['trt_fp16_enable', '1'],
      ['trt_dla_enable', '0'],
      ['trt_max_workspace_size', String(2 ** 33)],
      ['trt_dla_core', '1'],
    ]);
  });

  t.test('native: rejects a typed (camelCase) key the binding would otherwise drop', async (t) => {
    const r = run(['translate', 'tensorrt'], encode({ fp16: true }));
    t.equal(r.status, 1);
    t.match(r.out[0][1], /unknown option 'fp16'; known: trt_max_workspace_size, trt_fp16_enable/);
  });

  t.test('native: rejects values of the wrong kind', async (t) => {
    t.match(run(['translate', 'tensorrt'], encode({ trt_fp16_enable: 'yes' })).out[0][1], /'trt_fp16_enable' expects a boolean/);
    t.match(run(['translate', 'tensorrt'], encode({ trt_max_workspace_size: -1 })).out[0][1], /expects a non-negative integer/);
    t.match(run(['translate', 'tensorrt'], encode({ trt_max_workspace_size: 1.5 })).out[0][1], /expects a non-negative integer/);
    t.match(run(['translate', 'tensorrt'], encode({ trt_engine_cache_path: '' })).out[0][1], /expects a non-empty string/);
    t.match(run(['translate', 'cuda'], encode({ trt_fp16_enable: true })).out[0][1], /'cuda': unknown option 'trt_fp16_enable'/);
  });

  // The lines the patch adds before ParseExecutionProviders, compiled into a real N-API addon and called with the
  // exact entry object the SDK runtime builds: what reaches UpdateTensorRTProviderOptions is what the SDK asked for.
  const nodeInclude = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));
  const addonApi = join(REPO, 'node_modules', 'node-addon-api');
  const skipAddon =
    nodeInclude === undefined
      ? 'no Node.js headers (node_api.h) found; install nodejs headers to compile the patch into an addon'
      : existsSync(join(addonApi, 'napi.h'))
        ? false
        : 'node-addon-api is not installed (npm ci)';
  t.test('patch: the binding code forwards the runtime TensorRT entry to the provider options', { skip: skipAddon }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'spectra-patch-'));
    let hunk = 0;
    const added: string[] = [];
    for (const line of readFileSync(PATCH, 'utf8').split('\n')) {
      if (line.startsWith('@@')) hunk++;
      else if (hunk === 1 && line.startsWith('+')) added.push(line.slice(1));
    }
    writeFileSync(join(dir, 'patch-hunk.inc'), added.join('\n') + '\n');
    const addonPath = join(dir, 'harness.node');
    execFileSync(cxx, [
      '-std=c++17', '-shared', '-fPIC', '-O0', '-DNAPI_CPP_EXCEPTIONS', '-DNAPI_VERSION=8',
      `-I${nodeInclude}`, `-I${addonApi}`, `-I${join(REPO, 'devices/jetson/native')}`, `-I${dir}`,
      '-o', addonPath, join(__dirname, 'native', 'patch-harness.cc'),
    ]);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(addonPath) as { forward: (provider: string, entry: unknown, deviceId: number) => [string, string][] };
    const request = normaliseProvider({
      name: 'tensorrt',
      deviceId: 1,
      fp16: true,
      int8: true,
      engineCacheDir: '/var/lib/spectra/trt-engines',
      timingCacheDir: '/var/lib/spectra/trt-timing',
      workspaceBytes: 2 ** 31,
    });
    const entry = toOrtProvider(request, true);
    t.same(addon.forward('tensorrt', entry, 1), [['device_id', '1'], ...ortProviderOptions(request)], 'every typed option arrives, device id first');
    t.same(addon.forward('tensorrt', toOrtProvider(request, false), 0), [['device_id', '0']], 'the stock entry (name, deviceId) forwards nothing else');
    t.same(addon.forward('tensorrt', 'tensorrt', 0), [['device_id', '0']], 'a bare provider name still works');
    t.same(addon.forward('cuda', toOrtProvider(normaliseProvider({ name: 'cuda', memLimitBytes: 2 ** 30 }), true), 0), [
      ['device_id', '0'],
      ['gpu_mem_limit', String(2 ** 30)],
    ]);
    t.throws(() => addon.forward('tensorrt', { name: 'tensorrt', trt_fp16: '1' }, 0), {
      name: 'TypeError',
      message: /^Invalid argument: executionProviders 'tensorrt': unknown option 'trt_fp16'/,
    });
    t.throws(() => addon.forward('tensorrt', { name: 'tensorrt', trt_int8_enable: 'maybe' }, 0), { name: 'TypeError', message: /expects a boolean/ });
  });
}
