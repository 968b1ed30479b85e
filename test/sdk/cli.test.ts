import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvi, writeEnvi } from '../../sdk/cube/envi';
import { readNpy, writeNpy } from '../../sdk/cube/npy';
import { ROOT, TINY_MODEL, maxAbsDiff, randomCube, tempDir } from './helpers';

const REF = join(ROOT, 'test', 'fixtures', 'sdk-parity', 'tiny-student');
const spectra = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'spectra.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

t.test('cli: spectra fuse writes ENVI equal to the PyTorch reference, plus a quicklook', async (t) => {
  const dir = tempDir();
  const out = join(dir, 'fused.hdr');
  const r = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(REF, 'lrhsi.npy'), '--hrmsi', join(REF, 'hrmsi.npy'), '--out', out, '--quicklook', join(dir, 'q.png'), '--denoise', 'none', '--json');
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
  t.notMatch(r.stdout, /^statistics/m, 'the tiny fixture measures nothing per image');
  const shipped = spectra('info', '--model', join(ROOT, 'models', 'student-cave31-rgb-x4.onnx'));
  t.equal(shipped.status, 0, shipped.stderr);
  const shippedCard = JSON.parse(readFileSync(join(ROOT, 'models', 'student-cave31-rgb-x4.card.json'), 'utf8')) as { frame_statistics: { length: number } };
  const statsLine = new RegExp(`^statistics student-cave31-rgb-x4\\.stats\\.onnx \\(sha256 [0-9a-f]{16}…, verified\\): ${shippedCard.frame_statistics.length} values measured once per frame`, 'm');
  t.match(shipped.stdout, statsLine);
  t.match(shipped.stdout, /^psf .*measured on every frame by the statistics graph: a Gaussian of 0\.5-4 px, or symmetric taps of any shape fitted to the pair, replaces it/m);
  t.match(shipped.stdout, /^psf .*% better; then that blur moved off the middle of each 4x4 block and refitted over 12 taps/m);
  t.match(shipped.stdout, /^\s+its noise measured on every frame by the statistics graph .*the smallest band's estimate for all\); detail levels of 1 \/ 2 px kept at their Wiener gains/m);
  t.match(shipped.stdout, /each move judged with the spectral response that explains it best/);
});

t.test('cli: spectra fuse --json carries what the statistics graph fitted on the frame (response, blur, HR-MSI detail)', async (t) => {
  const dir = tempDir('spectra-cli-fits-');
  const ref = join(ROOT, 'test', 'fixtures', 'sdk-parity', 'student-cave31-rgb-x4');
  const r = spectra('fuse', '--model', join(ROOT, 'models', 'student-cave31-rgb-x4.onnx'), '--lrhsi', join(ref, 'lrhsi.npy'), '--hrmsi', join(ref, 'hrmsi.npy'), '--out', join(dir, 'f.hdr'), '--json');
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { srfFit?: { bands: unknown[] }; blurFit?: { shiftPx: { rows: number } }; msiDetail?: { bands: { name: string; gains: number[] }[] } };
  t.equal(report.srfFit?.bands.length, 3, 'the fitted response of each MSI band');
  t.ok(report.blurFit && Math.abs(report.blurFit.shiftPx.rows) < 0.05, 'the blur the fusion used: centred on this pair');
  t.same(report.msiDetail?.bands.map((b) => b.gains.length), [2, 2, 2], 'the gain of each detail level of each band');
});

