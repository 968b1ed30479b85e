import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gaussianSrfTable, readSrfCsv, srfOnGrid } from '../../../sdk/camera/srf-table';
import { ROOT, SHARED, tempDir } from '../helpers';

const SRF_DIR = join(process.env.SPECTRA_DATA ?? SHARED, 'srf');

interface Card {
  hsi: { wavelengths_nm: number[]; band_valid?: boolean[] };
  msi: { srf_file: string; band_names: string[]; srf: number[][] };
}

for (const name of ['student-cave31-rgb-x4', 'student-rs206-s2x4-x4']) {
  t.test(`srfOnGrid reproduces the host's SRF matrix of the shipped card ${name}`, { skip: existsSync(SRF_DIR) ? false : `no SRF folder at ${SRF_DIR}` }, async (t) => {
    const card = JSON.parse(readFileSync(join(ROOT, 'models', `${name}.card.json`), 'utf8')) as Card;
    const table = await readSrfCsv(join(SRF_DIR, card.msi.srf_file));
    const m = srfOnGrid(table, card.msi.band_names, card.hsi.wavelengths_nm, card.hsi.band_valid);
    let worst = 0;
    m.matrix.forEach((row, c) => row.forEach((w, b) => (worst = Math.max(worst, Math.abs(w - card.msi.srf[c][b])))));
    t.ok(worst < 1e-12, `max abs diff ${worst.toExponential(2)}`);
    t.ok(m.lostFraction.every((f) => f >= 0 && f < 0.2));
  });
}

t.test('srfOnGrid: a band partly outside the cube is clipped and its lost share reported; masked bands get no weight', async (t) => {
  const table = gaussianSrfTable([500, 700], [40, 40], ['G', 'NIR']);
  const wl = Array.from({ length: 21 }, (_, i) => 450 + 10 * i); // 450..650 nm
  const valid = wl.map((w) => w !== 500);
  const m = srfOnGrid(table, ['G', 'NIR'], wl, valid);
  t.equal(m.matrix[0][5], 0, 'the masked 500 nm band has no weight');
  t.ok(Math.abs(m.matrix[0].reduce((a, v) => a + v, 0) - 1) < 1e-12);
  t.ok(m.lostFraction[1] > 0.9, `NIR lost ${m.lostFraction[1]}`);
  t.ok(Math.abs(m.centroids[0] - 500) < 1, `G centroid ${m.centroids[0]}`);
  t.throws(() => srfOnGrid(table, ['R'], wl), { code: 'E_FILE_FORMAT', message: /has no band\(s\) R; it has G, NIR/ });
});

t.test('readSrfCsv: rejects tables that are not SRF CSVs', async (t) => {
  const dir = tempDir();
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'nm,R\n400,1\n');
  await t.rejects(readSrfCsv(bad), { code: 'E_FILE_FORMAT', message: /starts with a 'wavelength_nm' column/ });
  writeFileSync(bad, 'wavelength_nm,R\n400,1\n400,2\n');
  await t.rejects(readSrfCsv(bad), { message: /must increase strictly; row 3/ });
  writeFileSync(bad, 'wavelength_nm,R\n400,1\n410,-2\n');
  await t.rejects(readSrfCsv(bad), { message: /row 3 holds a negative response/ });
  await t.rejects(readSrfCsv(join(dir, 'none.csv')), { message: /not found/ });
});
