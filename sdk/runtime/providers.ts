import { createHash } from 'node:crypto';
import type { InferenceSession } from 'onnxruntime-node';
import { IO_NAMES, type ModelCard } from '../core/model-card';

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
  /**
   * The optimization profile of the engine (`trt_profile_{min,opt,max}_shapes`). The model's H and W are
   * dynamic: without a profile TensorRT rebuilds an engine for every new input shape. {@link FusionModel.load}
   * derives it from the card when omitted (see {@link tensorRtShapes}).
   */
  shapes?: TensorRtShapeProfile;
  /** File-name prefix of cached engines; {@link FusionModel.load} keys it by model, precision and profile when omitted. */
  engineCachePrefix?: string;
}

/** A TensorRT optimization profile as onnxruntime takes it: `name:NxCxHxW,name2:…` per bound. */
export interface TensorRtShapeProfile {
  min: string;
  opt: string;
  max: string;
}

/** LR-HSI sizes (pixels per side; HR-MSI sizes follow by the card's scale) and batch a TensorRT engine covers. */
export interface TensorRtSizes {
  /** @defaultValue the card's `min_lr_size` (else its spatial multiple) */
  minLr?: number;
  /** The size kernels are tuned for: the tile you fuse with, divided by the scale. @defaultValue 64 (256-px HR tiles at x4) */
  optLr?: number;
  /** @defaultValue 256 (1024-px HR at x4) */
  maxLr?: number;
  /** Tiles per run (`fuse({ batch })`) the engine accepts. @defaultValue 4 */
  maxBatch?: number;
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
 * The optimization profile for a model, from its card: both inputs, batch 1..maxBatch, LR sizes minLr..maxLr
 * (rounded to the card's spatial multiple) and the matching HR-MSI sizes.
 * @param card - The model card (band counts, scale, `min_lr_size`, spatial multiple).
 * @param sizes - See {@link TensorRtSizes}.
 * @returns The three strings onnxruntime's TensorRT provider takes.
 * @throws RangeError when the sizes are not ordered min <= opt <= max, or a size or batch is not a positive integer.
 * @example
 * tensorRtShapes(card, { optLr: 128 }).opt; // 'lrhsi:1x31x128x128,hrmsi:1x3x512x512'
 */
export function tensorRtShapes(card: ModelCard, sizes: TensorRtSizes = {}): TensorRtShapeProfile {
  const m = card.spatial_multiple ?? 1;
  const align = (v: number): number => Math.max(m, Math.ceil(v / m) * m);
  const min = align(sizes.minLr ?? card.min_lr_size ?? m);
  const opt = align(sizes.optLr ?? 64);
  const max = align(sizes.maxLr ?? 256);
  const batch = sizes.maxBatch ?? 4;
  for (const [k, v] of Object.entries({ minLr: min, optLr: opt, maxLr: max, maxBatch: batch })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`Expected ${k} to be a positive integer but received ${v}`);
  }
  if (!(min <= opt && opt <= max)) throw new RangeError(`Expected minLr <= optLr <= maxLr but received ${min}, ${opt}, ${max} (after rounding to the spatial multiple ${m})`);
  // A model with a statistics graph takes the frame's vector per tile as a third input, batched like the others.
  const stats = card.frame_statistics ? (n: number): string => `,${card.frame_statistics!.input}:${n}x${card.frame_statistics!.length}` : (): string => '';
  const bound = (n: number, lr: number): string =>
    `${IO_NAMES.lrhsi}:${n}x${card.hsi.bands}x${lr}x${lr},${IO_NAMES.hrmsi}:${n}x${card.msi.bands}x${lr * card.scale}x${lr * card.scale}${stats(n)}`;
  return { min: bound(1, min), opt: bound(1, opt), max: bound(batch, max) };
}

/**
 * File-name prefix for cached engines: an engine built for one model, precision or profile is never picked up
 * for another (onnxruntime would otherwise reuse a stale engine from the same folder).
 * @internal
 */
export function engineCachePrefix(card: ModelCard, shapes: TensorRtShapeProfile | undefined): string {
  const profile = shapes ? createHash('sha256').update(`${shapes.min}|${shapes.opt}|${shapes.max}`).digest('hex').slice(0, 8) : 'noprofile';
  return `${card.name}_${card.precision ?? 'fp32'}_${card.onnx_sha256.slice(0, 12)}_${profile}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * A TensorRT request completed from the card: the optimization profile and, with an engine cache, its prefix.
 * Other providers are returned unchanged.
 * @internal
 */
export function completeForCard(request: ProviderRequest, card: ModelCard): ProviderRequest {
  const p = normaliseProvider(request);
  if (p.name !== 'tensorrt') return request;
  const shapes = p.shapes ?? tensorRtShapes(card);
  return { ...p, shapes, ...(p.engineCacheDir !== undefined ? { engineCachePrefix: p.engineCachePrefix ?? engineCachePrefix(card, shapes) } : {}) };
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
    if (p.shapes !== undefined) {
      out.shapes = ['trt_profile_min_shapes', p.shapes.min];
      out.shapesOpt = ['trt_profile_opt_shapes', p.shapes.opt];
      out.shapesMax = ['trt_profile_max_shapes', p.shapes.max];
    }
    if (p.engineCachePrefix !== undefined) out.engineCachePrefix = ['trt_engine_cache_prefix', p.engineCachePrefix];
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

/** Option strings that travel with another typed option and are reported under its name when dropped. */
const COMPANION_KEYS = new Set(['engineCacheEnable', 'timingCacheEnable', 'shapesOpt', 'shapesMax']);

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
        if (COMPANION_KEYS.has(key)) continue;
        dropped.push(`${p.name}.${key}`);
      }
    }
    candidates.push(p);
  }
  return { candidates, skipped, dropped };
}
