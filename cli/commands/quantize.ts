import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../../quantize/activation-stats';
import { quantizeModel, QUANTIZE_DEFAULTS, type QuantizeReport } from '../../quantize/quantize-model';
import type { QdqProfile } from '../../quantize/qdq';
import { writeSplitPairs } from '../../quantize/split-pairs';
import { hostPython } from '../paths';
import { integer } from '../arguments';

function percentile(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 100)) throw new InvalidArgumentError(`expected a number in (0, 100], got '${value}'`);
  return n;
}

interface QuantizeCliOptions {
  model: string;
  mode: 'fp16' | 'int8';
  calib?: string;
  eval?: string;
  split?: string | true;
  pairs?: string;
  tile: number;
  out: string;
  method: CalibrationMethod;
  percentile: number;
  keepFloat: number;
  sensitivity: boolean;
  profile: QdqProfile;
  fp16Io: boolean;
  keepFp32: string[];
  maxSamples: number;
  json: boolean;
}

function summary(r: QuantizeReport): string {
  const lines = [`wrote ${r.out} and ${r.card} (${r.precision}, ${r.samples} samples, ${r.seconds.toFixed(1)} s)`];
  if (r.evaluatedOn.regions) lines.push(`evaluated on: ${r.evaluatedOn.regions.join('; ')}`);
  if (r.fp32 && r.quantized) {
    lines.push(
      `quality vs ground truth on ${r.evaluatedOn.samples} samples of ${r.evaluatedOn.data}: fp32 ${r.fp32.psnr.toFixed(3)} dB / ${r.fp32.sam.toFixed(3)} deg, ${r.precision} ${r.quantized.psnr.toFixed(3)} dB / ${r.quantized.sam.toFixed(3)} deg ` +
        `(delta ${(r.quantized.psnr - r.fp32.psnr).toFixed(3)} dB, ${(r.quantized.sam - r.fp32.sam).toFixed(3)} deg)`,
    );
  }
  if (r.fidelity) lines.push(`vs fp32 output: ${r.fidelity.psnr.toFixed(2)} dB, ${r.fidelity.sam.toFixed(3)} deg`);
  if (r.layers) lines.push(`int8 layers: ${r.layers.quantized} quantized, kept float: ${r.layers.keptFloat.join(', ') || 'none'}`);
  if (r.keptFloat32) lines.push(`kept in fp32: ${r.keptFloat32.map((k) => k.node).join(', ') || 'none'}`);
  if (r.sensitivity) {
    lines.push('sensitivity ranking (one layer quantized at a time; most sensitive first):');
    r.sensitivity.forEach((s, i) => {
      const drop = s.psnrDrop === undefined ? '' : `, PSNR drop vs truth ${s.psnrDrop.toFixed(4)} dB`;
      lines.push(`  ${String(i + 1).padStart(3)}. ${s.layer} (${s.opType}): ${s.fidelityPsnr.toFixed(2)} dB vs fp32${drop}`);
    });
  }
  return lines.join('\n');
}

/** Adds `spectra quantize`. */
export function register(program: Command): void {
  program
    .command('quantize')
    .description('Quantize an exported student to fp16 or int8 (QDQ for TensorRT), writing an updated model card')
    .requiredOption('--model <path>', 'float32 .onnx with its .card.json next to it')
    .addOption(new Option('--mode <mode>', 'target precision').choices(['fp16', 'int8']).makeOptionMandatory())
    .requiredOption('--out <path>', 'output .onnx (the card goes next to it)')
    .option('--calib <dir>', 'calibration directory: <stem>.lrhsi.npy/.hrmsi.npy pairs or a scenes.json (required for int8)')
    .addOption(new Option('--method <method>', 'activation range method').choices([...CALIBRATION_METHODS]).default(QUANTIZE_DEFAULTS.method))
    .option('--percentile <p>', 'percentile for --method percentile', percentile, QUANTIZE_DEFAULTS.percentile)
    .option('--keep-float <n>', 'keep the N most sensitive layers in float (runs the sensitivity analysis)', integer(0), 0)
    .option('--sensitivity', 'print the per-layer sensitivity ranking', false)
    .addOption(new Option('--profile <profile>', 'QDQ layout: tensorrt (inputs only, float bias) or cpu (also outputs, int32 bias)').choices(['tensorrt', 'cpu']).default(QUANTIZE_DEFAULTS.profile))
    .option('--fp16-io', 'fp16: make graph inputs and outputs float16 too', false)
    .option('--keep-fp32 <names...>', 'fp16: extra node names or op types to keep in float32', [])
    .option('--eval <dir>', 'held-out directory (same formats as --calib) to measure quality on; default: the calibration samples')
    .option('--split [name]', "calibrate on the training regions and measure on the validation regions of a split (default: the card's training split); pairs simulated by the host ($SPECTRA_PYTHON -m spectra_distill split-pairs; default python3); replaces --calib/--eval")
    .option('--pairs <dir>', 'with --split: keep the pairs in <dir>/train and <dir>/val (default: a temporary folder, removed)')
    .option('--tile <px>', 'with --split: HR side of the calibration tiles', integer(0), 32)
    .option('--max-samples <n>', 'calibration samples to use at most', integer(0), QUANTIZE_DEFAULTS.maxSamples)
    .option('--json', 'print the report as JSON', false)
    .action(async (o: QuantizeCliOptions, command: Command) => {
      if (o.split !== undefined && (o.calib || o.eval)) command.error('error: --split replaces --calib and --eval; give one or the other');
      if (o.mode === 'int8' && !o.calib && o.split === undefined) command.error('error: --mode int8 needs --calib <dir> or --split');
      let calib = o.calib;
      let evalDir = o.eval;
      const scratch = o.split !== undefined && !o.pairs ? await mkdtemp(join(tmpdir(), 'spectra-split-')) : undefined;
      try {
        if (o.split !== undefined) {
          const root = o.pairs ?? (scratch as string);
          const split = o.split === true ? {} : { split: o.split };
          const train = await writeSplitPairs(o.model, 'train', join(root, 'train'), { ...split, tile: o.tile, python: hostPython() });
          const val = await writeSplitPairs(o.model, 'val', join(root, 'val'), { ...split, python: hostPython() });
          process.stderr.write(`spectra quantize: split '${train.split}': ${train.samples.length} calibration tiles from training regions, ${val.samples.length} validation regions\n`);
          calib = join(root, 'train');
          evalDir = join(root, 'val');
        }
        await quantizeAndPrint(o, calib, evalDir);
      } finally {
        if (scratch) await rm(scratch, { recursive: true, force: true });
      }
    });
}

/** Runs the quantizer and prints its summary (or JSON). */
async function quantizeAndPrint(o: QuantizeCliOptions, calib: string | undefined, evalDir: string | undefined): Promise<void> {
  const report = await quantizeModel(o.model, o.out, {
    mode: o.mode,
    ...(calib ? { calib } : {}),
    ...(evalDir ? { evalDir } : {}),
    method: o.method,
    percentile: o.percentile,
    keepFloat: o.keepFloat,
    sensitivity: o.sensitivity,
    profile: o.profile,
    fp16Io: o.fp16Io,
    keepFp32: o.keepFp32,
    maxSamples: o.maxSamples,
    log: (line) => process.stderr.write(`spectra quantize: ${line}\n`),
  });
  process.stdout.write(`${o.json ? JSON.stringify(report, null, 2) : summary(report)}\n`);
}
