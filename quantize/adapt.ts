/**
 * A student fine-tuned on one camera's captures without ground truth. The inputs are what the network receives
 * from `fuse` (`FusionModel.networkInputs`: camera profile, band grid, value scale, MSI response), and the host
 * fine-tunes the card's PyTorch weights on them, self-supervised (`<python> -m spectra_distill adapt`; see
 * docs/new-camera.md §5). It runs where the Python package is installed: the device SDK does not train.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { cardPathFor, readModelCard } from '../sdk/core/model-card';
import { writeCube } from '../sdk/cube/read-cube';
import type { NetworkInputs } from '../sdk/runtime/fusion-model';
import { sha256File } from '../sdk/runtime/session';
import { AdaptError } from './errors';

/** Options of {@link adaptToCapture}. */
export interface AdaptOptions {
  /** Optimiser steps. @defaultValue the host's default (`spectra-distill adapt --help`) */
  steps?: number;
  /** Adam learning rate. @defaultValue the host's default */
  lr?: number;
  /** Python with `spectra_distill` installed. @defaultValue `$SPECTRA_PYTHON`, else `python3` */
  python?: string;
  /** Recorded in the adapted card's `training.adaptation` (e.g. the camera profile). */
  provenance?: Record<string, unknown>;
  /** The host's progress bars, warnings and log lines (its stderr), as they come. @defaultValue dropped */
  onOutput?: (text: string) => void;
}

/** What {@link adaptToCapture} wrote and measured. */
export interface AdaptReport {
  onnx: string;
  card: string;
  /** Files written beside the model (statistics graph, weights). */
  companions: string[];
  seconds: number;
  /** PSNR (dB) of the output re-degraded against the LR-HSI (spatial) and projected against the HR-MSI (spectral), on the capture's centre (at most 64 LR px square). */
  consistencyBefore: { spatial: number; spectral: number };
  consistencyAfter: { spatial: number; spectral: number };
}

const TAIL_LINES = 20;

/**
 * Fine-tunes the student of `modelPath` on one capture and writes the adapted model (`outPath`, its card, statistics
 * graph and weights). The host works in a temporary folder beside `outPath`; the files are moved into place only
 * when it succeeds, so a failure writes nothing.
 * @param modelPath - An exported student whose card names its PyTorch weights (`weights`).
 * @param inputs - From `model.networkInputs(lrhsi, hrmsi, …)` of the same model.
 * @param outPath - Target `.onnx`; must not exist.
 * @param options - See {@link AdaptOptions}.
 * @returns See {@link AdaptReport}.
 * @throws {@link AdaptError} naming the file at fault: no or altered weights, an existing output, or the host's own error.
 * @example
 * const inputs = model.networkInputs(lrhsi, hrmsi, { resample: true });
 * const report = await adaptToCapture('models/student.onnx', inputs, 'models/student-mycam.onnx');
 */
