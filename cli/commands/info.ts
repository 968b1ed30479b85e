import { Command, InvalidArgumentError } from 'commander';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import type { ProviderRequest } from '../../sdk/runtime/providers';

function providerList(value: string): ProviderRequest[] {
  const names = value.split(',').map((s) => s.trim());
  const bad = names.find((n) => n !== 'tensorrt' && n !== 'cuda' && n !== 'cpu');
  if (bad !== undefined) throw new InvalidArgumentError(`unknown provider '${bad}' (known: tensorrt, cuda, cpu)`);
  return names as ProviderRequest[];
}

/** Adds `spectra info`. */
export function register(program: Command): void {
  program
    .command('info')
    .description('Show a model card summary, the execution providers available and granted, and the input spec')
    .requiredOption('--model <path>', '.onnx with its .card.json next to it')
    .option('--providers <list>', 'execution providers to try, in order (default: tensorrt,cuda,cpu)', providerList)
    .option('--json', 'print JSON', false)
    .action(async (opts: { model: string; providers?: ProviderRequest[]; json: boolean }) => {
      const model = await FusionModel.load(opts.model, { ...(opts.providers ? { providers: opts.providers } : {}), log: () => undefined });
      try {
        const c = model.card;
        const s = model.inputSpec;
        const p = model.providers;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ card: { name: c.name, role: c.role, preset: c.preset, precision: c.precision, params: c.params, macs_per_hr_pixel: c.macs_per_hr_pixel, validation: c.validation }, inputSpec: s, providers: p }, null, 2) + '\n');
          return;
        }
        const wl = s.wavelengths;
        const lines = [
          `model      ${c.name} (${c.role ?? '?'}, preset ${c.preset ?? '?'}, ${c.precision ?? 'fp32'}, opset ${c.opset ?? '?'})`,
          `file       ${model.path} (sha256 ${c.onnx_sha256.slice(0, 16)}…, verified)`,
          `size       ${c.params?.toLocaleString('en') ?? '?'} parameters, ${c.macs_per_hr_pixel?.toLocaleString('en') ?? '?'} MACs per HR pixel`,
          `lrhsi      N x ${s.hsiBands} x h x w, ${wl[0]}..${wl[wl.length - 1]} nm${c.hsi.band_valid?.some((v) => !v) ? `, ${c.hsi.band_valid.filter((v) => !v).length} masked band(s)` : ''}`,
          `hrmsi      N x ${s.msiBands} x ${s.scale}h x ${s.scale}w, bands ${s.msiBandNames.join(', ')} (${c.msi.preset ?? c.msi.srf_file ?? 'custom SRF'})`,
          `output     hrhsi N x ${s.hsiBands} x ${s.scale}h x ${s.scale}w, physical units 0..1; HR sizes multiples of ${s.hrMultiple}`,
          `psf        gaussian sigma ${c.psf.sigma}, kernel ${c.psf.kernel_size}`,
          `binding    ${p.binding.path}@${p.binding.version}; forwards provider options for: ${p.binding.honoursProviderOptions.join(', ') || 'none (onnxruntime #26854)'}`,
          `available  ${p.binding.backends.map((b) => `${b.name}${b.bundled ? '' : ' (not bundled)'}`).join(', ')}`,
          `granted    ${p.granted}`,
          ...p.attempts.filter((a) => a.outcome !== 'granted').map((a) => `  ${a.name}: ${a.outcome}${a.reason ? ` (${a.reason})` : ''}`),
          ...(p.droppedOptions.length ? [`dropped    ${p.droppedOptions.join(', ')}`] : []),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await model.release();
      }
    });
}
