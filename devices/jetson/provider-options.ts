import {
  normaliseProvider,
  planProviders,
  providerOptionStrings,
  type ProviderName,
  type ProviderRequest,
} from '../../sdk/runtime/providers';

/** How a forwarded option's value is written: `'1'`/`'0'`, a decimal integer, or text. */
export type ProviderOptionKind = 'bool' | 'uint' | 'string';

/**
 * The onnxruntime provider-option keys a binding patched with devices/jetson/patches/0001-forward-provider-options.patch
 * accepts, per provider, with their value kind. The patched binding rejects any other key with a TypeError.
 * Mirrors `TensorRtOptionKeys()`/`CudaOptionKeys()` in devices/jetson/native/provider_options_forward.h;
 * test/jetson/provider-options-native.test.ts compiles that header and compares.
 */
export const FORWARDED_OPTION_KEYS: Readonly<Record<'tensorrt' | 'cuda', Readonly<Record<string, ProviderOptionKind>>>> = Object.freeze({
  tensorrt: Object.freeze({
    trt_max_workspace_size: 'uint',
    trt_fp16_enable: 'bool',
    trt_int8_enable: 'bool',
    trt_int8_calibration_table_name: 'string',
    trt_int8_use_native_calibration_table: 'bool',
    trt_engine_cache_enable: 'bool',
    trt_engine_cache_path: 'string',
    trt_engine_cache_prefix: 'string',
    trt_timing_cache_enable: 'bool',
    trt_timing_cache_path: 'string',
    trt_force_timing_cache: 'bool',
    trt_builder_optimization_level: 'uint',
    trt_max_partition_iterations: 'uint',
    trt_min_subgraph_size: 'uint',
    trt_dla_enable: 'bool',
    trt_dla_core: 'uint',
    trt_layer_norm_fp32_fallback: 'bool',
    trt_detailed_build_log: 'bool',
    trt_cuda_graph_enable: 'bool',
    trt_profile_min_shapes: 'string',
    trt_profile_opt_shapes: 'string',
    trt_profile_max_shapes: 'string',
  } as const),
  cuda: Object.freeze({
    gpu_mem_limit: 'uint',
    arena_extend_strategy: 'string',
    cudnn_conv_algo_search: 'string',
    do_copy_in_default_stream: 'bool',
    cudnn_conv_use_max_workspace: 'bool',
    enable_cuda_graph: 'bool',
    prefer_nhwc: 'bool',
  } as const),
});

/**
 * The onnxruntime key/value strings a typed provider request turns into, in the order a forwarding
 * binding receives them (the SDK runtime's own translation, so the profile, the runtime and the patch agree).
 * @param request - `'tensorrt'`, `{ name: 'tensorrt', fp16: true, … }`, …
 * @returns `[ortKey, value]` pairs, e.g. `['trt_fp16_enable', '1']`; none for the CPU provider.
 * @example
 * ortProviderOptions({ name: 'tensorrt', fp16: true, engineCacheDir: '/var/cache/trt' });
 * // [['trt_fp16_enable','1'], ['trt_engine_cache_path','/var/cache/trt'], ['trt_engine_cache_enable','1']]
 */
export function ortProviderOptions(request: ProviderRequest): [string, string][] {
  return Object.values(providerOptionStrings(normaliseProvider(request)));
}

/** One line of {@link resolveProviders}'s verdict. */
export interface ProviderDecision {
  name: ProviderName;
  /** `'candidate'`: will be tried in this order; `'unavailable'`: skipped before any native call. */
  outcome: 'candidate' | 'unavailable';
  reason: string;
  /** Typed options this binding would drop for this provider (`'fp16'`, `'engineCacheDir'`…). */
  droppedOptions: string[];
}

/** What the binding reports about itself (see the runtime's `loadBinding`). */
export interface BindingCapabilities {
  /** `listSupportedBackends()` of the binding. */
  backends: readonly { name: string; bundled: boolean }[];
  /** Providers whose typed options the binding forwards (empty for stock onnxruntime-node). */
  honoursProviderOptions: readonly string[];
}

/** The result of {@link resolveProviders}. */
export interface ResolvedProviders {
  /** Providers to try, in order; empty when none of the requested ones can run (loading would fail). */
  granted: ProviderName[];
  decisions: ProviderDecision[];
  /** Every dropped option as `'provider.option'`, for one loud log line. */
  dropped: string[];
  /** Consequences worth a warning at deployment time (e.g. TensorRT engines rebuilt at every start). */
  warnings: string[];
}

/**
 * Decides, without touching onnxruntime, which of the requested execution providers a binding can run and
 * which of their options it would silently drop. Pure: the same inputs always give the same verdict, so it
 * can check a deployment profile against a binding before the service starts.
 * @param requested - The order asked for (a profile's `providers`).
 * @param binding - What the binding reports: its backends and which providers' options it forwards.
 * @returns The order to try, a reason per provider, the dropped options and deployment warnings.
 * @throws TypeError when a request names an unknown provider.
 * @example
 * const ort = loadBinding();
 * resolveProviders(profile.providers, ort).granted; // ['cpu'] with the npm binding on x64
 */
export function resolveProviders(requested: readonly ProviderRequest[], binding: BindingCapabilities): ResolvedProviders {
  const plan = planProviders(requested, binding.backends, binding.honoursProviderOptions);
  const decisions: ProviderDecision[] = [];
  const warnings: string[] = [];
  for (const raw of requested) {
    const p = normaliseProvider(raw);
    const skipped = plan.skipped.find((s) => s.name === p.name);
    if (skipped) {
      decisions.push({ name: p.name, outcome: 'unavailable', reason: skipped.reason ?? 'not available', droppedOptions: [] });
      continue;
    }
    const droppedOptions = plan.dropped.filter((d) => d.startsWith(`${p.name}.`)).map((d) => d.slice(p.name.length + 1));
    let reason: string;
    if (p.name === 'cpu') reason = 'always available';
    else if (droppedOptions.length > 0) {
      reason =
        `available, but this binding forwards only name and deviceId (onnxruntime #26854); ` +
        `dropped: ${droppedOptions.join(', ')}. Build devices/jetson/build-onnxruntime.sh and set SPECTRA_ORT_BINDING`;
    } else if (binding.honoursProviderOptions.includes(p.name)) reason = 'available; typed options are forwarded';
    else reason = 'available (no typed options requested)';
    decisions.push({ name: p.name, outcome: 'candidate', reason, droppedOptions });
    if (p.name === 'tensorrt' && p.engineCacheDir !== undefined && droppedOptions.includes('engineCacheDir')) {
      warnings.push('TensorRT engine cache is dropped: every start rebuilds the engines (minutes on a Jetson)');
    }
    if (p.name === 'tensorrt' && p.int8 === true && droppedOptions.includes('int8')) {
      warnings.push('TensorRT int8 is dropped: the QDQ model runs with fp32 TensorRT kernels');
    }
  }
  const granted = plan.candidates.map((c) => c.name);
  if (granted.length === 0) {
    warnings.push("none of the requested providers is available and 'cpu' was not requested: the model cannot load");
  } else if (granted[0] === 'cpu' && requested.some((r) => normaliseProvider(r).name !== 'cpu')) {
    warnings.push('no GPU provider is available: inference runs on the CPU');
  }
  return { granted, decisions, dropped: plan.dropped, warnings };
}