t.test('cli: spectra info warns about a quantized variant on cpu; --variant auto opens fp32', async (t) => {
  const int8 = join(ROOT, 'test', 'fixtures', 'quantize-reference', 'student-cave31-rgb-x4.int8.onnx'); // a complete fp32/fp16/int8 family
  const r = spectra('info', '--model', int8, '--providers', 'cpu');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /granted\s+cpu/);
  t.match(r.stdout, /warning\s+int8 variant on cpu: slower than fp32 on this provider .*--variant auto or the fp32 file/);
  const auto = spectra('info', '--model', int8, '--providers', 'cpu', '--variant', 'auto');
  t.equal(auto.status, 0, auto.stderr);
  t.match(auto.stdout, /variant\s+fp32: cpu prefers fp32/);
  t.notMatch(auto.stdout, /warning/);
  const bad = spectra('info', '--model', int8, '--variant', 'int4');
  t.not(bad.status, 0);
  t.match(bad.stderr, /Allowed choices are fp32, fp16, int8, auto/);
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

t.test('cli: partial coverage marks bands in the header, --covered-only writes the valid ones, raw counts name --value-scale', async (t) => {
  const dir = tempDir();
  const short = Array.from({ length: 21 }, (_, i) => 400 + 10 * i); // ends at 600 nm: 620-700 nm uncovered
  await writeNpy(join(dir, 'lr.npy'), randomCube(21, 16, 16, short, 41));
  await writeNpy(join(dir, 'hr.npy'), randomCube(3, 64, 64, [600, 540, 460], 42));
  const args = ['fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, 'lr.npy'), '--hrmsi', join(dir, 'hr.npy'), '--lrhsi-wavelengths', '400:600:10', '--resample'];
  const all = spectra(...args, '--out', join(dir, 'all.hdr'));
  t.equal(all.status, 0, all.stderr);
  t.match(all.stdout, /coverage: 5 of 8 model bands valid; invalid \(not covered by the LR-HSI or not learnt\): 620-700 nm; written as zeros, bbl 0/);
  t.match(readFileSync(join(dir, 'all.hdr'), 'latin1'), /bbl = \{1, 1, 1, 1, 1, 0, 0, 0\}/);
  const kept = spectra(...args, '--covered-only', '--tile', '32', '--overlap', '16', '--out', join(dir, 'kept.hdr'), '--json');
  t.equal(kept.status, 0, kept.stderr);
  t.same((JSON.parse(kept.stdout) as { shape: number[] }).shape, [5, 64, 64]);
  t.equal((await readEnvi(join(dir, 'kept.hdr'))).bands, 5, 'streamed output holds only the covered bands');
  const counts = randomCube(8, 16, 16, [420, 460, 500, 540, 580, 620, 660, 700], 43, 100, 4000);
  await writeNpy(join(dir, 'raw.npy'), counts);
  const raw = spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, 'raw.npy'), '--hrmsi', join(dir, 'hr.npy'), '--lrhsi-wavelengths', '420:700:40', '--out', join(dir, 'raw.hdr'));
  t.equal(raw.status, 2);
  t.match(raw.stderr, /ValueRangeError \[E_VALUE_RANGE\]: lrhsi values reach .* pass --value-scale <full scale> .* or --camera with the sensor's value_scale/);
  t.notMatch(raw.stderr, /meta\.valueScale/);
});

t.test('cli: --camera applies the profile; a wrong profile fails before anything is written; --estimate-srf reports the response', async (t) => {
  const dir = tempDir();
  const wl = Array.from({ length: 21 }, (_, i) => 410 + 15 * i);
  await writeNpy(join(dir, 'lr.npy'), randomCube(21, 16, 16, wl, 51, 40, 3900));
  await writeNpy(join(dir, 'hr.npy'), randomCube(3, 64, 64, [0, 1, 2], 52, 10, 250));
  writeFileSync(join(dir, 'cam.json'), JSON.stringify({ schema: 'spectra-edge/camera@1', name: 'cli-cam', hsi: { wavelengths_nm: wl, value_scale: 4095 }, msi: { centres_nm: [610, 540, 465], fwhm_nm: [60, 60, 50], band_names: ['R', 'G', 'B'], value_scale: 255 } }));
  writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ schema: 'spectra-edge/camera@1', name: 'wrong', hsi: { wavelengths_nm: wl.slice(1), value_scale: 4095 } }));
  const base = ['fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, 'lr.npy'), '--hrmsi', join(dir, 'hr.npy')];
  const ok = spectra(...base, '--camera', join(dir, 'cam.json'), '--out', join(dir, 'ok.hdr'), '--json');
  t.equal(ok.status, 0, ok.stderr);
  const s = JSON.parse(ok.stdout) as { camera: string; msiResponse: { source: string; bands: { name: string; centroidNm: number }[] }; msiAgreement: { psnr: number } };
  t.equal(s.camera, 'cli-cam');
  t.equal(s.msiResponse.source, 'profile');
  t.same(s.msiResponse.bands.map((b) => b.name), ['R', 'G', 'B']);
  t.ok(Number.isFinite(s.msiAgreement.psnr));
  const bad = spectra(...base, '--camera', join(dir, 'wrong.json'), '--out', join(dir, 'bad.hdr'));
  t.equal(bad.status, 2);
  t.match(bad.stderr, /CameraProfileError \[E_CAMERA_PROFILE\]: .*wrong\.json: hsi\.wavelengths_nm: describes 20 bands but the LR-HSI has 21/);
  t.notOk(existsSync(join(dir, 'bad.hdr')) || existsSync(join(dir, 'bad.img')), 'nothing written');
  const est = spectra(...base, '--camera', join(dir, 'cam.json'), '--estimate-srf', '--out', join(dir, 'est.hdr'));
  t.equal(est.status, 0, est.stderr);
  t.match(est.stdout, /msi response \(estimated from the pair; mapped onto the model's MSI bands\): band 1 \d+ nm gain [\d.]+ offset -?[\d.]+ misfit [\d.]+ dB/);
  const info = spectra('info', '--model', TINY_MODEL, '--camera', join(dir, 'cam.json'));
  t.equal(info.status, 0, info.stderr);
  t.match(info.stdout, /camera\s+cli-cam .*: HSI fills \d+ of 8 model bands/);
  t.match(info.stdout, /msi response \(camera profile/);
});

t.test('cli: spectra info reports the LR-HSI noise, and fuse projects a noisy capture by default', async (t) => {
  const dir = tempDir();
  // An imager sampling 400-800 nm every 10 nm (spectra smooth at that spacing), three materials mixed.
  const wl = Array.from({ length: 41 }, (_, i) => 400 + 10 * i);
  const ends = [0.2, 0.5, 0.9].map((f, k) => wl.map((w) => 0.4 + 0.2 * Math.sin(2 * Math.PI * (f * (w - 400)) / 400 + k)));
  let s = 5;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  const N = 16 * 16;
  const clean = new Float32Array(41 * N);
  for (let p = 0; p < N; p++) {
    const a = [rnd(), rnd(), rnd()];
    const sum = a[0] + a[1] + a[2];
    for (let b = 0; b < 41; b++) clean[b * N + p] = (a[0] * ends[0][b] + a[1] * ends[1][b] + a[2] * ends[2][b]) / sum;
  }
  const power = clean.reduce((acc, v) => acc + v * v, 0) / clean.length;
  const sigma = Math.sqrt(power / 10 ** (25 / 10));
  const cube = (data: Float32Array) => ({ bands: 41, height: 16, width: 16, wavelengths: wl, data });
  await writeEnvi(join(dir, 'clean.hdr'), cube(clean));
  await writeEnvi(join(dir, 'noisy.hdr'), cube(Float32Array.from(clean, (v) => v + sigma * gauss())));
  const info = (lr: string) => spectra('info', '--model', TINY_MODEL, '--lrhsi', join(dir, lr), '--hrmsi', join(REF, 'hrmsi.npy'));
  const snrOf = (out: string): number => Number(/noise {6}LR-HSI SNR about (-?[\d.]+) dB/.exec(out)?.[1]);
  const quiet = info('clean.hdr');
  t.equal(quiet.status, 0, quiet.stderr);
  t.ok(snrOf(quiet.stdout) > 50, `the clean capture reads as clean (${snrOf(quiet.stdout)} dB)`);
  t.match(quiet.stdout, /denoise    on the model grid the LR-HSI reads [\d.]+ dB: fuse leaves the output as the network makes it\n/);
  const noisy = info('noisy.hdr');
  t.equal(noisy.status, 0, noisy.stderr);
  t.ok(snrOf(noisy.stdout) > 20 && snrOf(noisy.stdout) < 30, `the 25 dB capture reads near 25 dB (${snrOf(noisy.stdout)} dB)`);
  t.match(noisy.stdout, /denoise    on the model grid the LR-HSI reads [\d.]+ dB, below 40: fuse denoises it with the HR-MSI's help and projects the output onto its signal subspace by default \(--denoise auto/);
  const fuse = (lr: string, ...extra: string[]) => spectra('fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, lr), '--hrmsi', join(REF, 'hrmsi.npy'), '--resample', ...extra);
  const fused = fuse('noisy.hdr', '--out', join(dir, 'd.hdr'), '--json');
  t.equal(fused.status, 0, fused.stderr);
  const report = JSON.parse(fused.stdout) as { timing: { denoiseMs: number }; denoise: { snrDb: number; projected: boolean } };
  t.ok(report.denoise.projected && report.timing.denoiseMs > 0, 'fuse projected the noisy output by default');
  const gridSnr = Number(/on the model grid the LR-HSI reads ([\d.]+) dB/.exec(noisy.stdout)?.[1]);
  t.ok(Math.abs(report.denoise.snrDb - gridSnr) < 0.05, `with the model-grid SNR info reported (${report.denoise.snrDb.toFixed(2)} dB)`);
  t.match(fuse('clean.hdr', '--out', join(dir, 'c.hdr')).stdout, /denoise: LR-HSI SNR [\d.]+ dB, at or above 40 dB: not projected/);
  t.match(fuse('noisy.hdr', '--out', join(dir, 'g.hdr')).stdout, /denoise: LR-HSI SNR [\d.]+ dB; LR-HSI guided by the HR-MSI, output projected onto its \d+ signal directions/);
  const off = fuse('noisy.hdr', '--denoise', 'none', '--out', join(dir, 'n.hdr'), '--json');
  t.equal((JSON.parse(off.stdout) as { denoise?: unknown }).denoise, undefined, '--denoise none measures nothing');
  const bad = fuse('noisy.hdr', '--denoise', 'pca', '--out', join(dir, 'e.hdr'));
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--denoise.*pca.*Allowed choices are auto, none, subspace/);
});
