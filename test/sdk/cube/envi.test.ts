import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvi, writeEnvi, type EnviDataType, type EnviInterleave } from '../../../sdk/cube/envi';
import { readNpy } from '../../../sdk/cube/npy';
import { FileFormatError, TruncatedFileError } from '../../../sdk/core/errors';
import { ROOT, SHARED, maxAbsDiff, randomCube, tempDir } from '../helpers';

const WL = [450.5, 500, 550, 600.25];

t.test('round-trips: every data type, interleave and byte order', async (t) => {
  const dir = tempDir();
  const ranges: Record<EnviDataType, [number, number]> = { 1: [0, 255], 2: [-3000, 3000], 3: [-1e6, 1e6], 4: [0, 1], 5: [0, 1], 12: [0, 65535] };
  for (const dataType of [1, 2, 3, 4, 5, 12] as const) {
    for (const interleave of ['bsq', 'bil', 'bip'] as const satisfies readonly EnviInterleave[]) {
      for (const byteOrder of [0, 1] as const) {
        let cube = randomCube(4, 5, 7, WL, dataType * 10 + byteOrder, ...ranges[dataType]);
        if (dataType !== 4 && dataType !== 5) cube = { ...cube, data: cube.data.map(Math.round) };
        const hdr = join(dir, `c${dataType}${interleave}${byteOrder}.hdr`);
        await writeEnvi(hdr, { ...cube, fwhm: [10, 10, 12, 12] }, { dataType, interleave, byteOrder, dataIgnoreValue: -9999 });
        const back = await readEnvi(hdr);
        t.equal(maxAbsDiff(back.data, cube.data), 0, `type ${dataType} ${interleave} order ${byteOrder}`);
        t.same(back.wavelengths, WL);
        t.same(back.fwhm, [10, 10, 12, 12]);
        t.equal(back.meta?.dataIgnoreValue, -9999);
      }
    }
  }
  t.same(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left behind');
});

t.test('reads: header in micrometres with reflectance scale factor and a header offset', async (t) => {
  const dir = tempDir();
  const data = Buffer.alloc(16 + 2 * 2 * 3 * 2);
  for (let i = 0; i < 12; i++) data.writeUInt16BE(i * 100, 16 + i * 2);
  writeFileSync(join(dir, 'x.img'), data);
  writeFileSync(
    join(dir, 'x.hdr'),
    'ENVI\nsamples = 3\nlines = 2\nbands = 2\nheader offset = 16\ndata type = 12\ninterleave = bip\nbyte order = 1\n' +
      'wavelength units = Micrometers\nwavelength = {\n 0.45,\n 0.55 }\nreflectance scale factor = 10000\nbbl = {1, 0}\n',
  );
  const cube = await readEnvi(join(dir, 'x.hdr'));
  t.same(cube.wavelengths, [450, 550]);
  t.equal(cube.meta?.valueScale, 10000);
  t.same(cube.meta?.bandValid, [true, false]);
  // bip: pixel-major; band 0 holds the even samples
  t.same(Array.from(cube.data), [0, 200, 400, 600, 800, 1000, 100, 300, 500, 700, 900, 1100]);
});

t.test('reads: band_valid alone marks invalid bands like bbl', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'v.img'), Buffer.alloc(2 * 2 * 3 * 4));
  writeFileSync(join(dir, 'v.hdr'), 'ENVI\nsamples = 2\nlines = 2\nbands = 3\ndata type = 4\ninterleave = bsq\nband_valid = {1, 0, 1}\n');
  t.same((await readEnvi(join(dir, 'v.hdr'))).meta?.bandValid, [true, false, true]);
});

t.test('rejects: truncated data file', async (t) => {
  const dir = tempDir();
  const hdr = join(dir, 't.hdr');
  await writeEnvi(hdr, randomCube(3, 4, 4, [1, 2, 3]));
  truncateSync(join(dir, 't.img'), 100);
  const err = await readEnvi(hdr).catch((e: unknown) => e);
  t.type(err, TruncatedFileError);
  t.equal((err as TruncatedFileError).code, 'E_TRUNCATED');
  t.match((err as Error).message, /t\.img: expected 192 bytes of pixel data but the file holds 100/);
});

