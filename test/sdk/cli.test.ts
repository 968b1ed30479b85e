import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvi } from '../../sdk/cube/envi';
import { readNpy, writeNpy } from '../../sdk/cube/npy';
import { ROOT, TINY_MODEL, maxAbsDiff, randomCube, tempDir } from './helpers';

const REF = join(ROOT, 'test', 'fixtures', 'sdk-parity', 'tiny-student');
const spectra = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'spectra.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

t.test('cli: spectra fuse writes ENVI equal to the PyTorch reference, plus a quicklook', async (t) => {
  const dir = tempDir();
  const out = join(dir, 'fused.hdr');
  const r = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(REF, 'lrhsi.npy'), '--hrmsi', join(REF, 'hrmsi.npy'), '--out', out, '--quicklook', join(dir, 'q.png'), '--json');
  t.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { shape: number[]; provider: string; quality: { spatial: { psnr: number } } };
  t.same(summary.shape, [8, 64, 64]);
  t.equal(summary.provider, 'cpu');
  t.notMatch(r.stderr, /warn/, 'the default provider order falls back quietly');
  const fused = await readEnvi(out);
  t.ok(maxAbsDiff(fused.data, (await readNpy(join(REF, 'hrhsi.npy'))).data) <= 1e-4);
  t.match(readFileSync(out, 'latin1'), /spectra consistency = \{spatial_psnr_db=/);
  t.ok(existsSync(join(dir, 'q.png')));
});

t.test('cli: errors exit non-zero with the typed error on one line', async (t) => {
  const dir = tempDir();
  const wrong = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(REF, 'hrmsi.npy'), '--hrmsi', join(REF, 'hrmsi.npy'), '--out', join(dir, 'x.hdr'));
  t.equal(wrong.status, 2);
  t.match(wrong.stderr, /BandCountError \[E_BAND_COUNT\]: Expected 8 bands for lrhsi but received 3/);
  t.notOk(existsSync(join(dir, 'x.hdr')), 'nothing written');
  const badTile = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', 'a', '--hrmsi', 'b', '--out', 'c.hdr', '--tile', '-1');
  t.equal(badTile.status, 1);
  t.match(badTile.stderr, /--tile .*expected an integer >= 0/);
  const missing = spectra('info', '--model', join(dir, 'none.onnx'));
  t.equal(missing.status, 2);
  t.match(missing.stderr, /ModelFileError \[E_MODEL_FILE\]: .*none\.onnx: model file not found/);
});

t.test('cli: spectra info reports card, input spec and providers', async (t) => {
  const r = spectra('info', '--model', TINY_MODEL);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /model\s+tiny-student \(student, preset test_tiny/);
  t.match(r.stdout, /lrhsi\s+N x 8 x h x w, 420\.\.700 nm/);
  t.match(r.stdout, /granted\s+cpu/);
  t.match(r.stdout, /tensorrt: unavailable \(.*not bundled/);
  t.match(r.stdout, /forwards provider options for: none \(onnxruntime #26854\)/);
});

t.test('cli: --lrhsi-wavelengths and --resample put a 41-band .npy on the model grid', async (t) => {
  const dir = tempDir();
  const wl = Array.from({ length: 41 }, (_, i) => 400 + 10 * i);
  await writeNpy(join(dir, 'lr.npy'), randomCube(41, 16, 16, wl, 21));
  await writeNpy(join(dir, 'hr.npy'), randomCube(3, 64, 64, [600, 540, 460], 22));
  const r = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, 'lr.npy'), '--hrmsi', join(dir, 'hr.npy'), '--lrhsi-wavelengths', '400:800:10', '--resample', '--out', join(dir, 'f.hdr'), '--json');
  t.equal(r.status, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { shape: number[] }).shape, [8, 64, 64]);
  t.ok((JSON.parse(r.stdout) as { timing: { resampleMs: number } }).timing.resampleMs > 0);
  const bad = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, 'lr.npy'), '--hrmsi', join(dir, 'hr.npy'), '--lrhsi-wavelengths', '400:x:10', '--out', join(dir, 'g.hdr'));
  t.equal(bad.status, 1);
  t.match(bad.stderr, /expected wavelengths in nm/);
});