export async function adaptToCapture(modelPath: string, inputs: NetworkInputs, outPath: string, options: AdaptOptions = {}): Promise<AdaptReport> {
  if (!/\.onnx$/i.test(outPath)) throw new TypeError(`Expected outPath to end in .onnx but received ${outPath}`);
  if (options.steps !== undefined && !(Number.isInteger(options.steps) && options.steps >= 1)) throw new RangeError(`Expected steps to be an integer >= 1 but received ${options.steps}`);
  if (options.lr !== undefined && !(options.lr > 0)) throw new RangeError(`Expected lr > 0 but received ${options.lr}`);
  const card = await readModelCard(cardPathFor(modelPath));
  if (!card.weights) {
    throw new AdaptError(
      modelPath,
      'its card names no PyTorch weights (card field `weights`), so there is nothing to fine-tune; re-export it with `spectra-distill export` (which writes <stem>.weights.pt), or adapt from the training run with `spectra-distill adapt --checkpoint <run>/best.pt`',
    );
  }
  const weights = join(dirname(modelPath), card.weights.file);
  let sha: string;
  try {
    sha = await sha256File(weights);
  } catch (err) {
    throw new AdaptError(weights, `cannot read the weights the card names (${(err as Error).message}); keep ${card.weights.file} beside ${basename(modelPath)}`, { cause: err });
  }
  if (sha !== card.weights.sha256) throw new AdaptError(weights, `sha256 ${sha} is not the card's ${card.weights.sha256}: these weights are not the ones this model was exported from; re-export the model`);
  if (await exists(outPath)) throw new AdaptError(outPath, 'already exists; adapt writes a new model, choose another --out');
  const work = await mkdtemp(join(dirname(outPath), '.adapt-'));
  try {
    await writeCube(join(work, 'lrhsi.npy'), inputs.lrhsi);
    await writeCube(join(work, 'hrmsi.npy'), inputs.hrmsi);
    await writeFile(join(work, 'band-valid.json'), JSON.stringify(inputs.bandValid));
    await writeFile(join(work, 'provenance.json'), JSON.stringify(options.provenance ?? {}));
    const staged = join(work, basename(outPath));
    const args = ['-m', 'spectra_distill', 'adapt', '--checkpoint', weights, '--lrhsi', join(work, 'lrhsi.npy'), '--hrmsi', join(work, 'hrmsi.npy')];
    args.push('--band-valid', join(work, 'band-valid.json'), '--provenance', join(work, 'provenance.json'), '--out', staged);
    if (options.steps !== undefined) args.push('--steps', String(options.steps));
    if (options.lr !== undefined) args.push('--lr', String(options.lr));
    await runHost(options.python ?? process.env.SPECTRA_PYTHON ?? 'python3', args, modelPath, options.onOutput);
    const adapted = await readModelCard(cardPathFor(staged));
    const a = (adapted.training as { adaptation?: { seconds: number; consistency_before: AdaptReport['consistencyBefore']; consistency_after: AdaptReport['consistencyAfter'] } } | undefined)?.adaptation;
    if (!a) throw new AdaptError(cardPathFor(staged), 'the adapted card records no adaptation (training.adaptation); the host package is older than this SDK');
    const stem = basename(outPath).replace(/\.onnx$/i, '');
    const companions = [adapted.frame_statistics?.graph, adapted.weights?.file].filter((f): f is string => f !== undefined);
    // The card last: a card on disk always has its model and companions beside it.
    const files = [basename(outPath), ...companions, `${stem}.card.json`];
    for (const f of files) if (await exists(join(dirname(outPath), f))) throw new AdaptError(join(dirname(outPath), f), 'already exists; adapt writes a new model and its companions, choose another --out');
    for (const f of files) await rename(join(work, f), join(dirname(outPath), f));
    return {
      onnx: outPath,
      card: cardPathFor(outPath),
      companions: companions.map((f) => join(dirname(outPath), f)),
      seconds: a.seconds,
      consistencyBefore: a.consistency_before,
      consistencyAfter: a.consistency_after,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs the host command, passing its stderr on as it comes and naming its last lines when it fails. */
function runHost(python: string, args: string[], modelPath: string, onOutput: ((text: string) => void) | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    // stderr carries progress and warnings; stdout the host's own summary, which names its work folder
    const take = (forward: boolean) => (chunk: Buffer): void => {
      const text = chunk.toString();
      if (forward) onOutput?.(text);
      tail = (tail + text).split('\n').slice(-TAIL_LINES).join('\n');
    };
    child.stdout.on('data', take(false));
    child.stderr.on('data', take(true));
    child.once('error', (err) =>
      reject(new AdaptError(modelPath, `cannot start the host Python '${python}' (${err.message}); install the host package (pip install -e distill) and set SPECTRA_PYTHON`, { cause: err })),
    );
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const last = tail.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
      reject(new AdaptError(modelPath, `spectra-distill adapt failed (${signal ?? `exit ${code}`}): ${last}`));
    });
  });
}
