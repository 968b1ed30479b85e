import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { completeForCard, planProviders, providerOptionStrings, tensorRtShapes, toOrtProvider, type TensorRtProvider } from '../../../sdk/runtime/providers';
import { readModelCard } from '../../../sdk/core/model-card';
import { bindingHonoursProviderOptions, loadBinding } from '../../../sdk/runtime/binding';
import type { LogLevel } from '../../../sdk/core/log';
import { TINY_MODEL, randomCube, tempDir } from '../helpers';

const STOCK = [
  { name: 'cpu', bundled: true },
  { name: 'cuda', bundled: false },
  { name: 'tensorrt', bundled: false },
];

t.test('providers: not-bundled GPU providers are skipped with the reason from listSupportedBackends', async (t) => {
  const plan = planProviders(['tensorrt', { name: 'cuda', deviceId: 1 }, 'cpu'], STOCK, []);
  t.same(plan.candidates, [{ name: 'cpu' }]);
  t.same(plan.skipped.map((s) => [s.name, s.outcome]), [['tensorrt', 'unavailable'], ['cuda', 'unavailable']]);
  t.match(plan.skipped[0].reason, /not bundled in this onnxruntime-node binding/);
  t.throws(() => planProviders(['rocm' as never], STOCK, []), TypeError);
});

t.test('providers: typed TensorRT options map to onnxruntime keys, and are dropped by a stock binding', async (t) => {
  const trt = { name: 'tensorrt' as const, fp16: true, int8: false, engineCacheDir: '/var/cache/trt', workspaceBytes: 1 << 30 };
  t.same(providerOptionStrings(trt), {
    fp16: ['trt_fp16_enable', '1'],
    int8: ['trt_int8_enable', '0'],
    engineCacheDir: ['trt_engine_cache_path', '/var/cache/trt'],
    engineCacheEnable: ['trt_engine_cache_enable', '1'],
    workspaceBytes: ['trt_max_workspace_size', String(1 << 30)],
  });
  t.same(toOrtProvider(trt, false), { name: 'tensorrt', deviceId: 0 });
  t.match(toOrtProvider(trt, true), { name: 'tensorrt', trt_fp16_enable: '1', trt_engine_cache_path: '/var/cache/trt' });
  const gpu = STOCK.map((b) => ({ ...b, bundled: true }));
  t.same(planProviders([trt], gpu, []).dropped, ['tensorrt.fp16', 'tensorrt.int8', 'tensorrt.engineCacheDir', 'tensorrt.workspaceBytes']);
  t.same(planProviders([trt], gpu, ['tensorrt']).dropped, []);
});

t.test('providers: the TensorRT optimization profile comes from the card, and engine caches are keyed by model and profile', async (t) => {
  const card = await readModelCard(TINY_MODEL.replace(/\.onnx$/, '.card.json'));
  const B = card.hsi.bands;
  const b = card.msi.bands;
  const s = card.scale;
  const m = card.spatial_multiple ?? 1;
  const minLr = Math.max(m, Math.ceil((card.min_lr_size ?? m) / m) * m);
  const shapes = tensorRtShapes(card, { optLr: 32, maxLr: 128, maxBatch: 2 });
  t.equal(shapes.min, `lrhsi:1x${B}x${minLr}x${minLr},hrmsi:1x${b}x${minLr * s}x${minLr * s}`);
  t.equal(shapes.opt, `lrhsi:1x${B}x32x32,hrmsi:1x${b}x${32 * s}x${32 * s}`);
  t.equal(shapes.max, `lrhsi:2x${B}x128x128,hrmsi:2x${b}x${128 * s}x${128 * s}`, 'the batch bound is in the max shape');
  t.throws(() => tensorRtShapes(card, { optLr: 512, maxLr: 128 }), /minLr <= optLr <= maxLr/);
  t.throws(() => tensorRtShapes(card, { maxBatch: 0 }), /maxBatch/);
  const withStats = { ...card, frame_statistics: { graph: 'x.stats.onnx', sha256: '0', input: 'frame_stats', length: 133 } };
  const statShapes = tensorRtShapes(withStats, { optLr: 32, maxLr: 128, maxBatch: 2 });
  t.equal(statShapes.min, `${shapes.min},frame_stats:1x133`, 'a statistics input gets its shape, batched');
  t.equal(statShapes.max, `${shapes.max},frame_stats:2x133`);

  const done = completeForCard({ name: 'tensorrt', fp16: true, engineCacheDir: '/var/cache/trt' }, card) as TensorRtProvider;
  t.same(done.shapes, tensorRtShapes(card), 'the default profile when none is given');
  t.match(done.engineCachePrefix, new RegExp(`^${card.name.replace(/[^A-Za-z0-9_.-]/g, '_')}_${card.precision ?? 'fp32'}_${card.onnx_sha256.slice(0, 12)}_[0-9a-f]{8}$`));
  const other = completeForCard({ name: 'tensorrt', engineCacheDir: '/var/cache/trt', shapes }, card) as TensorRtProvider;
  t.not(other.engineCachePrefix, done.engineCachePrefix, 'another profile, another engine file');
  t.equal((completeForCard('tensorrt', card) as TensorRtProvider).engineCachePrefix, undefined, 'no cache, no prefix');
  t.equal(completeForCard('cpu', card), 'cpu');
  t.match(toOrtProvider(done, true), {
    trt_profile_min_shapes: done.shapes!.min,
    trt_profile_opt_shapes: done.shapes!.opt,
    trt_profile_max_shapes: done.shapes!.max,
    trt_engine_cache_prefix: done.engineCachePrefix,
  });
  const gpu = STOCK.map((x) => ({ ...x, bundled: true }));
  t.same(planProviders([done], gpu, []).dropped, ['tensorrt.fp16', 'tensorrt.engineCacheDir', 'tensorrt.shapes', 'tensorrt.engineCachePrefix'], 'a stock binding drops the profile, reported once');

  const model = await FusionModel.load(TINY_MODEL);
  t.teardown(() => model.release());
  const asked = model.providers.requested.find((p): p is TensorRtProvider => typeof p === 'object' && p.name === 'tensorrt');
  t.same(asked?.shapes, tensorRtShapes(model.card), 'load completes the default TensorRT request with the card profile');
});

