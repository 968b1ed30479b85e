import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as ort from 'onnxruntime-node';

/** The parts of an onnxruntime-node module the SDK uses; a patched build must export the same. */
export interface OrtModule {
  InferenceSession: typeof ort.InferenceSession;
  Tensor: typeof ort.Tensor;
  listSupportedBackends?: () => { name: string; bundled: boolean }[];
  /**
   * Marker of a binding that forwards provider options (see {@link bindingHonoursProviderOptions}):
   * the execution providers whose options it passes on to onnxruntime.
   */
  honoursProviderOptions?: readonly string[];
}

/** A loaded binding and what is known about it. */
export interface LoadedBinding {
  module: OrtModule;
  /** What was resolved: `'onnxruntime-node'` or the path given. */
  path: string;
  version: string;
  /** Providers and whether the binding says they are bundled (`listSupportedBackends`). */
  backends: { name: string; bundled: boolean }[];
  /** Providers whose typed options reach onnxruntime (empty for the stock binding). */
  honoursProviderOptions: readonly string[];
}

/**
 * Loads onnxruntime-node, or an alternative build of it (e.g. a Jetson build with TensorRT and the
 * provider-options patch from devices/jetson), from `path` or the `SPECTRA_ORT_BINDING` environment variable.
 * @param path - Package directory or module path; the bundled `onnxruntime-node` when omitted.
 * @returns The module and its capabilities.
 * @throws Error when the module cannot be loaded (callers wrap it in a typed error).
 */
export function loadBinding(path: string | undefined = process.env.SPECTRA_ORT_BINDING || undefined): LoadedBinding {
  const id = path ?? 'onnxruntime-node';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(id) as OrtModule;
  if (typeof module.InferenceSession?.create !== 'function' || typeof module.Tensor !== 'function') {
    throw new Error(`${id} does not export InferenceSession and Tensor; it is not an onnxruntime-node build`);
  }
  const pkg = readPackageJson(id);
  const backends = typeof module.listSupportedBackends === 'function' ? module.listSupportedBackends() : [{ name: 'cpu', bundled: true }];
  return {
    module,
    path: id,
    version: typeof pkg?.version === 'string' ? pkg.version : 'unknown',
    backends,
    honoursProviderOptions: bindingHonoursProviderOptions(module, pkg),
  };
}

/**
 * Capability probe: which execution providers' typed options (fp16, int8, engine cache, workspace…)
 * this binding actually forwards to onnxruntime. Stock onnxruntime-node reads only `name` and `deviceId`
 * for tensorrt/cuda and silently drops the rest (onnxruntime issue #26854), so the answer for it is `[]`.
 * A patched binding declares itself either by exporting `honoursProviderOptions: string[]` from its entry
 * module or with `"spectraEdge": { "honoursProviderOptions": [...] }` in its package.json
 * (devices/jetson's build recipe writes the latter).
 * @param module - The loaded module.
 * @param pkg - Its parsed package.json, when found.
 * @returns Provider names whose options are honoured.
 */
export function bindingHonoursProviderOptions(module: OrtModule, pkg?: Record<string, unknown>): readonly string[] {
  if (Array.isArray(module.honoursProviderOptions)) return module.honoursProviderOptions.filter((s) => typeof s === 'string');
  const marker = (pkg?.spectraEdge as { honoursProviderOptions?: unknown } | undefined)?.honoursProviderOptions;
  return Array.isArray(marker) ? marker.filter((s): s is string => typeof s === 'string') : [];
}

function readPackageJson(id: string): Record<string, unknown> | undefined {
  try {
    let dir = dirname(require.resolve(id));
    for (let i = 0; i < 4; i++) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      dir = dirname(dir);
    }
  } catch {
    // A binding without a readable package.json simply has no declared capabilities.
  }
  return undefined;
}
