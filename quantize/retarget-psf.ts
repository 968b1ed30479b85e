/**
 * A physics-in-graph student for a camera whose blur differs from its card: the PSF taps inside the fuse graph and
 * its statistics graph are replaced, nothing else. A student that measures each frame's blur (card `psf.per_frame`)
 * holds them in its statistics graph only, as the blur it keeps unless a Gaussian fits a frame clearly better:
 * retargeting makes the camera's blur that default (a non-Gaussian one, `--shape free`, is then used as it is). On the generalisation test scenes, pairs blurred 0.5 px narrower
 * or wider than the card lost the CAVE student 5-8 dB; with the true (or estimated, `FusionModel.estimatePsf`) blur
 * in the graph they scored within 0.2 dB of the nominal pairs, without retraining.
 */
import { basename, dirname, join } from 'node:path';
import { cardPathFor, readModelCard, type ModelCard } from '../sdk/core/model-card';
import { cardPsf, gaussianTaps, psfTaps } from '../sdk/spectral/psf';
import { QuantizeModelError } from './errors';
import { DataType, type ModelProto, encodeModel, readModel, sha256Hex } from './onnx-proto';
import { elementCount, floatTensor, floatValues } from './tensor-data';
import { writeAtomically } from './quantize-model';

/** What {@link retargetPsf} wrote. */
export interface RetargetReport {
  onnx: string;
  card: string;
  statistics?: string;
  psfSigma: { from: number; to: number };
  /** Initializers rewritten per graph. */
  replaced: Record<string, string[]>;
}

/** Why the new sigma: given, or estimated from named captures. */
export type RetargetReason = { given: true } | { estimatedFrom: string[]; misfit: number };

/**
 * Writes `outPath` (+ its statistics graph and card): the model with the card's PSF taps replaced by the camera's
 * (a Gaussian of `blur` px, or explicit taps of the same kernel size), the card's `psf` updated and the change
 * recorded under `retarget`.
 * @param modelPath - An fp32 physics-in-graph model with its card.
 * @param outPath - Target `.onnx`.
 * @param blur - The camera's Gaussian PSF sigma in HR pixels, or its 1-D taps (`FusionModel.estimatePsf(…).free`)
 *   with the closest Gaussian's sigma for the card.
 * @param reason - Recorded in the card.
 * @throws {@link QuantizeModelError} when the model is not fp32, or holds no taps equal to its card's PSF.
 * @throws RangeError when sigma or taps are out of range.
 */
export async function retargetPsf(modelPath: string, outPath: string, blur: number | { sigma: number; taps: readonly number[] }, reason: RetargetReason): Promise<RetargetReport> {
  const sigma = typeof blur === 'number' ? blur : blur.sigma;
  if (!(sigma > 0 && sigma < 64)) throw new RangeError(`Expected sigma in (0, 64) HR px but received ${sigma}`);
  if (!/\.onnx$/i.test(outPath)) throw new TypeError(`Expected outPath to end in .onnx but received ${outPath}`);
  const card = await readModelCard(cardPathFor(modelPath));
  if ((card.precision ?? 'fp32') !== 'fp32') throw new QuantizeModelError(modelPath, `is ${card.precision}; retarget the fp32 model, then quantize it again`);
  const K = card.psf.kernel_size;
  let taps: number[] | undefined;
  if (typeof blur !== 'number') {
    const sum = blur.taps.reduce((a, v) => a + v, 0);
    if (blur.taps.length !== K || !blur.taps.every((v) => Number.isFinite(v) && v >= 0) || !(sum > 0)) {
      throw new RangeError(`Expected ${K} finite, non-negative PSF taps (the card's kernel size) but received [${blur.taps.join(', ')}]`);
    }
    taps = blur.taps.map((v) => v / sum);
  }
  const from = psfTaps(cardPsf(card.psf));
  const to = Float32Array.from(taps ?? gaussianTaps({ kernelSize: K, sigma }));
  const graphs: [string, string][] = [[modelPath, outPath]];
  if (card.frame_statistics) graphs.push([join(dirname(modelPath), card.frame_statistics.graph), outPath.replace(/\.onnx$/i, '.stats.onnx')]);
  const replaced: Record<string, string[]> = {};
  const written: [string, Uint8Array][] = [];
  for (const [src, dst] of graphs) {
    const { model } = await readModel(src);
    const names = replaceTaps(model, from, to);
    // a model that measures each frame's blur holds the card's taps in its statistics graph only (the fuse graph takes the frame's)
    const statisticsOnly = card.psf.per_frame !== undefined && src === modelPath;
    if (names.length === 0 && !statisticsOnly) throw new QuantizeModelError(src, `holds no tensor equal to its card's PSF taps (sigma ${card.psf.sigma}, ${K} taps): only physics-in-graph students carry the PSF inside the graph`);
    replaced[basename(dst)] = names;
    written.push([dst, encodeModel(model)]);
  }
  const sha = (i: number): string => sha256Hex(written[i][1]);
  const out: ModelCard = {
    ...card,
    onnx: basename(outPath),
    onnx_sha256: sha(0),
    psf: { type: 'gaussian', kernel_size: K, sigma, ...(taps ? { taps } : {}), ...(card.psf.per_frame ? { per_frame: card.psf.per_frame } : {}) },
    ...(card.frame_statistics ? { frame_statistics: { ...card.frame_statistics, graph: basename(written[1][0]), sha256: sha(1) } } : {}),
  };
  const record = { psf_sigma_from: card.psf.sigma, psf_sigma_to: sigma, ...(taps ? { psf_taps_to: taps } : {}), source_onnx_sha256: card.onnx_sha256, ...('estimatedFrom' in reason ? { estimated_from: reason.estimatedFrom, misfit: reason.misfit } : { given: true }) };
  const cardPath = cardPathFor(outPath);
  await writeAtomically([...written, [cardPath, new TextEncoder().encode(`${JSON.stringify({ ...out, retarget: record }, null, 2)}\n`)]]);
  return { onnx: outPath, card: cardPath, ...(written[1] ? { statistics: written[1][0] } : {}), psfSigma: { from: card.psf.sigma, to: sigma }, replaced };
}

/** Replaces, in place, every float32 initializer whose values are `from` (to 1e-6); returns their names. */
function replaceTaps(model: ModelProto, from: Float64Array, to: Float32Array): string[] {
  const names: string[] = [];
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== DataType.FLOAT || elementCount(t) !== from.length) continue;
    const values = floatValues(t);
    if (values.some((v, i) => Math.abs(v - from[i]) > 1e-6)) continue;
    Object.assign(t, floatTensor(t.name ?? '', (t.dims ?? []).map(Number), to), { floatData: [] });
    names.push(t.name ?? '?');
  }
  return names;
}
