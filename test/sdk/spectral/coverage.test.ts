import t from 'tap';
import { describeBandRanges, selectBandGrid, selectBands, srfOnValidBands } from '../../../sdk/spectral/coverage';
import { bandValidity } from '../../../sdk/cube/band-validity';
import { randomCube } from '../helpers';

t.test('coverage: bandValidity reads meta.bandValid, defaults to all, rejects a wrong length', async (t) => {
  const cube = randomCube(3, 2, 2, [500, 600, 700]);
  t.same(bandValidity(cube), [true, true, true]);
  t.same(bandValidity({ ...cube, meta: { bandValid: [true, false, true] } }), [true, false, true]);
  t.throws(() => bandValidity({ ...cube, meta: { bandValid: [true] } }), { code: 'E_BAND_COUNT', message: /Expected 3 bands for meta.bandValid but received 1/ });
});

t.test('coverage: describeBandRanges merges neighbouring bands in wavelength order', async (t) => {
  const wl = [400, 410, 420, 430, 440, 450];
  t.equal(describeBandRanges(wl, [false, false, true, true, false, true]), '400-410, 440 nm');
  t.equal(describeBandRanges(wl, [false, false, true, true, false, true], true), '420-430, 450 nm');
  t.equal(describeBandRanges(wl, new Array(6).fill(true)), 'none');
});

t.test('coverage: selectBands keeps pixels, wavelengths, fwhm and flags of the listed bands', async (t) => {
  const cube = { ...randomCube(4, 2, 3, [400, 500, 600, 700], 3), fwhm: [10, 20, 30, 40], meta: { bandValid: [true, false, true, true], sensor: 'x' } };
  const two = selectBands(cube, [3, 0]);
  t.same([two.bands, two.height, two.width], [2, 2, 3]);
  t.same(two.wavelengths, [700, 400]);
  t.same(two.fwhm, [40, 10]);
  t.same(two.meta, { bandValid: [true, true], sensor: 'x' });
  t.same(Array.from(two.data.subarray(0, 6)), Array.from(cube.data.subarray(18, 24)));
  t.same(Array.from(two.data.subarray(6)), Array.from(cube.data.subarray(0, 6)));
  const { data: _d, ...header } = cube;
  t.notOk('data' in selectBandGrid(header, [1]), 'the grid-only variant allocates no pixels');
  t.throws(() => selectBands(cube, []), RangeError);
  t.throws(() => selectBands(cube, [4]), { name: 'RangeError', message: /within 0..3 but received 4/ });
});

t.test('coverage: SRF rows are renormalised over valid bands; a row with no valid weight stays zero', async (t) => {
  const srf = [
    [0.5, 0.25, 0.25, 0],
    [0, 0, 0, 1],
  ];
  const out = srfOnValidBands(srf, [true, false, true, false]);
  t.same(out[0], [2 / 3, 0, 1 / 3, 0]);
  t.same(out[1], [0, 0, 0, 0]);
});
