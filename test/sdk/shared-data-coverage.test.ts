/**
 * Target of issue 15: every scene in the shared data folder whose bands overlap a shipped model's range fuses
 * through `spectra fuse --resample` (here `--camera`, which implies it and carries the band table and value
 * scale). Each scene is cut to a small HR crop, blurred and decimated on its own band grid into the LR-HSI, and
 * given an HR-MSI in the model's bands; the fuse must succeed and mark exactly the model bands the scene does not
 * cover. The folder is `SPECTRA_DATA` or ../shared/data; without it the test is skipped with a message.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { main } from '../../cli/main';
import type { Cube } from '../../sdk/cube/cube';
import { readEnvi } from '../../sdk/cube/envi';
import { readNpy, writeNpy } from '../../sdk/cube/npy';
import { srfOnValidBands, toModelGrid } from '../../sdk/spectral/coverage';
import { spatialDegrade } from '../../sdk/spectral/psf';
import { projectSrf } from '../../sdk/spectral/srf';
import { ROOT, SHARED, tempDir } from './helpers';

const DATA = process.env.SPECTRA_DATA ?? SHARED;
const HR = 32;

interface Card {
  name: string;
  scale: number;
  psf: { sigma: number; kernel_size: number };
  hsi: { wavelengths_nm: number[]; fwhm_nm?: number[] | null; band_valid?: boolean[] };
  msi: { srf: number[][] };
}

/** fp32 shipped students (quantized variants share their grids). */
const MODELS = readdirSync(join(ROOT, 'models'))
  .filter((f) => /^student-.*\.card\.json$/.test(f) && !/\.(fp16|int8)\.card\.json$/.test(f))
  .map((f) => ({ onnx: join(ROOT, 'models', f.replace(/\.card\.json$/, '.onnx')), card: JSON.parse(readFileSync(join(ROOT, 'models', f), 'utf8')) as Card }));

interface Scene {
  file: string;
  wavelengths: number[];
  fwhm?: number[];
  valid?: boolean[];
}

/** A band table's columns: centre (first header naming nm or wavelength, not fwhm), fwhm, good-band flag. */
function bandTable(path: string): Omit<Scene, 'file'> {
  const [head, ...rows] = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const cols = head.split(',');
  const col = (k: number) => rows.map((r) => Number(r.split(',')[k]));
  const wl = cols.findIndex((c) => /nm|wavelength/i.test(c) && !/fwhm/i.test(c));
  const fw = cols.findIndex((c) => /fwhm/i.test(c));
  const ok = cols.findIndex((c) => /bbl|good/i.test(c));
  return { wavelengths: col(wl), ...(fw >= 0 ? { fwhm: col(fw) } : {}), ...(ok >= 0 ? { valid: col(ok).map((v) => v > 0.5) } : {}) };
}

/** Every (H, W, bands >= 10) .npy with a `*bands*.csv` of as many rows beside it; the CSV sharing the longest name prefix. */
function scenes(): Scene[] {
  const out: Scene[] = [];
  for (const dir of readdirSync(DATA).map((d) => join(DATA, d)).filter((d) => statSync(d).isDirectory())) {
    const files = readdirSync(dir);
    const tables = files.filter((f) => /bands.*\.csv$/.test(f));
    for (const f of files.filter((x) => x.endsWith('.npy'))) {
      const shape = /_(\d+)x(\d+)x(\d+)_/.exec(f);
      if (!shape || Number(shape[3]) < 10 || tables.length === 0) continue;
      const prefix = (a: string) => [...a].findIndex((c, i) => c !== f[i]);
      const best = [...tables].sort((a, b) => prefix(b) - prefix(a))[0];
      const table = bandTable(join(dir, best));
      if (table.wavelengths.length === Number(shape[3])) out.push({ file: join(dir, f), ...table });
    }
  }
  return out;
}

/** The first HR window (multiples of 4) whose valid bands hold no EnMAP-style no-data (-32768). */
function window(cube: Cube, valid: boolean[] | undefined): { y: number; x: number; h: number; w: number } {
  const h = Math.min(HR, cube.height - (cube.height % 4));
  const w = Math.min(HR, cube.width - (cube.width % 4));
  const plane = cube.height * cube.width;
  for (let y = 0; y + h <= cube.height; y += 8) {
    for (let x = 0; x + w <= cube.width; x += 8) {
      let clean = true;
      for (let b = 0; b < cube.bands && clean; b++) {
        if (valid && !valid[b]) continue;
        for (let i = 0; i < h && clean; i++) for (let j = 0; j < w && clean; j++) clean = cube.data[b * plane + (y + i) * cube.width + x + j] > -30000;
      }
      if (clean) return { y, x, h, w };
    }
  }
  return { y: 0, x: 0, h, w };
}

