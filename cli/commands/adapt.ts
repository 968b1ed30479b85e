import { Command } from 'commander';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import { adaptToCapture } from '../../quantize/adapt';
import { type PairCliOptions, addPairOptions, readPairInputs } from '../pair-inputs';
import { hostPython } from '../paths';
import { withFlagHints } from './fuse';
import { integer, positive } from '../arguments';

interface AdaptCliOptions extends PairCliOptions {
  model: string;
  out: string;
  steps?: number;
  lr?: number;
  json: boolean;
}

/** `spectra adapt`: fine-tune a student on one capture of your camera (no ground truth), read exactly as `fuse` reads it. */
export function register(program: Command): void {
  const adapt = program
    .command('adapt')
    .description(
      "Fine-tune a student on a capture of your camera, without ground truth (self-supervised, on the host: $SPECTRA_PYTHON -m spectra_distill adapt). The pair is read as fuse reads it (--camera, --resample, --value-scale, --estimate-srf); writes a new model, card, statistics graph and weights; nothing on failure",
    )
    .requiredOption('--model <path>', 'an exported student whose card names its PyTorch weights (<stem>.weights.pt beside it)');
  addPairOptions(adapt)
    .requiredOption('--out <path.onnx>', 'the adapted model (must not exist); its .card.json, .stats.onnx and .weights.pt are written beside it')
    .option('--steps <n>', 'optimiser steps (default: the host default, spectra-distill adapt --help)', integer(1))
    .option('--lr <rate>', 'Adam learning rate (default: the host default)', positive)
    .option('--json', 'print the result as JSON', false)
    .action(
      withFlagHints(async (opts: AdaptCliOptions) => {
        const model = await FusionModel.load(opts.model, { providers: ['cpu'] });
        let inputs;
        let provenance: Record<string, unknown>;
        try {
          const pair = await readPairInputs(model, opts);
          inputs = model.networkInputs(pair.lrhsi, pair.hrmsi, { resample: pair.resample, ...(pair.msiResponse ? { msiResponse: pair.msiResponse } : {}) });
          provenance = {
            source: { model: opts.model, lrhsi: opts.lrhsi, hrmsi: opts.hrmsi },
            ...(pair.camera ? { camera: { name: pair.camera.name, profile: pair.camera.path } } : {}),
            ...(pair.msiResponse ? { msi_response: pair.msiResponse.source } : {}),
          };
        } finally {
          await model.release();
        }
        const report = await adaptToCapture(opts.model, inputs, opts.out, {
          python: hostPython(),
          provenance,
          ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
          ...(opts.lr !== undefined ? { lr: opts.lr } : {}),
          onOutput: opts.json ? undefined : (text) => process.stderr.write(text),
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          return;
        }
        const { consistencyBefore: b, consistencyAfter: a } = report;
        process.stdout.write(
          `adapted in ${report.seconds.toFixed(0)} s on ${inputs.bandValid.filter((v) => v).length} of ${inputs.bandValid.length} model bands: ` +
            `consistency spatial ${b.spatial.toFixed(2)} -> ${a.spatial.toFixed(2)} dB, spectral ${b.spectral.toFixed(2)} -> ${a.spectral.toFixed(2)} dB\n` +
            `wrote ${report.onnx}, ${report.card} and ${report.companions.join(', ')}; fuse with: spectra fuse --model ${report.onnx}${opts.camera ? ` --camera ${opts.camera}` : ''} …\n`,
        );
      }),
    );
}
