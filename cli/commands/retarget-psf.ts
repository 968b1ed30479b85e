import { Command, InvalidArgumentError, Option } from 'commander';
import { readCube } from '../../sdk/cube/read-cube';
import { srfCentroids } from '../../sdk/spectral/srf';
import type { NpyLayout } from '../../sdk/cube/npy';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import { retargetPsf, type RetargetReason } from '../../quantize/retarget-psf';
import { withWavelengths } from '../pair-inputs';
import { positive } from '../arguments';

interface RetargetCliOptions {
  model: string;
  out: string;
  sigma?: number;
  lrhsi?: string;
  hrmsi?: string;
  resample: boolean;
  valueScale?: number;
  npyLayout: NpyLayout;
  shape: 'gaussian' | 'free';
  json: boolean;
}

/** `spectra retarget-psf`: put a camera's blur (given, or estimated from one of its captures) inside a physics student. */
export function register(program: Command): void {
  program
    .command('retarget-psf')
    .description("Write a physics-in-graph student for a camera whose blur differs from the card: the PSF inside the graph is replaced by the camera's (--sigma, or estimated from a capture pair with --lrhsi/--hrmsi)")
    .requiredOption('--model <path>', 'fp32 physics-in-graph .onnx with its card (and statistics graph)')
    .requiredOption('--out <path.onnx>', 'the retargeted model; its .stats.onnx and .card.json are written beside it')
    .option('--sigma <px>', "the camera's Gaussian PSF sigma in HR pixels", positive)
    .option('--lrhsi <path>', 'a capture to estimate the blur from: LR-HSI (same formats as fuse)')
    .option('--hrmsi <path>', 'and its HR-MSI')
    .option('--resample', 'resample an LR-HSI on another band grid onto the model grid', false)
    .option('--value-scale <n>', 'divide both inputs by this (raw counts -> 0..1)', positive)
    .option('--npy-layout <layout>', 'axis order of 3-D .npy inputs (chw or hwc)', 'chw')
    .addOption(new Option('--shape <shape>', "with --lrhsi/--hrmsi: fit a Gaussian sigma, or 'free' symmetric taps (a blur that is not Gaussian, e.g. truncated)").choices(['gaussian', 'free']).default('gaussian'))
    .option('--json', 'print the result as JSON', false)
    .action(async (opts: RetargetCliOptions) => {
      const estimate = opts.lrhsi !== undefined || opts.hrmsi !== undefined;
      if (estimate === (opts.sigma !== undefined)) throw new InvalidArgumentError('give --sigma <px>, or --lrhsi and --hrmsi to estimate it from a capture');
      if (estimate && (opts.lrhsi === undefined || opts.hrmsi === undefined)) throw new InvalidArgumentError('estimating the blur needs both --lrhsi and --hrmsi');
      if (!estimate && opts.shape === 'free') throw new InvalidArgumentError('--shape free fits the taps from a capture: give --lrhsi and --hrmsi instead of --sigma');
      let blur: number | { sigma: number; taps: number[] } = opts.sigma as number;
      let reason: RetargetReason = { given: true };
      let curve = '';
      if (estimate) {
        const model = await FusionModel.load(opts.model, { providers: ['cpu'] });
        try {
          const spec = model.inputSpec;
          const centroids = srfCentroids(model.card.msi.srf, spec.wavelengths);
          const lrhsi = withWavelengths(await readCube(opts.lrhsi as string, { npyLayout: opts.npyLayout }), spec.wavelengths, opts.valueScale);
          const hrmsi = withWavelengths(await readCube(opts.hrmsi as string, { npyLayout: opts.npyLayout }), centroids, opts.valueScale);
          const e = model.estimatePsf(lrhsi, hrmsi, { resample: opts.resample });
          const free = opts.shape === 'free';
          blur = free ? { sigma: e.sigma, taps: e.free.taps } : e.sigma;
          reason = { estimatedFrom: [opts.lrhsi as string, opts.hrmsi as string], misfit: free ? e.free.misfit : e.misfit };
          curve =
            `estimated sigma ${e.sigma} px (card ${model.card.psf.sigma}), misfit ${e.misfit.toExponential(2)}; at the card's sigma ${(e.curve.find((c) => Math.abs(c.sigma - model.card.psf.sigma) < 1e-6)?.misfit ?? NaN).toExponential(2)}` +
            (free ? `; free taps [${e.free.taps.map((v) => v.toFixed(3)).join(', ')}], misfit ${e.free.misfit.toExponential(2)}` : '');
        } finally {
          await model.release();
        }
      }
      const report = await retargetPsf(opts.model, opts.out, blur, reason);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...report, ...(curve ? { estimate: curve } : {}) }, null, 2)}\n`);
        return;
      }
      if (curve) process.stdout.write(`${curve}\n`);
      process.stdout.write(`psf sigma ${report.psfSigma.from} -> ${report.psfSigma.to} px; wrote ${report.onnx}${report.statistics ? `, ${report.statistics}` : ''} and ${report.card}\n`);
    });
}
