import t from 'tap';
import { copyFileSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelCardError, ModelFileError } from '../../../sdk/core/errors';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { chooseVariant } from '../../../sdk/runtime/variants';
import { ROOT, tempDir } from '../helpers';

// A complete family (fp32, fp16 and int8 within their bounds): the CAVE student shipped until 2026-12-05, kept as a
// fixture so these tests do not move with each retrained student (the shipped ones are checked at the end).
const STEM = 'student-cave31-rgb-x4';
const FAMILY = join(ROOT, 'test', 'fixtures', 'quantize-reference');
const FP32 = join(FAMILY, `${STEM}.onnx`);
const FILES = ['.onnx', '.card.json', '.fp16.onnx', '.fp16.card.json', '.int8.onnx', '.int8.card.json'];

/** The shipped student and its variants copied to a fresh folder, so a test may edit or remove one. */
function copyModels(): string {
  const dir = tempDir('spectra-variant-');
  for (const f of FILES) copyFileSync(join(FAMILY, STEM + f), join(dir, STEM + f));
  return join(dir, `${STEM}.onnx`);
}

t.test("auto on cpu opens fp32, says why, and lists both variants as not used on cpu", async (t) => {
  const lines: string[] = [];
  const model = await FusionModel.load(FP32, { providers: ['cpu'], variant: 'auto', log: (level, m) => void lines.push(`${level} ${m}`) });
  t.teardown(() => model.release());
  t.equal(model.providers.granted, 'cpu');
  t.equal(model.variant.chosen, 'fp32');
  t.equal(model.variant.path, FP32);
  t.equal(model.card.precision ?? 'fp32', 'fp32');
  t.match(model.variant.reason, /cpu prefers fp32.*slower than fp32/);
  t.same(model.variant.considered.map((c) => [c.variant, c.eligible]), [['int8', false], ['fp16', false], ['fp32', true]]);
  t.ok(model.variant.considered.filter((c) => c.variant !== 'fp32').every((c) => /not used on cpu/.test(c.why)));
  t.ok(lines.some((l) => /^info variant fp32 on cpu: /.test(l)), lines.join('\n'));
});

t.test('auto given a variant path still starts from its fp32 sibling', async (t) => {
  const model = await FusionModel.load(join(FAMILY, `${STEM}.int8.onnx`), { providers: ['cpu'], variant: 'auto', log: () => undefined });
  t.teardown(() => model.release());
  t.equal(model.variant.chosen, 'fp32');
  t.equal(model.path, FP32);
});

t.test("explicit 'int8' and 'fp16' open those files with their cards", async (t) => {
  for (const v of ['int8', 'fp16'] as const) {
    const model = await FusionModel.load(FP32, { providers: ['cpu'], variant: v, log: () => undefined });
    t.equal(model.card.precision, v);
    t.equal(model.path, join(FAMILY, `${STEM}.${v}.onnx`));
    t.equal(model.variant.chosen, v);
    await model.release();
  }
});

t.test('without variant the file given is opened, as before', async (t) => {
  const model = await FusionModel.load(join(FAMILY, `${STEM}.fp16.onnx`), { providers: ['cpu'], log: () => undefined });
  t.teardown(() => model.release());
  t.equal(model.card.precision, 'fp16');
  t.equal(model.variant.chosen, 'fp16');
  t.equal(model.variant.reason, 'the file given');
});

t.test('a missing explicit variant throws ModelFileError naming the file and spectra quantize', async (t) => {
  const fp32 = copyModels();
  const dir = fp32.slice(0, -`${STEM}.onnx`.length);
  unlinkSync(join(dir, `${STEM}.int8.onnx`));
  const err = await FusionModel.load(fp32, { providers: ['cpu'], variant: 'int8' }).catch((e: unknown) => e);
  t.type(err, ModelFileError);
  t.equal((err as ModelFileError).code, 'E_MODEL_FILE');
  t.equal((err as ModelFileError).path, join(dir, `${STEM}.int8.onnx`));
  t.match((err as Error).message, /spectra quantize --model .* --mode int8 --calib/);
});

