import type { InferenceSession } from 'onnxruntime-node';

/** Execution provider names the SDK knows, in default preference order. */
export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';

/**
 * TensorRT options. Honoured only by a binding that forwards provider options (see
 * {@link bindingHonoursProviderOptions}); the stock onnxruntime-node binding drops all but `deviceId`.
 */
export interface TensorRtProvider {
  name: 'tensorrt';
  /** @defaultValue 0 */
  deviceId?: number;
  /** Build fp16 kernels. @defaultValue false */
  fp16?: boolean;
  /** Build int8 kernels (needs a quantized model or a calibration table). @defaultValue false */
  int8?: boolean;
  /** Directory for serialized engines, so they are not rebuilt at every start. */
  engineCacheDir?: string;
  /** Directory for the TensorRT timing cache. */
  timingCacheDir?: string;
  /** Builder workspace in bytes. */
  workspaceBytes?: number;
}

/** CUDA options; `deviceId` is the only one the stock binding reads. */
export interface CudaProvider {
  name: 'cuda';
  /** @defaultValue 0 */
  deviceId?: number;
  /** Cap on the CUDA memory arena in bytes. */
  memLimitBytes?: number;
}

/** The CPU provider (always last resort). */
export interface CpuProvider {
  name: 'cpu';
}

/** One requested provider: a bare name or a typed options object. */
export type ProviderRequest = ProviderName | TensorRtProvider | CudaProvider | CpuProvider;

/** The default order: TensorRT, then CUDA, then CPU. */
export const DEFAULT_PROVIDERS: readonly ProviderRequest[] = Object.freeze(['tensorrt', 'cuda', 'cpu'] as const);

/** What happened to one requested provider. */
export interface ProviderAttempt {
  name: ProviderName;
  outcome: 'granted' | 'unavailable' | 'failed' | 'not-tried';
  /** Why it was not granted (or notes on a grant). */
  reason?: string;
}

/** What was asked, what was granted and why anything fell back: `model.providers`. */
export interface ProviderReport {
  requested: ProviderRequest[];
  granted: ProviderName;
  attempts: ProviderAttempt[];
  /** Typed options that did not reach onnxruntime, e.g. `'tensorrt.fp16'`. */
  droppedOptions: string[];
  binding: { path: string; version: string; honoursProviderOptions: readonly string[]; backends: { name: string; bundled: boolean }[] };
}

/**
 * Normalises a request entry to its object form.
 * @internal
 */
export function normaliseProvider(p: ProviderRequest): TensorRtProvider | CudaProvider | CpuProvider {
  if (typeof p === 'string') {
    if (p !== 'tensorrt' && p !== 'cuda' && p !== 'cpu') {
      throw new TypeError(`Expected provider 'tensorrt', 'cuda' or 'cpu' but received '${String(p)}'`);
    }
    return { name: p };
  }
  if (typeof p !== 'object' || p === null || !['tensorrt', 'cuda', 'cpu'].includes((p as { name: string }).name)) {
    throw new TypeError(`Expected a provider object with name 'tensorrt', 'cuda' or 'cpu' but received ${JSON.stringify(p)}`);
  }
  return p;
}

/**
 * The option keys a request sets beyond `name`/`deviceId`, as onnxruntime's provider-option strings
 * (`trt_fp16_enable`, …). A forwarding binding passes these to the provider; the stock one drops them.
 * @param p - Normalised request.
 * @returns `{ typedName: [ortKey, value] }`.
 * @internal
 */
export function providerOptionStrings(p: TensorRtProvider | CudaProvider | CpuProvider): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  if (p.name === 'tensorrt') {
    if (p.fp16 !== undefined) out.fp16 = ['trt_fp16_enable', p.fp16 ? '1' : '0'];
    if (p.int8 !== undefined) out.int8 = ['trt_int8_enable', p.int8 ? '1' : '0'];
    if (p.engineCacheDir !== undefined) {
      out.engineCacheDir = ['trt_engine_cache_path', p.engineCacheDir];
      out.engineCacheEnable = ['trt_engine_cache_enable', '1'];
    }
    if (p.timingCacheDir !== undefined) {
      out.timingCacheDir = ['trt_timing_cache_path', p.timingCacheDir];
      out.timingCacheEnable = ['trt_timing_cache_enable', '1'];
    }
    if (p.workspaceBytes !== undefined) out.workspaceBytes = ['trt_max_workspace_size', String(p.workspaceBytes)];
  } else if (p.name === 'cuda') {
    if (p.memLimitBytes !== undefined) out.memLimitBytes = ['gpu_mem_limit', String(p.memLimitBytes)];
  }
  return out;
}

/**
 * The `executionProviders` entry handed to the binding: name and device id, plus the option strings
 * for a binding that forwards them.
 * @internal
 */
export function toOrtProvider(
  p: TensorRtProvider | CudaProvider | CpuProvider,
  forwardOptions: boolean,
): InferenceSession.ExecutionProviderConfig {
  if (p.name === 'cpu') return 'cpu';
  const entry: Record<string, unknown> = { name: p.name, deviceId: p.deviceId ?? 0 };
  if (forwardOptions) for (const [key, value] of Object.values(providerOptionStrings(p))) entry[key] = value;
  return entry as unknown as InferenceSession.ExecutionProviderConfig;
}

/**
 * Decides, before any native call, which requested providers can be tried and which options would be
 * dropped: a provider the binding reports as not bundled is skipped with the reason.
 * @param requested - The order asked for.
 * @param backends - `listSupportedBackends()` of the binding.
 * @param honours - Providers whose options the binding forwards.
 * @returns Candidates to try in order, pre-filled attempts for skipped ones, and dropped options.
 * @internal
 */
export function planProviders(
  requested: readonly ProviderRequest[],
  backends: readonly { name: string; bundled: boolean }[],
  honours: readonly string[],
): { candidates: (TensorRtProvider | CudaProvider | CpuProvider)[]; skipped: ProviderAttempt[]; dropped: string[] } {
  const candidates: (TensorRtProvider | CudaProvider | CpuProvider)[] = [];
  const skipped: ProviderAttempt[] = [];
  const dropped: string[] = [];
  for (const raw of requested) {
    const p = normaliseProvider(raw);
    const backend = backends.find((b) => b.name === p.name);
    if (p.name !== 'cpu' && (backend === undefined || !backend.bundled)) {
      skipped.push({
        name: p.name,
        outcome: 'unavailable',
        reason:
          backend === undefined
            ? `the binding does not list '${p.name}' in listSupportedBackends()`
            : `listSupportedBackends() reports '${p.name}' as not bundled in this onnxruntime-node binding ` +
              '(the npm package ships the CPU provider only; set SPECTRA_ORT_BINDING to a GPU build)',
      });
      continue;
    }
    if (!honours.includes(p.name)) {
      for (const key of Object.keys(providerOptionStrings(p))) {
        if (key.endsWith('Enable')) continue;
        dropped.push(`${p.name}.${key}`);
      }
    }
    candidates.push(p);
  }
  return { candidates, skipped, dropped };
}
