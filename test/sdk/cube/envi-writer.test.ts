import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { Cube } from '../../../sdk/cube/cube';
import { readEnvi, writeEnvi } from '../../../sdk/cube/envi';
import { EnviRowWriter } from '../../../sdk/cube/envi-writer';
import { OutputWriteError } from '../../../sdk/core/errors';
import { randomCube, tempDir } from '../helpers';

const WL = [450, 500, 550, 600, 650];

/** Rows y0 .. y0 + n - 1 of every band, band-sequential, as a sink receives them. */
function chunk(cube: Cube, y0: number, n: number): Float32Array {
  const { bands: B, height: H, width: W } = cube;
  const out = new Float32Array(B * n * W);
  for (let b = 0; b < B; b++) out.set(cube.data.subarray((b * H + y0) * W, (b * H + y0 + n) * W), b * n * W);
  return out;
}

t.test('writes: chunks in any order give the bytes writeEnvi writes (bsq); bil reads back equal', async (t) => {
  const dir = tempDir();
  const cube = { ...randomCube(5, 37, 23, WL, 7), fwhm: [20, 20, 20, 20, 20] };
  const extra = { description: 'streamed', 'spectra note': 'x' };
  await writeEnvi(join(dir, 'whole.hdr'), cube, { extra });
  for (const interleave of ['bsq', 'bil'] as const) {
    const w = await EnviRowWriter.create(join(dir, `rows-${interleave}.hdr`), cube, { interleave, extra: { description: 'streamed' } });
    for (const [y0, n] of [[20, 17], [0, 9], [9, 11]]) await w.writeRows(y0, chunk(cube, y0, n));
    t.same(await w.commit({ 'spectra note': 'x' }), { header: join(dir, `rows-${interleave}.hdr`), data: join(dir, `rows-${interleave}.img`) });
    const back = await readEnvi(join(dir, `rows-${interleave}.hdr`));
    t.equal(back.data.findIndex((v, i) => v !== cube.data[i]), -1, `${interleave}: every value bit-equal`);
    t.same(back.wavelengths, WL);
    t.same(back.fwhm, cube.fwhm);
  }
  if (endianness() === 'LE') {
    t.ok(readFileSync(join(dir, 'rows-bsq.img')).equals(readFileSync(join(dir, 'whole.img'))), 'bsq data file is byte-identical to writeEnvi');
    t.equal(readFileSync(join(dir, 'rows-bsq.hdr'), 'latin1'), readFileSync(join(dir, 'whole.hdr'), 'latin1'), 'header is identical to writeEnvi');
  }
  t.same(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
});

t.test('rejects: repeated rows, misfit chunks, and a commit with rows missing leaves nothing behind', async (t) => {
  const dir = tempDir();
  const cube = randomCube(2, 8, 4, [500, 600], 3);
  const hdr = join(dir, 'part.hdr');
  const w = await EnviRowWriter.create(hdr, cube);
  await w.writeRows(0, chunk(cube, 0, 3));
  await t.rejects(w.writeRows(2, chunk(cube, 2, 2)), { name: 'RangeError', message: /row 2 .* already written/ });
  await t.rejects(w.writeRows(3, new Float32Array(7)), { name: 'RangeError', message: /Expected a chunk of 2 bands x n rows x 4 values but received 7/ });
  await t.rejects(w.writeRows(6, chunk(cube, 5, 3)), { name: 'RangeError', message: /within 0\.\.7 but received 6\.\.8/ });
  const err = await w.commit().catch((e: unknown) => e);
  t.type(err, OutputWriteError);
  t.match(err, { code: 'E_OUTPUT_WRITE', message: /part\.img: only 3 of 8 rows were written \(first missing: 3\)/ });
  t.same(readdirSync(dir), [], 'neither data, header nor temporary file remains');
  const aborted = await EnviRowWriter.create(join(dir, 'gone.hdr'), cube);
  await aborted.writeRows(0, chunk(cube, 0, 8));
  await aborted.abort();
  t.same(readdirSync(dir), [], 'abort removes the temporary file');
  await t.rejects(aborted.commit(), /already committed or aborted/);
});

t.test('rejects: an output directory that does not exist, naming the file', async (t) => {
  const dir = tempDir();
  const cube = randomCube(2, 4, 4, [500, 600], 3);
  await t.rejects(EnviRowWriter.create(join(dir, 'missing', 'x.hdr'), cube), { name: 'OutputWriteError', code: 'E_OUTPUT_WRITE', message: /missing\/x\.img: cannot create the output data file \(ENOENT/ });
  await t.rejects(EnviRowWriter.create(join(dir, 'x.img'), cube), TypeError);
  await t.rejects(EnviRowWriter.create(join(dir, 'x.hdr'), { ...cube, wavelengths: [1] }), { name: 'RangeError', message: /Expected 2 wavelengths but received 1/ });
  t.notOk(existsSync(join(dir, 'missing')));
});
