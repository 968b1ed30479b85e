import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { spawnSync } from 'node:child_process';
import { decodeNpy, readNpy, writeNpy } from '../../../sdk/cube/npy';
import { readPngStack, writePngStack } from '../../../sdk/cube/png-stack';
import { readGeoTiff, writeGeoTiff, GEOTIFF_WRITE_MAX_BANDS } from '../../../sdk/cube/geotiff';
import { quicklook, quicklookBands, writeQuicklook } from '../../../sdk/cube/quicklook';
import { FileFormatError, TruncatedFileError } from '../../../sdk/core/errors';
import { ROOT, SHARED, maxAbsDiff, randomCube, tempDir } from '../helpers';

t.test('round-trips: .npy float32 (bands, H, W)', async (t) => {
  const dir = tempDir();
  const cube = randomCube(3, 4, 5, [1, 2, 3]);
  await writeNpy(join(dir, 'a.npy'), cube);
  const back = await readNpy(join(dir, 'a.npy'), { wavelengths: [1, 2, 3] });
  t.equal(maxAbsDiff(back.data, cube.data), 0);
  t.same([back.bands, back.height, back.width], [3, 4, 5]);
  const raw = readFileSync(join(dir, 'a.npy'));
  t.equal((raw.readUInt16LE(8) + 10) % 64, 0, 'data starts 64-byte aligned');
  const py = spawnSync(join(ROOT, '.venv', 'bin', 'python'), ['-c', `import numpy as np; a = np.load(${JSON.stringify(join(dir, 'a.npy'))}); print(a.shape, a.dtype, repr(float(a[2, 3, 4])))`], { encoding: 'utf8' });
  t.equal(py.stdout.trim(), `(3, 4, 5) float32 ${String(cube.data[2 * 20 + 3 * 5 + 4])}`, 'numpy reads it back');
});

t.test('reads: .npy (H, W, bands) uint16 big-endian and Fortran order', async (t) => {
  const header = (descr: string, fortran: boolean, shape: string): Buffer => {
    let h = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
    h += ' '.repeat(64 - ((10 + h.length + 1) % 64)) + '\n';
    const b = Buffer.alloc(10);
    b.write('\x93NUMPY', 0, 'latin1');
    b[6] = 1;
    b.writeUInt16LE(h.length, 8);
    return Buffer.concat([b, Buffer.from(h, 'latin1')]);
  };
  // (H=1, W=2, bands=3) holding pixel-major values 0..5
  const be = Buffer.alloc(12);
  for (let i = 0; i < 6; i++) be.writeUInt16BE(i, i * 2);
  const a = decodeNpy(Buffer.concat([header('>u2', false, '(1, 2, 3)'), be]), 'a.npy');
  t.same(Array.from(a.data), [0, 1, 2, 3, 4, 5]);
  // The same logical array in Fortran order: element (i, j, k) at i + 1*j + 2*k
  const f = Buffer.alloc(24);
  [0, 3, 1, 4, 2, 5].forEach((v, i) => f.writeFloatLE(v, i * 4));
  const dir = tempDir();
  writeFileSync(join(dir, 'f.npy'), Buffer.concat([header('<f4', true, '(1, 2, 3)'), f]));
  const cube = await readNpy(join(dir, 'f.npy'), { layout: 'hwc' });
  t.same(Array.from(cube.data), [0, 3, 1, 4, 2, 5], 'band-sequential: band 0 = (0, 3), band 1 = (1, 4), band 2 = (2, 5)');
  t.throws(() => decodeNpy(Buffer.concat([header('<f4', false, '(10,)'), Buffer.alloc(8)]), 'short.npy'), TruncatedFileError);
  t.throws(() => decodeNpy(Buffer.concat([header('<c8', false, '(1,)'), Buffer.alloc(8)]), 'c.npy'), { code: 'E_FILE_FORMAT', message: /c\.npy: .*dtype '<c8' is not supported/ });
  t.throws(() => decodeNpy(Buffer.from('not numpy at all'), 'x.npy'), FileFormatError);
});

