import t from 'tap';
import * as ort from 'onnxruntime-node';
import { PROBE_OPTION, probeOptionForwarding } from '../../devices/jetson/binding-probe';

t.test('probe: the stock binding silently drops an unknown provider option (real onnxruntime, cpu entry)', async (t) => {
  const r = await probeOptionForwarding(ort, 'cpu');
  t.equal(r.verdict, 'drops');
  t.match(r.detail, /options are ignored/);
});

t.test('probe: a provider the binding does not bundle is unavailable, without a native call', async (t) => {
  const r = await probeOptionForwarding(ort, 'cuda');
  t.equal(r.verdict, 'unavailable');
  t.match(r.detail, /not bundled/);
});

t.test('probe: a binding that rejects the unknown option forwards options', async (t) => {
  const patched = {
    listSupportedBackends: () => [{ name: 'cpu', bundled: true }, { name: 'cuda', bundled: true }],
    InferenceSession: {
      create: async (_model: unknown, options: { executionProviders: Record<string, unknown>[] }) => {
        // What the patched parser does with any key outside its table.
        const bad = Object.keys(options.executionProviders[0]).find((k) => k !== 'name' && k !== 'deviceId');
        throw new TypeError(`Invalid argument: executionProviders 'cuda': unknown option '${bad}'; known: gpu_mem_limit`);
      },
    },
  } as unknown as typeof ort;
  const r = await probeOptionForwarding(patched);
  t.equal(r.verdict, 'forwards');
  t.match(r.detail, new RegExp(PROBE_OPTION));
});

t.test('probe: any other failure (no GPU, driver) is unavailable with the reason', async (t) => {
  const broken = {
    listSupportedBackends: () => [{ name: 'cuda', bundled: true }],
    InferenceSession: { create: async () => Promise.reject(new Error('CUDA failure 100: no CUDA-capable device is detected')) },
  } as unknown as typeof ort;
  t.match(await probeOptionForwarding(broken), { verdict: 'unavailable', detail: /no CUDA-capable device/ });
});
