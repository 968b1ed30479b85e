import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { ModelCardError, ModelFileError, ProviderUnavailableError } from '../core/errors';
import type { LoadedBinding } from './binding';
import type { Logger } from '../core/log';
import { IO_NAMES, type ModelCard } from '../core/model-card';
import type { InputSpec, ResolvedLoadOptions } from './options';
import { DEFAULT_PROVIDERS, type ProviderAttempt, type ProviderName, type ProviderReport, completeForCard, planProviders, toOrtProvider } from './providers';

/**
 * Creates the session on the first requested provider that works, recording why others were skipped or failed.
 * @internal
 */
export async function openSession(
  path: string,
  binding: LoadedBinding,
  opts: ResolvedLoadOptions,
  log: Logger,
  card: ModelCard,
): Promise<{ session: InferenceSession; report: ProviderReport }> {
  // TensorRT gets an optimization profile and an engine-cache prefix from the card unless the caller set them.
  const requested = opts.providers.map((p) => completeForCard(p, card));
  if (requested.length === 0) throw new RangeError('Expected at least one execution provider in options.providers');
  const plan = planProviders(requested, binding.backends, binding.honoursProviderOptions);
  const attempts: ProviderAttempt[] = [...plan.skipped];
  const base: InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.intraOpThreads,
    interOpNumThreads: opts.interOpThreads,
    graphOptimizationLevel: opts.graphOptimizationLevel,
    enableCpuMemArena: opts.memoryArena,
    enableMemPattern: opts.memoryPattern,
    executionMode: opts.interOpThreads > 1 ? 'parallel' : 'sequential',
    extra: { session: { intra_op: { allow_spinning: opts.allowSpinning ? '1' : '0' }, inter_op: { allow_spinning: opts.allowSpinning ? '1' : '0' } } },
  };
  const firstName = typeof requested[0] === 'string' ? requested[0] : requested[0].name;
  let session: InferenceSession | undefined;
  let granted: ProviderName | undefined;
  for (const p of plan.candidates) {
    if (opts.requireFirstProvider && p.name !== firstName) break;
    try {
      session = await binding.module.InferenceSession.create(path, {
        ...base,
        executionProviders: [toOrtProvider(p, binding.honoursProviderOptions.includes(p.name))],
      });
      granted = p.name;
      attempts.push({ name: p.name, outcome: 'granted' });
      break;
    } catch (err) {
      const message = (err as Error).message;
      if (p.name === 'cpu') {
        throw new ModelFileError(path, `onnxruntime cannot load the model (${message}); the file is corrupt, not an ONNX model, or newer (IR version / opset) than onnxruntime-node ${binding.version} supports`, { cause: err });
      }
      attempts.push({ name: p.name, outcome: 'failed', reason: message });
    }
  }
  const order = requested.map((r) => (typeof r === 'string' ? r : r.name));
  const ordered = order.map(
    (name) => attempts.find((a) => a.name === name) ?? { name: name as ProviderName, outcome: 'not-tried' as const },
  );
  if (session === undefined || granted === undefined) {
    const why = ordered.map((a) => `${a.name}: ${a.reason ?? a.outcome}`).join('; ');
    throw new ProviderUnavailableError(opts.requireFirstProvider ? firstName : order.join(', '), why);
  }
  const dropped = granted === 'cpu' ? [] : plan.dropped.filter((d) => d.startsWith(`${granted}.`));
  const report: ProviderReport = {
    requested,
    granted,
    attempts: ordered,
    droppedOptions: dropped,
    binding: {
      path: binding.path,
      version: binding.version,
      honoursProviderOptions: binding.honoursProviderOptions,
      backends: binding.backends,
    },
  };
  const fellBack = ordered.filter((a) => a.outcome !== 'granted' && a.outcome !== 'not-tried');
  // A fallback from the built-in default order is expected on CPU-only machines; only an explicit request warns.
  log(
    fellBack.length > 0 && opts.providers !== DEFAULT_PROVIDERS ? 'warn' : 'info',
    `${path}: execution provider '${granted}' granted` +
      (fellBack.length > 0 ? `; fell back from ${fellBack.map((a) => `${a.name} (${a.reason})`).join(', ')}` : ''),
  );
  if (dropped.length > 0) {
    // Stock onnxruntime-node only reads name and deviceId (onnxruntime issue #26854).
    log(
      'warn',
      `DROPPED provider options ${dropped.join(', ')}: binding ${binding.path}@${binding.version} does not forward them ` +
        '(onnxruntime #26854); use a patched binding (devices/jetson) via SPECTRA_ORT_BINDING',
    );
  }
  return { session, report };
}

