import t from 'tap';
import { FORWARDED_OPTION_KEYS, ortProviderOptions, resolveProviders } from '../../devices/jetson/provider-options';

// What listSupportedBackends() says on this x64 machine with the npm onnxruntime-node.
const STOCK_X64 = {
  backends: [
    { name: 'cpu', bundled: true },
    { name: 'webgpu', bundled: true },
    { name: 'cuda', bundled: false },
    { name: 'tensorrt', bundled: false },
  ],
  honoursProviderOptions: [],
};
// The npm binding on arm64 (Jetson): CPU only.
const STOCK_ARM64 = { backends: [{ name: 'cpu', bundled: true }], honoursProviderOptions: [] };
// A Jetson build without the forwarding patch.
const JETSON_UNPATCHED = {
  backends: [
    { name: 'cpu', bundled: true },
    { name: 'cuda', bundled: true },
    { name: 'tensorrt', bundled: true },
  ],
  honoursProviderOptions: [],
};
const JETSON_PATCHED = { ...JETSON_UNPATCHED, honoursProviderOptions: ['tensorrt', 'cuda'] };

const TRT = {
  name: 'tensorrt' as const,
  fp16: true,
  int8: true,
  engineCacheDir: '/var/lib/spectra/trt-engines',
  timingCacheDir: '/var/lib/spectra/trt-timing',
  workspaceBytes: 2 ** 31,
};

t.test('translates: typed TensorRT options to the exact onnxruntime keys', async (t) => {
  const pairs = Object.fromEntries(ortProviderOptions(TRT));
  t.same(pairs, {
    trt_fp16_enable: '1',
    trt_int8_enable: '1',
    trt_engine_cache_enable: '1',
    trt_engine_cache_path: '/var/lib/spectra/trt-engines',
    trt_timing_cache_enable: '1',
    trt_timing_cache_path: '/var/lib/spectra/trt-timing',
    trt_max_workspace_size: '2147483648',
  });
  t.same(ortProviderOptions({ name: 'tensorrt', fp16: false }), [['trt_fp16_enable', '0']]);
  t.same(ortProviderOptions({ name: 'cuda', memLimitBytes: 1024 }), [['gpu_mem_limit', '1024']]);
  t.same(ortProviderOptions('cpu'), []);
});

t.test('translates: every key the runtime emits is one the patched binding accepts, with the right kind', async (t) => {
  const kinds = FORWARDED_OPTION_KEYS;
  for (const [key, value] of ortProviderOptions(TRT)) {
    const kind = kinds.tensorrt[key];
    t.ok(kind, `${key} is forwarded`);
    if (kind === 'bool') t.match(value, /^[01]$/);
    if (kind === 'uint') t.match(value, /^\d+$/);
  }
  for (const [key] of ortProviderOptions({ name: 'cuda', memLimitBytes: 5 })) t.ok(kinds.cuda[key], `${key} is forwarded`);
});

t.test('resolves: stock x64 binding lacks TensorRT and CUDA -> CPU with reasons', async (t) => {
  const r = resolveProviders([TRT, { name: 'cuda', deviceId: 0 }, 'cpu'], STOCK_X64);
  t.same(r.granted, ['cpu']);
  t.same(
    r.decisions.map((d) => [d.name, d.outcome]),
    [
      ['tensorrt', 'unavailable'],
      ['cuda', 'unavailable'],
      ['cpu', 'candidate'],
    ],
  );
  t.match(r.decisions[0].reason, /not bundled/);
  t.match(r.decisions[0].reason, /SPECTRA_ORT_BINDING/);
  t.same(r.dropped, [], 'options of a provider that is not tried are not "dropped"');
  t.match(r.warnings, [/no GPU provider is available/]);
});

t.test('resolves: stock arm64 binding does not even list the GPU providers', async (t) => {
  const r = resolveProviders(['tensorrt', 'cuda', 'cpu'], STOCK_ARM64);
  t.same(r.granted, ['cpu']);
  t.match(r.decisions[0].reason, /does not list 'tensorrt'/);
});

t.test('resolves: an unpatched Jetson build drops every TensorRT option, and says what that costs', async (t) => {
  const r = resolveProviders([TRT, 'cuda', 'cpu'], JETSON_UNPATCHED);
  t.same(r.granted, ['tensorrt', 'cuda', 'cpu']);
  t.same(r.decisions[0].droppedOptions.sort(), ['engineCacheDir', 'fp16', 'int8', 'timingCacheDir', 'workspaceBytes']);
  t.match(r.decisions[0].reason, /#26854/);
  t.ok(r.dropped.includes('tensorrt.fp16'));
  t.match(r.warnings.join('\n'), /every start rebuilds the engines/);
  t.match(r.warnings.join('\n'), /int8 is dropped/);
  t.same(r.decisions[1].droppedOptions, [], 'bare cuda requests nothing to drop');
});

t.test('resolves: a patched Jetson build forwards them, nothing dropped, no warnings', async (t) => {
  const r = resolveProviders([TRT, 'cuda', 'cpu'], JETSON_PATCHED);
  t.same(r.granted, ['tensorrt', 'cuda', 'cpu']);
  t.same(r.dropped, []);
  t.same(r.warnings, []);
  t.match(r.decisions[0].reason, /forwarded/);
});

t.test('resolves: without cpu in the request and no GPU, nothing can load', async (t) => {
  const r = resolveProviders(['tensorrt'], STOCK_X64);
  t.same(r.granted, []);
  t.match(r.warnings, [/cannot load/]);
});

t.test('rejects: an unknown provider in the request', async (t) => {
  t.throws(() => resolveProviders(['openvino' as 'cpu'], STOCK_X64), TypeError);
});