t.test('rejects: unsupported data type, missing data file, not a header', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.hdr'), 'ENVI\nsamples = 1\nlines = 1\nbands = 1\ndata type = 6\n');
  await t.rejects(readEnvi(join(dir, 'a.hdr')), { code: 'E_FILE_FORMAT', message: /data type 6 is not supported/ });
  writeFileSync(join(dir, 'b.hdr'), 'ENVI\nsamples = 1\nlines = 1\nbands = 1\ndata type = 4\n');
  await t.rejects(readEnvi(join(dir, 'b.hdr')), { code: 'E_FILE_FORMAT', message: /b\.hdr: no ENVI data file/ });
  writeFileSync(join(dir, 'c.hdr'), 'hello');
  const err = await readEnvi(join(dir, 'c.hdr')).catch((e: unknown) => e);
  t.type(err, FileFormatError);
  t.match((err as Error).message, /c\.hdr: not an ENVI header/);
});

const SALINAS = join(SHARED, 'salinas_a');
t.test('reads: the real Salinas-A ENVI file equals its .npy', { skip: !existsSync(SALINAS) && 'shared data missing' }, async (t) => {
  const cube = await readEnvi(join(SALINAS, 'SalinasA_corrected.hdr'));
  const npy = await readNpy(join(SALINAS, 'salinas_a_83x86x204_int16.npy'), { layout: 'hwc' });
  t.same([cube.bands, cube.height, cube.width], [204, 83, 86]);
  t.equal(maxAbsDiff(cube.data, npy.data), 0);
  t.equal(cube.meta?.wavelengthsFromHeader, false);
  t.ok(statSync(join(SALINAS, 'SalinasA_corrected.img')).size > 0 && readFileSync(join(SALINAS, 'SalinasA_corrected.hdr'), 'latin1').includes('bip'));
});

t.test('rejects: an explicit data path that does not exist', async (t) => {
  const dir = tempDir();
  const hdr = join(dir, 'e.hdr');
  await writeEnvi(hdr, randomCube(1, 2, 2, [500]));
  await t.rejects(readEnvi(hdr, { dataPath: join(dir, 'missing.raw') }), { code: 'E_FILE_FORMAT', message: /missing\.raw: ENVI data file for .*e\.hdr cannot be read/ });
});

t.test('interoperates with the host ENVI reader/writer (spectra_distill.data.envi) both ways', async (t) => {
  const dir = tempDir();
  const cube = { ...randomCube(3, 4, 5, [450, 550, 650], 31, 0, 3000), fwhm: [10, 10, 10] };
  const rounded = { ...cube, data: cube.data.map(Math.round) };
  await writeEnvi(join(dir, 'ts.hdr'), rounded, { dataType: 2, interleave: 'bil', byteOrder: 1 });
  const script = `
import sys, json, numpy as np
from spectra_distill.data.cube import Cube
from spectra_distill.data.envi import read_envi_array, write_envi
arr, hdr = read_envi_array(sys.argv[1] + '/ts.hdr')
print(json.dumps({'shape': list(arr.shape), 'values': arr.astype(float).ravel().tolist(), 'wl': list(map(float, hdr.wavelengths))}))
data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) * 7
write_envi(sys.argv[1] + '/py.hdr', Cube(data, np.array([500.0, 600.0])), dtype='uint16', interleave='bip', byte_order=1)
`;
  const r = spawnSync(join(ROOT, '.venv', 'bin', 'python'), ['-c', script, dir], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const py = JSON.parse(r.stdout) as { shape: number[]; values: number[]; wl: number[] };
  t.same(py.shape, [3, 4, 5]);
  t.same(py.values, Array.from(rounded.data), 'Python reads what the SDK wrote (int16, bil, big endian)');
  t.same(py.wl, [450, 550, 650]);
  const back = await readEnvi(join(dir, 'py.hdr'));
  t.same([back.bands, back.height, back.width], [2, 3, 4]);
  t.same(Array.from(back.data), Array.from({ length: 24 }, (_, i) => i * 7), 'the SDK reads what Python wrote (uint16, bip, big endian)');
  t.same(back.wavelengths, [500, 600]);
});
