import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCameraProfile, cameraFuseOptions } from '../../sdk/camera/profile';
import { writeEnvi } from '../../sdk/cube/envi';
import { ReplaySource } from '../../sdk/capture/replay';
import { randomCube } from '../sdk/helpers';
import { tempDir } from './helpers';

t.test('capture: a replay with --camera puts the camera\'s band table and value scales on every frame', async (t) => {
  const dir = tempDir();
  const wl = Array.from({ length: 12 }, (_, i) => 400 + 25 * i);
  // ENVI files as a camera writes them: raw counts, its band centres, no scale and no bad-band list.
  for (let i = 0; i < 2; i++) {
    await writeEnvi(join(dir, `f_${i}_lrhsi.hdr`), randomCube(12, 4, 4, wl, i + 1, 10, 4000));
    await writeEnvi(join(dir, `f_${i}_hrmsi.hdr`), randomCube(3, 16, 16, [0, 1, 2], i + 5, 1, 250));
  }
  writeFileSync(join(dir, 'cam.json'), JSON.stringify({ schema: 'spectra-edge/camera@1', name: 'replay-cam', hsi: { wavelengths_nm: wl, band_valid: wl.map((w) => w !== 500), value_scale: 4095 }, msi: { centres_nm: [610, 540, 465], fwhm_nm: [60, 60, 50], value_scale: 255 } }));
  const camera = await readCameraProfile(join(dir, 'cam.json'));
  const frames = [];
  for await (const f of new ReplaySource({ frames: dir, camera, log: () => undefined })) frames.push(f);
  t.equal(frames.length, 2);
  for (const f of frames) {
    t.same(f.lrhsi.wavelengths, wl);
    t.equal(f.lrhsi.meta?.valueScale, 4095, 'the camera\'s scale, not a per-scene percentile');
    t.equal((f.lrhsi.meta?.bandValid as boolean[])[4], false, 'bad band from the profile');
    t.equal(f.hrmsi.meta?.valueScale, 255);
  }
  // A header that contradicts the profile is an error, not a silent choice.
  const other = tempDir();
  await writeEnvi(join(other, 'g_lrhsi.hdr'), randomCube(12, 4, 4, wl.map((w) => w + 5), 3, 10, 4000));
  await writeEnvi(join(other, 'g_hrmsi.hdr'), randomCube(3, 16, 16, [0, 1, 2], 4, 1, 250));
  const run = async () => {
    for await (const _ of new ReplaySource({ frames: other, camera, log: () => undefined })) void _;
  };
  await t.rejects(run(), { code: 'E_CAMERA_PROFILE', message: /hsi\.wavelengths_nm: differ from the wavelengths in the file's header by up to 5\.0 nm/ });
  const opts = cameraFuseOptions(camera, { wavelengths: [420, 460, 500, 540, 580, 620, 660, 700], fwhm: new Array(8).fill(40) });
  t.equal(opts.resample, true);
  t.equal(opts.msiResponse?.matrix.length, 3);
});