t.test('round-trips: 8- and 16-bit PNG band stacks, one grayscale file per band', async (t) => {
  const dir = tempDir();
  const cube = randomCube(5, 6, 7, [400, 450, 500, 550, 600], 9, 0, 1);
  for (const bitDepth of [8, 16] as const) {
    const sub = join(dir, String(bitDepth));
    mkdirSync(sub);
    const paths = await writePngStack(sub, cube, { bitDepth });
    t.equal(paths.length, 5);
    const meta = await sharp(paths[0]).metadata();
    t.same([meta.channels, meta.depth], [1, bitDepth === 16 ? 'ushort' : 'uchar']);
    const back = await readPngStack(paths, { wavelengths: cube.wavelengths });
    const full = bitDepth === 16 ? 65535 : 255;
    t.equal(back.meta?.valueScale, full);
    const scaled = back.data.map((v) => v / full);
    t.ok(maxAbsDiff(scaled, cube.data) <= 0.5 / full + 1e-7, `${bitDepth}-bit quantisation only`);
  }
  const rgb = join(dir, 'rgb.png');
  await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } }).png().toFile(rgb);
  await t.rejects(readPngStack([rgb]), { code: 'E_FILE_FORMAT', message: /rgb\.png: expected a single-channel/ });
});

const BALLOONS = join(SHARED, 'cave', 'balloons_ms');
t.test('reads: the real 16-bit CAVE PNG bands', { skip: !existsSync(BALLOONS) && 'shared data missing' }, async (t) => {
  const files = ['balloons_ms_01.png', 'balloons_ms_02.png'].map((f) => join(BALLOONS, f));
  const cube = await readPngStack(files, { wavelengths: [400, 410] });
  t.same([cube.bands, cube.height, cube.width], [2, 512, 640]);
  t.same(Array.from(cube.data.subarray(0, 8)), [1275, 519, 86, 83, 655, 3065, 3689, 3506], 'values as decoded by PIL');
});

const ENMAP = join(SHARED, 'enmap_potsdam', 'original_tiles', 'enmap_potsdam_tile_128_0.tif');
t.test('reads: a real 224-band EnMAP GeoTIFF with GDAL wavelengths; writes and re-reads up to 32 bands', { skip: !existsSync(ENMAP) && 'shared data missing' }, async (t) => {
  const cube = await readGeoTiff(ENMAP);
  t.same([cube.bands, cube.height, cube.width], [224, 32, 32]);
  t.equal(cube.wavelengths[0], 418.24);
  t.equal(cube.meta?.valueScale, 10000);
  t.equal(cube.meta?.dataIgnoreValue, -32768);
  const dir = tempDir();
  const small = { ...cube, bands: 32, data: cube.data.slice(0, 32 * 1024), wavelengths: cube.wavelengths.slice(0, 32), fwhm: cube.fwhm?.slice(0, 32) };
  await writeGeoTiff(join(dir, 's.tif'), small);
  const back = await readGeoTiff(join(dir, 's.tif'));
  t.equal(maxAbsDiff(back.data, small.data), 0);
  t.same(back.wavelengths, small.wavelengths);
  t.same(back.fwhm, small.fwhm);
  await t.rejects(writeGeoTiff(join(dir, 'big.tif'), cube), { name: 'RangeError', message: new RegExp(`at most ${GEOTIFF_WRITE_MAX_BANDS} bands`) });
});

t.test('renders: quicklook picks bands near 640/550/460 nm, falls back to thirds, stretches 2-98 %', async (t) => {
  const wl = Array.from({ length: 31 }, (_, i) => 400 + 10 * i);
  const cube = randomCube(31, 20, 30, wl, 4);
  t.same(quicklookBands(cube), { bands: [24, 15, 6], method: 'wavelength' });
  const swir = { ...cube, wavelengths: wl.map((w) => w + 1200) };
  t.same(quicklookBands(swir), { bands: [25, 15, 5], method: 'thirds' });
  const { png } = await quicklook(cube);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  t.same([info.width, info.height, info.channels], [30, 20, 3]);
  const red = Array.from({ length: 600 }, (_, i) => data[i * 3]);
  const saturated = red.filter((v) => v === 255).length;
  t.ok(saturated >= 6 && saturated <= 20, `about 2 % of pixels clip white (${saturated}/600)`);
  const dir = tempDir();
  const pick = await writeQuicklook(join(dir, 'q.png'), cube);
  t.equal(pick.method, 'wavelength');
  t.ok(existsSync(join(dir, 'q.png')));
});