t.test('binding: the stock onnxruntime-node honours no provider options; a marked binding does', async (t) => {
  const stock = loadBinding(undefined);
  t.equal(stock.path, 'onnxruntime-node');
  t.same(stock.honoursProviderOptions, []);
  t.ok(stock.backends.some((b) => b.name === 'cpu' && b.bundled));
  t.same(bindingHonoursProviderOptions(stock.module, { spectraEdge: { honoursProviderOptions: ['tensorrt', 'cuda'] } }), ['tensorrt', 'cuda']);
});

/** A binding module that claims GPU providers and records what reaches InferenceSession.create, running on CPU underneath. */
function fakeBinding(dir: string, opts: { honours: boolean; failCuda: boolean }): string {
  const path = join(dir, `fake-ort-${opts.honours}-${opts.failCuda}.js`);
  writeFileSync(
    path,
    `const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});
     const calls = [];
     module.exports = {
       Tensor: ort.Tensor,
       calls,
       ${opts.honours ? "honoursProviderOptions: ['tensorrt', 'cuda']," : ''}
       listSupportedBackends: () => [{ name: 'cpu', bundled: true }, { name: 'cuda', bundled: true }, { name: 'tensorrt', bundled: true }],
       InferenceSession: { create: async (p, o) => {
         calls.push(o.executionProviders);
         const ep = o.executionProviders[0];
         if (${opts.failCuda} && ep.name === 'cuda') throw new Error('CUDA driver version is insufficient');
         return ort.InferenceSession.create(p, { ...o, executionProviders: ['cpu'] });
       } },
     };`,
  );
  return path;
}