/**
 * Checks the graph's I/O names, band dimensions and element types against the card.
 * @internal
 */
export function checkGraphAgainstCard(session: InferenceSession, card: ModelCard, cardPath: string): InputSpec {
  const missingIn = [IO_NAMES.lrhsi, IO_NAMES.hrmsi].filter((n) => !session.inputNames.includes(n));
  if (missingIn.length > 0 || !session.outputNames.includes(IO_NAMES.hrhsi)) {
    throw new ModelCardError(
      cardPath,
      `graph I/O is (${session.inputNames.join(', ')}) -> (${session.outputNames.join(', ')}); ` +
        `expected (lrhsi, hrmsi) -> (hrhsi) as exported by spectra-distill`,
    );
  }
  const statsInput = card.frame_statistics?.input;
  const extra = session.inputNames.filter((n) => n !== IO_NAMES.lrhsi && n !== IO_NAMES.hrmsi);
  if (extra.length > 0 && !(extra.length === 1 && extra[0] === statsInput)) {
    throw new ModelCardError(
      cardPath,
      `graph takes ${extra.join(', ')} besides lrhsi and hrmsi, which the card does not describe` +
        (statsInput ? ` (its frame_statistics.input is '${statsInput}')` : ' (no frame_statistics)') +
        '; use the card exported with this model',
    );
  }
  if (statsInput !== undefined && extra.length === 0) {
    throw new ModelCardError(cardPath, `card names a statistics input '${statsInput}' that the graph does not take; the card belongs to another export`);
  }
  const cardIn = Object.keys(card.io.inputs);
  if (!cardIn.includes(IO_NAMES.lrhsi) || !cardIn.includes(IO_NAMES.hrmsi) || !Object.keys(card.io.outputs).includes(IO_NAMES.hrhsi)) {
    throw new ModelCardError(cardPath, `card io names (${cardIn.join(', ')}) do not match the graph (lrhsi, hrmsi -> hrhsi)`);
  }
  const bandsOf = (name: string): number | undefined => {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (meta === undefined || !meta.isTensor) return undefined;
    const dim = meta.shape[1];
    return typeof dim === 'number' && dim > 0 ? dim : undefined;
  };
  for (const [name, expected] of [
    [IO_NAMES.lrhsi, card.hsi.bands],
    [IO_NAMES.hrmsi, card.msi.bands],
  ] as const) {
    const graph = bandsOf(name);
    if (graph !== undefined && graph !== expected) {
      throw new ModelCardError(cardPath, `card says ${expected} bands for '${name}' but the graph's input has ${graph}; the card belongs to another model`);
    }
    const cardDim = card.io.inputs[name].shape[1];
    if (typeof cardDim === 'number' && cardDim !== expected) {
      throw new ModelCardError(cardPath, `io.inputs.${name}.shape[1] = ${cardDim} disagrees with the band count ${expected}`);
    }
  }
  const types = new Set(
    [...session.inputMetadata, ...session.outputMetadata].map((m) => (m.isTensor ? m.type : 'non-tensor')),
  );
  const dtype = types.size === 1 && types.has('float16') ? 'float16' : 'float32';
  if (![...types].every((ty) => ty === dtype)) {
    throw new ModelCardError(cardPath, `graph I/O types are ${[...types].join(', ')}; the SDK runs float32 or float16 graphs with all I/O in one type`);
  }
  const multiple = card.spatial_multiple ?? card.scale;
  return {
    hsiBands: card.hsi.bands,
    msiBands: card.msi.bands,
    scale: card.scale,
    hrMultiple: multiple % card.scale === 0 ? multiple : multiple * card.scale,
    minLrSize: card.min_lr_size ?? 1,
    wavelengths: card.hsi.wavelengths_nm,
    msiBandNames: card.msi.band_names ?? card.msi.srf.map((_, i) => `band${i}`),
    dtype,
  };
}

/**
 * sha256 of a file, streamed.
 * @internal
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const size = (await stat(path)).size;
  if (size === 0) throw new ModelFileError(path, 'model file is empty; re-export or copy it again');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