function crop(cube: Cube, r: { y: number; x: number; h: number; w: number }): Cube {
  const data = new Float32Array(cube.bands * r.h * r.w);
  for (let b = 0; b < cube.bands; b++) for (let i = 0; i < r.h; i++) {
    const s = (b * cube.height + r.y + i) * cube.width + r.x;
    data.set(cube.data.subarray(s, s + r.w), (b * r.h + i) * r.w);
  }
  return { ...cube, height: r.h, width: r.w, data };
}

/** Runs the CLI in this process (the same program `bin/spectra.js` runs) and returns its exit code and stdout. */
async function spectra(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const w = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await main(['node', 'spectra', ...args]);
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stdout, stderr };
}

t.test('every shared scene that overlaps a shipped model fuses through spectra fuse --camera (--resample)', { skip: existsSync(DATA) ? false : `no data folder at ${DATA} (set SPECTRA_DATA)` }, async (t) => {
  const found = scenes();
  t.ok(found.length >= 10, `${found.length} scenes with band tables: ${found.map((s) => basename(s.file)).join(', ')}`);
  const dir = tempDir();
  let runs = 0;
  for (const s of found) {
    const raw = await readNpy(s.file, { layout: 'hwc' });
    const cube: Cube = { ...raw, wavelengths: s.wavelengths, ...(s.fwhm ? { fwhm: s.fwhm } : {}) };
    const hr = crop(cube, window(cube, s.valid));
    // A test-only value scale from the crop; a real camera states its own in the profile.
    let max = 0;
    for (let b = 0; b < hr.bands; b++) if (!s.valid || s.valid[b]) for (let p = 0; p < hr.height * hr.width; p++) max = Math.max(max, hr.data[b * hr.height * hr.width + p]);
    const stem = join(dir, basename(s.file, '.npy'));
    writeFileSync(`${stem}.json`, JSON.stringify({
      schema: 'spectra-edge/camera@1',
      name: basename(s.file),
      hsi: { wavelengths_nm: s.wavelengths, ...(s.fwhm ? { fwhm_nm: s.fwhm } : {}), ...(s.valid ? { band_valid: s.valid } : {}), value_scale: max },
      msi: { value_scale: max },
    }));
    for (const m of MODELS) {
      const grid = m.card.hsi.wavelengths_nm;
      const lo = Math.min(...s.wavelengths);
      const hi = Math.max(...s.wavelengths);
      if (hi < grid[0] || lo > grid[grid.length - 1]) continue;
      const psf = { kernelSize: m.card.psf.kernel_size, sigma: m.card.psf.sigma };
      const lr = spatialDegrade(hr, m.card.scale, psf);
      const onGrid = toModelGrid({ ...hr, ...(s.valid ? { meta: { bandValid: s.valid } } : {}) }, { wavelengths: grid, ...(m.card.hsi.fwhm_nm ? { fwhm: m.card.hsi.fwhm_nm } : {}), ...(m.card.hsi.band_valid ? { bandValid: m.card.hsi.band_valid } : {}) });
      const msi = projectSrf(onGrid.cube, srfOnValidBands(m.card.msi.srf, onGrid.bandValid));
      await writeNpy(`${stem}_lr.npy`, lr);
      await writeNpy(`${stem}_msi.npy`, msi);
      const out = `${stem}_${m.card.name}.hdr`;
      const r = await spectra(['fuse', '--model', m.onnx, '--lrhsi', `${stem}_lr.npy`, '--hrmsi', `${stem}_msi.npy`, '--camera', `${stem}.json`, '--out', out, '--threads', '1', '--json']);
      const what = `${basename(s.file)} -> ${m.card.name}`;
      if (!t.equal(r.code, 0, `${what}: ${r.stderr.trim()}`)) continue;
      runs++;
      const summary = JSON.parse(r.stdout) as { shape: number[]; coverage: { valid: number; total: number } };
      const expected = onGrid.bandValid.filter((v) => v).length;
      t.equal(summary.coverage.valid, expected, `${what}: ${expected} of ${grid.length} model bands valid`);
      const header = readFileSync(out, 'latin1');
      t.equal(/\nbbl = /.test(header), expected < grid.length, `${what}: bbl present iff some model band is uncovered`);
      t.same((await readEnvi(out)).meta?.bandValid ?? grid.map(() => true), onGrid.bandValid);
    }
  }
  t.ok(runs >= found.length, `${runs} fusions`);
});
