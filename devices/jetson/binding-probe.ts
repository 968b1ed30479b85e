import type { OrtModule } from '../../sdk/runtime/binding';

/**
 * An 84-byte ONNX model (opset 13, one Identity node on a float[1]): enough for onnxruntime to parse the session
 * options and create a session, so no model file has to ship with the probe.
 */
const IDENTITY_MODEL = Buffer.from('CAgSDXNwZWN0cmEtcHJvYmU6OwoQCgF4EgF5IghJZGVudGl0eRIFcHJvYmVaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN', 'base64');

/** An option no onnxruntime provider knows: a binding that checks options rejects it, one that drops them does not notice. */
export const PROBE_OPTION = 'spectra_edge_probe';

/** What {@link probeOptionForwarding} found. */
export interface ForwardingProbe {
  provider: string;
  /**
   * `'forwards'`: the binding parsed the provider's options and rejected the unknown one (the patched binding);
   * `'drops'`: it created the session and silently ignored it (stock onnxruntime-node, #26854);
   * `'unavailable'`: the provider could not be tried (not bundled, no device…).
   */
  verdict: 'forwards' | 'drops' | 'unavailable';
  detail: string;
}

/**
 * Asks a binding, by experiment rather than by its declared capabilities, whether it passes provider options on:
 * it opens a session on a one-node model with an option no provider knows. Use `'cuda'` on a Jetson (a CUDA session
 * on one Identity node takes about a second; TensorRT would build an engine).
 * @param ort - The loaded binding module.
 * @param provider - The execution provider to probe. @defaultValue 'cuda'
 * @returns The verdict and what onnxruntime said.
 * @example
 * const { module } = loadBinding(profile.binding);
 * (await probeOptionForwarding(module)).verdict; // 'forwards' with the devices/jetson build
 */
export async function probeOptionForwarding(ort: Pick<OrtModule, 'InferenceSession' | 'listSupportedBackends'>, provider = 'cuda'): Promise<ForwardingProbe> {
  const backend = ort.listSupportedBackends?.().find((b) => b.name === provider);
  if (provider !== 'cpu' && (backend === undefined || !backend.bundled)) {
    return { provider, verdict: 'unavailable', detail: `'${provider}' is not bundled in this binding` };
  }
  const entry = { name: provider, deviceId: 0, [PROBE_OPTION]: '1' } as unknown as { name: 'cpu' };
  try {
    const session = await ort.InferenceSession.create(IDENTITY_MODEL, { executionProviders: [entry] });
    await session.release();
    return { provider, verdict: 'drops', detail: `the session opened although '${PROBE_OPTION}' is no ${provider} option: options are ignored` };
  } catch (err) {
    const message = (err as Error).message;
    if (new RegExp(`unknown option '${PROBE_OPTION}'`).test(message)) return { provider, verdict: 'forwards', detail: message };
    return { provider, verdict: 'unavailable', detail: message };
  }
}