t.test('providers: options reach a binding that honours them; a stock-like binding reports them as dropped, loudly, once', async (t) => {
  const dir = tempDir();
  const trt = { name: 'tensorrt' as const, fp16: true, engineCacheDir: join(dir, 'engines') };
  const honouring = fakeBinding(dir, { honours: true, failCuda: false });
  const logs: [LogLevel, string][] = [];
  const a = await FusionModel.load(TINY_MODEL, { binding: honouring, providers: [trt, 'cpu'], log: (l, m) => logs.push([l, m]) });
  t.teardown(() => a.release());
  t.equal(a.providers.granted, 'tensorrt');
  t.same(a.providers.droppedOptions, []);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const calls = (require(honouring) as { calls: unknown[][] }).calls;
  t.match(calls[0][0], { name: 'tensorrt', trt_fp16_enable: '1', trt_engine_cache_enable: '1', trt_engine_cache_path: join(dir, 'engines') });
  t.match(calls[0][0], { trt_profile_min_shapes: /^lrhsi:1x\d+x\d+x\d+,hrmsi:1x/, trt_engine_cache_prefix: /^tiny-student_fp32_[0-9a-f]{12}_[0-9a-f]{8}$/ }, 'the card profile and cache prefix reach the binding');
  t.notOk(logs.some(([l]) => l === 'warn'));

  const dropping = fakeBinding(dir, { honours: false, failCuda: false });
  const logs2: [LogLevel, string][] = [];
  const b = await FusionModel.load(TINY_MODEL, { binding: dropping, providers: [trt, 'cpu'], log: (l, m) => logs2.push([l, m]) });
  t.teardown(() => b.release());
  t.equal(b.providers.granted, 'tensorrt');
  t.same(b.providers.droppedOptions, ['tensorrt.fp16', 'tensorrt.engineCacheDir', 'tensorrt.shapes', 'tensorrt.engineCachePrefix']);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  t.same((require(dropping) as { calls: unknown[][] }).calls[0][0], { name: 'tensorrt', deviceId: 0 });
  const warnings = logs2.filter(([l, m]) => l === 'warn' && /DROPPED/.test(m));
  t.equal(warnings.length, 1);
  t.match(warnings[0][1], /tensorrt\.fp16, tensorrt\.engineCacheDir.*#26854/);
});

t.test('providers: a provider that fails to start falls back, and the reason is reported', async (t) => {
  const dir = tempDir();
  const logs: [LogLevel, string][] = [];
  const m = await FusionModel.load(TINY_MODEL, { binding: fakeBinding(dir, { honours: true, failCuda: true }), providers: ['cuda', 'cpu'], log: (l, msg) => logs.push([l, msg]) });
  t.teardown(() => m.release());
  t.equal(m.providers.granted, 'cpu');
  t.same(m.providers.attempts.map((a) => [a.name, a.outcome]), [['cuda', 'failed'], ['cpu', 'granted']]);
  t.match(m.providers.attempts[0].reason, /CUDA driver version is insufficient/);
  t.match(logs.find(([l]) => l === 'warn')?.[1], /'cpu' granted; fell back from cuda \(CUDA driver/);
});

t.test('providers: SPECTRA_ORT_BINDING selects the binding when no option is given', async (t) => {
  const dir = tempDir();
  const path = fakeBinding(dir, { honours: true, failCuda: false });
  const before = process.env.SPECTRA_ORT_BINDING;
  process.env.SPECTRA_ORT_BINDING = path;
  t.teardown(() => {
    if (before === undefined) delete process.env.SPECTRA_ORT_BINDING;
    else process.env.SPECTRA_ORT_BINDING = before;
  });
  const m = await FusionModel.load(TINY_MODEL, { providers: ['cuda', 'cpu'] });
  t.teardown(() => m.release());
  t.equal(m.providers.binding.path, path);
  t.equal(m.providers.granted, 'cuda');
  t.same(m.providers.binding.honoursProviderOptions, ['tensorrt', 'cuda']);
});

t.test('providers: a binding that claims to forward options but leaves the engine cache empty is caught after the first run', async (t) => {
  const dir = tempDir();
  const engines = join(dir, 'engines');
  mkdirSync(engines);
  const logs: [LogLevel, string][] = [];
  const m = await FusionModel.load(TINY_MODEL, {
    binding: fakeBinding(dir, { honours: true, failCuda: false }),
    providers: [{ name: 'tensorrt', engineCacheDir: engines }, 'cpu'],
    log: (l, msg) => logs.push([l, msg]),
  });
  t.teardown(() => m.release());
  t.same(m.providers.droppedOptions, []);
  await m.fuse(randomCube(8, 8, 8, m.inputSpec.wavelengths, 1), randomCube(3, 32, 32, [600, 540, 460], 2), { quality: false });
  t.same(m.providers.droppedOptions, ['tensorrt.engineCacheDir']);
  t.match(logs.find(([l, msg]) => l === 'warn' && /engineCacheDir/.test(msg))?.[1], /still empty after the first run/);
  writeFileSync(join(engines, 'x.engine'), 'e');
  const m2 = await FusionModel.load(TINY_MODEL, { binding: fakeBinding(dir, { honours: true, failCuda: false }), providers: [{ name: 'tensorrt', engineCacheDir: engines }], log: () => undefined });
  t.teardown(() => m2.release());
  await m2.fuse(randomCube(8, 8, 8, m2.inputSpec.wavelengths, 1), randomCube(3, 32, 32, [600, 540, 460], 2), { quality: false });
  t.same(m2.providers.droppedOptions, [], 'an engine in the directory confirms the option arrived');
});
