import { access } from 'node:fs/promises';
import { ModelFileError } from '../core/errors';
import { type ModelCard, cardPathFor, readModelCard } from '../core/model-card';
import type { ProviderName } from './providers';

/** A numeric precision a student ships in: the fp32 export and the `spectra quantize` variants next to it. */
export type VariantPrecision = 'fp32' | 'fp16' | 'int8';

/** What {@link LoadOptions.variant} accepts. */
export type VariantRequest = VariantPrecision | 'auto';

/** One sibling looked at by `variant: 'auto'`. */
export interface VariantCandidate {
  variant: VariantPrecision;
  path: string;
  eligible: boolean;
  why: string;
}

/** Which file `FusionModel.load` opened and why: `model.variant`. */
export interface VariantChoice {
  chosen: VariantPrecision;
  path: string;
  reason: string;
  considered: VariantCandidate[];
}

/**
 * Preference order per granted provider, kept as data so a measurement changes one row, not a branch.
 * cpu: fp32 only. On onnxruntime's CPU EP we measured the cave31 student's int8 (QDQ) variant about 45 % slower
 * than fp32 and the fp16 one about 1.5x slower: QDQ and fp16 nodes are executed by inserting casts and
 * (de)quantize steps instead of native kernels, so the smaller file costs time there.
 * tensorrt builds native int8 and fp16 engines from QDQ graphs; cuda has fp16 kernels but no int8 QDQ fusion.
 */
export const VARIANT_PREFERENCE: Readonly<Record<ProviderName, readonly VariantPrecision[]>> = Object.freeze({
  tensorrt: ['int8', 'fp16', 'fp32'],
  cuda: ['fp16', 'fp32'],
  cpu: ['fp32'],
});

/** Default of {@link LoadOptions.maxQualityLossDb}. */
export const DEFAULT_MAX_QUALITY_LOSS_DB = 0.5;

const VARIANT_SUFFIX = /\.(fp16|int8)$/;

/** The fp32 path of a model given as any of its variants (`x.onnx`, `x.fp16.onnx`, `x.int8.onnx`). */
export function fp32PathOf(path: string): string {
  return path.replace(/\.onnx$/i, '').replace(VARIANT_SUFFIX, '') + '.onnx';
}

/** The path of one precision next to the fp32 file. */
export function variantPath(fp32Path: string, variant: VariantPrecision): string {
  return variant === 'fp32' ? fp32Path : fp32Path.replace(/\.onnx$/i, '') + `.${variant}.onnx`;
}

/** The precision a model path names by its suffix. */
export function variantOfPath(path: string): VariantPrecision {
  return (VARIANT_SUFFIX.exec(path.replace(/\.onnx$/i, ''))?.[1] as VariantPrecision | undefined) ?? 'fp32';
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function quantizationOf(card: ModelCard): { source?: string; psnrDelta?: number } {
  const q = card.quantization as { source_onnx_sha256?: unknown; quality?: { psnr_delta_db?: unknown } } | undefined;
  return {
    source: typeof q?.source_onnx_sha256 === 'string' ? q.source_onnx_sha256 : undefined,
    psnrDelta: typeof q?.quality?.psnr_delta_db === 'number' ? q.quality.psnr_delta_db : undefined,
  };
}

/**
 * Resolves an explicit precision to its file, or throws what to do when it is not there.
 * @throws {@link ModelFileError} when the variant file or its card is missing.
 */
export async function explicitVariantPath(givenPath: string, variant: VariantPrecision): Promise<string> {
  const fp32 = fp32PathOf(givenPath);
  const path = variantPath(fp32, variant);
  if (!(await exists(path))) {
    const how = variant === 'fp32' ? 'export it with `spectra-distill export`' : `make it with \`spectra quantize --model ${fp32} --mode ${variant}${variant === 'int8' ? ' --calib <dir>' : ''}\``;
    throw new ModelFileError(path, `no ${variant} variant of ${fp32}; ${how}`);
  }
  if (!(await exists(cardPathFor(path)))) {
    throw new ModelFileError(cardPathFor(path), `the ${variant} variant has no card; re-run \`spectra quantize\` for ${fp32}, which writes both`);
  }
  return path;
}

/**
 * Picks the sibling to load on a granted provider (`variant: 'auto'`): the first precision in
 * {@link VARIANT_PREFERENCE} whose file and card exist, whose card was quantized from this fp32 file (else it is
 * stale) and whose PSNR loss on held-out samples is within `maxQualityLossDb`. fp32 is always the fallback.
 * @throws {@link ModelCardError} when the fp32 card cannot be read (every variant is checked against it).
 */
export async function chooseVariant(givenPath: string, granted: ProviderName, maxQualityLossDb: number): Promise<VariantChoice> {
  const fp32 = fp32PathOf(givenPath);
  const fp32Card = await readModelCard(cardPathFor(fp32));
  const order = VARIANT_PREFERENCE[granted];
  const considered: VariantCandidate[] = [];
  for (const variant of ['int8', 'fp16'] as const) {
    const path = variantPath(fp32, variant);
    const c = (eligible: boolean, why: string): void => void considered.push({ variant, path, eligible, why });
    if (!(await exists(path))) {
      c(false, 'file not found (make it with `spectra quantize`)');
      continue;
    }
    let card: ModelCard;
    try {
      card = await readModelCard(cardPathFor(path));
    } catch (err) {
      c(false, `card unreadable: ${(err as Error).message}`);
      continue;
    }
    const q = quantizationOf(card);
    if (q.source !== fp32Card.onnx_sha256) {
      c(false, `stale: quantized from ${q.source?.slice(0, 12) ?? 'an unknown file'}…, not this fp32 (${fp32Card.onnx_sha256.slice(0, 12)}…); re-run \`spectra quantize\``);
      continue;
    }
    if (q.psnrDelta === undefined) {
      c(false, 'card has no quantization.quality.psnr_delta_db (quality unmeasured)');
      continue;
    }
    if (q.psnrDelta < -maxQualityLossDb) {
      c(false, `loses ${(-q.psnrDelta).toFixed(3)} dB PSNR vs fp32, more than maxQualityLossDb ${maxQualityLossDb}`);
      continue;
    }
    const delta = `PSNR ${q.psnrDelta >= 0 ? '+' : ''}${q.psnrDelta.toFixed(3)} dB vs fp32`;
    // Checked last so a stale or lossy variant says so even on a provider that would not use it.
    if (!order.includes(variant)) {
      c(false, `${delta}, but not used on ${granted}: ${granted === 'cpu' ? 'slower than fp32 on the CPU provider (measured)' : `not in the ${granted} preference order`}`);
      continue;
    }
    c(true, delta);
  }
  considered.push({ variant: 'fp32', path: fp32, eligible: true, why: 'the reference export' });
  const chosen = order.map((v) => considered.find((k) => k.variant === v && k.eligible)).find((k) => k !== undefined) ?? considered[considered.length - 1];
  const skipped = considered.filter((k) => !k.eligible && order.includes(k.variant) && order.indexOf(k.variant) < order.indexOf(chosen.variant));
  const reason =
    `${granted} prefers ${order.join(' > ')}` +
    (granted === 'cpu' ? ' (int8/fp16 measured slower than fp32 on the CPU provider)' : '') +
    (skipped.length ? `; skipped ${skipped.map((k) => `${k.variant} (${k.why})`).join(', ')}` : '');
  return { chosen: chosen.variant, path: chosen.path, reason, considered };
}