t.test('a stale variant (quantized from another fp32) is skipped with the reason', async (t) => {
  const fp32 = copyModels();
  const cardPath = fp32.replace(/\.onnx$/, '.int8.card.json');
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { quantization: { source_onnx_sha256: string } };
  card.quantization.source_onnx_sha256 = '0'.repeat(64);
  writeFileSync(cardPath, JSON.stringify(card));
  const choice = await chooseVariant(fp32, 'tensorrt', 0.5);
  t.equal(choice.chosen, 'fp16');
  const int8 = choice.considered.find((c) => c.variant === 'int8');
  t.equal(int8?.eligible, false);
  t.match(int8?.why, /^stale: quantized from 000000000000/);
  t.match(choice.reason, /skipped int8 \(stale/);
  // On cpu the reason is still staleness, not the provider.
  const model = await FusionModel.load(fp32, { providers: ['cpu'], variant: 'auto', log: () => undefined });
  t.teardown(() => model.release());
  t.match(model.variant.considered.find((c) => c.variant === 'int8')?.why, /^stale/);
});

/** The shipped files copied, with the variants' measured PSNR losses set to the given values. */
function withMeasuredLoss(loss: { int8: number; fp16: number }): string {
  const fp32 = copyModels();
  for (const v of ['int8', 'fp16'] as const) {
    const cardPath = fp32.replace(/\.onnx$/, `.${v}.card.json`);
    const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { quantization: { quality: { psnr_delta_db: number } } };
    card.quantization.quality.psnr_delta_db = -loss[v];
    writeFileSync(cardPath, JSON.stringify(card));
  }
  return fp32;
}

t.test('provider table: tensorrt prefers int8, cuda fp16, cpu fp32, when every variant is within its bound', async (t) => {
  const fp32 = withMeasuredLoss({ int8: 0.097, fp16: 0 });
  t.equal((await chooseVariant(fp32, 'tensorrt', 0.5)).chosen, 'int8');
  t.equal((await chooseVariant(fp32, 'cuda', 0.5)).chosen, 'fp16');
  t.equal((await chooseVariant(fp32, 'cpu', 0.5)).chosen, 'fp32');
});

t.test('maxQualityLossDb excludes a variant that loses more PSNR', async (t) => {
  const fp32 = withMeasuredLoss({ int8: 0.097, fp16: 0.001 });
  const choice = await chooseVariant(fp32, 'tensorrt', 0.05);
  t.equal(choice.chosen, 'fp16');
  const int8 = choice.considered.find((c) => c.variant === 'int8');
  t.equal(int8?.eligible, false);
  t.match(int8?.why, /more than maxQualityLossDb 0.05/);
  t.equal((await chooseVariant(fp32, 'tensorrt', 0)).chosen, 'fp32');
});

t.test('the shipped models: every provider gets a variant that exists and is within the default bound', async (t) => {
  for (const stem of ['student-cave31-rgb-x4', 'student-rs206-s2x4-x4']) {
    const fp32 = join(ROOT, 'models', `${stem}.onnx`);
    for (const provider of ['tensorrt', 'cuda', 'cpu'] as const) {
      const choice = await chooseVariant(fp32, provider, 0.5);
      t.ok(existsSync(choice.path), `${stem} on ${provider}: ${choice.chosen} (${choice.reason})`);
      if (choice.chosen === 'fp32') continue;
      const card = JSON.parse(readFileSync(choice.path.replace(/\.onnx$/, '.card.json'), 'utf8')) as { quantization: { quality: { psnr_delta_db: number } } };
      t.ok(-card.quantization.quality.psnr_delta_db <= 0.5, `${stem} ${choice.chosen} loses ${(-card.quantization.quality.psnr_delta_db).toFixed(3)} dB`);
    }
  }
});

t.test('bad variant options are rejected before anything is opened', async (t) => {
  await t.rejects(FusionModel.load(FP32, { variant: 'int4' as never }), TypeError);
  await t.rejects(FusionModel.load(FP32, { variant: 'auto', maxQualityLossDb: -1 }), RangeError);
});

t.test('auto needs the fp32 card to check variants against', async (t) => {
  const fp32 = copyModels();
  unlinkSync(fp32.replace(/\.onnx$/, '.card.json'));
  await t.rejects(FusionModel.load(fp32, { providers: ['cpu'], variant: 'auto' }), ModelCardError);
});
