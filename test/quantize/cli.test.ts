import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NO_REAL_DATA, REPO, TINY_MODEL, realCalibrationDir, scratchDir } from './helpers';

const CLI = join(REPO, 'bin', 'spectra.js');

function spectra(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: REPO });
}

t.test('spectra quantize --mode int8 writes model + card and prints the sensitivity ranking', { skip: NO_REAL_DATA }, async (t) => {
  const calib = await realCalibrationDir(32, 2);
  const out = join(await scratchDir('spectra-qcli-'), 'tiny.int8.onnx');
  const r = spectra(['quantize', '--model', TINY_MODEL, '--mode', 'int8', '--calib', calib, '--keep-float', '1', '--method', 'minmax', '--max-samples', '2', '--out', out]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /wrote .*tiny\.int8\.onnx/);
  t.match(r.stdout, /quality vs ground truth on \d+ samples of .*: fp32 .* int8 .*delta/);
  t.match(r.stdout, /sensitivity ranking[^\n]*\n\s+1\. \S+ \((Conv|Add|Concat|MatMul)\): [\d.]+ dB vs fp32/);
  const card = JSON.parse(await readFile(out.replace(/\.onnx$/, '.card.json'), 'utf8')) as { precision: string; quantization: { method: string; kept_float: string[] } };
  t.equal(card.precision, 'int8');
  t.equal(card.quantization.method, 'minmax');
  t.equal(card.quantization.kept_float.length, 1);
});

t.test('spectra quantize: a model without a card fails with a typed error and exit code 2', async (t) => {
  const dir = await scratchDir('spectra-qcli-');
  const r = spectra(['quantize', '--model', join(dir, 'nothing.onnx'), '--mode', 'fp16', '--out', join(dir, 'q.onnx')]);
  t.equal(r.status, 2);
  t.match(r.stderr, /ModelCardMissingError \[E_MODEL_CARD_MISSING\].*nothing\.card\.json/);
  t.equal(existsSync(join(dir, 'q.onnx')), false);
});

t.test('spectra quantize: int8 without --calib is a usage error', async (t) => {
  const r = spectra(['quantize', '--model', TINY_MODEL, '--mode', 'int8', '--out', join(tmpdir(), 'never.onnx')]);
  t.equal(r.status, 1);
  t.match(r.stderr, /--mode int8 needs --calib <dir> or --split/);
});

const RS_MODEL = join(REPO, 'models', 'student-rs206-s2x4-x4.onnx');

t.test('spectra quantize --split: calibrates on training regions, reports the validation regions it scored', { skip: NO_REAL_DATA || (!existsSync(RS_MODEL) && `no ${RS_MODEL}`) }, async (t) => {
  const dir = await scratchDir('spectra-qcli-split-');
  const out = join(dir, 'rs.fp16.onnx');
  const r = spectra(['quantize', '--model', RS_MODEL, '--mode', 'fp16', '--split', '--pairs', join(dir, 'pairs'), '--out', out]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /split 'default': \d+ calibration tiles from training regions, \d+ validation regions/);
  t.match(r.stdout, /evaluated on: .*jasper_ridge \[\d+, \d+, \d+, \d+\] \(val\)/);
  const manifest = JSON.parse(await readFile(join(dir, 'pairs', 'train', 'regions.json'), 'utf8')) as { role: string; samples: unknown[] };
  t.equal(manifest.role, 'train');
  const card = JSON.parse(await readFile(out.replace(/\.onnx$/, '.card.json'), 'utf8')) as { quantization: { quality: { measured_on: string; split: string } } };
  t.match(card.quantization.quality, { measured_on: 'held-out samples', split: 'default' });
});

t.test('spectra quantize: --split with --calib is a usage error', async (t) => {
  const r = spectra(['quantize', '--model', TINY_MODEL, '--mode', 'int8', '--split', '--calib', tmpdir(), '--out', join(tmpdir(), 'never.onnx')]);
  t.equal(r.status, 1);
  t.match(r.stderr, /--split replaces --calib and --eval/);
});
