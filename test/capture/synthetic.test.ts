import t from 'tap';
import { existsSync } from 'node:fs';
import { SyntheticSource } from '../../sdk/capture/synthetic';
import { defaultScene } from '../../cli/paths';
import type { FramePair } from '../../sdk/capture/frame';
import { spatialDegrade } from '../../sdk/spectral/psf';
import { projectSrf } from '../../sdk/spectral/srf';
import { tinyCard } from './helpers';

async function take(source: SyntheticSource): Promise<FramePair[]> {
  const out: FramePair[] = [];
  for await (const f of source) out.push(f);
  return out;
}

t.test('degrades with the host Wald protocol: PSF blur + decimation, SRF projection; truth attached', async (t) => {
  const card = await tinyCard();
  const [f] = await take(new SyntheticSource({ card, scene: 'generated', size: [32, 32], snrDb: null, maxFrames: 1 }));
  t.ok(f.truth, 'ground truth attached');
  const psf = { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma };
  t.same(Array.from(f.lrhsi.data), Array.from(spatialDegrade(f.truth!, card.scale, psf).data), 'LR-HSI = blur + decimate');
  t.same(Array.from(f.hrmsi.data), Array.from(projectSrf(f.truth!, card.msi.srf).data), 'HR-MSI = SRF projection');
  t.same(f.truth!.wavelengths, card.hsi.wavelengths_nm, "on the card's band grid");
  t.equal(f.hrmsi.bands, card.msi.bands);
});

t.test('noise: seeded, reproducible, at the requested SNR', async (t) => {
  const card = await tinyCard();
  const make = (seed: number) => new SyntheticSource({ card, scene: 'generated', size: [64, 64], snrDb: 20, seed, maxFrames: 2 });
  const [a, b] = [await take(make(5)), await take(make(5))];
  t.same(Array.from(a[1].lrhsi.data), Array.from(b[1].lrhsi.data), 'same seed, same noise');
  const c = await take(make(6));
  t.notSame(Array.from(a[0].lrhsi.data), Array.from(c[0].lrhsi.data), 'other seed, other noise');
  const clean = spatialDegrade(a[0].truth!, card.scale, { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma });
  let p = 0;
  let n = 0;
  clean.data.forEach((v, i) => {
    p += v * v;
    n += (a[0].lrhsi.data[i] - v) ** 2;
  });
  const snr = 10 * Math.log10(p / n);
  t.ok(Math.abs(snr - 20) < 0.5, `measured SNR ${snr.toFixed(2)} dB`);
});

const CLOTH = defaultScene();

t.test('real scene: CAVE cloth, resampled to the card, frames pan across it', { skip: existsSync(CLOTH) ? false : 'no CAVE cloth scene in the data folder' }, async (t) => {
  const card = await tinyCard();
  const frames = await take(new SyntheticSource({ card, scene: CLOTH, size: [64, 64], step: 16, maxFrames: 3 }));
  t.equal(frames.length, 3);
  t.match(String(frames[0].meta.scene), /cave_cloth/);
  t.same(frames.map((f) => (f.meta.window as number[]).slice(0, 2)), [[0, 0], [16, 16], [32, 32]], 'window pans');
  const max = frames[0].truth!.data.reduce((m, v) => Math.max(m, v), 0);
  t.ok(max > 0.2 && max <= 1, `reflectance in 0..1 (max ${max.toFixed(3)})`);
  t.equal(frames[0].lrhsi.height, 16);
});

t.test('rejects: bad options', async (t) => {
  const card = await tinyCard();
  t.throws(() => new SyntheticSource({ card, size: [0, 4] }), RangeError);
  t.throws(() => new SyntheticSource({ card, fps: -1 }), RangeError);
  t.throws(() => new SyntheticSource({ card, snrDb: Number.NaN }), /snrDb/);
  t.throws(() => new SyntheticSource({ card, queueSize: 0 }), /queueSize/);
  const odd = new SyntheticSource({ card, scene: 'generated', size: [30, 30], maxFrames: 1 });
  await t.rejects(take(odd), /multiples of the scale 4/);
});
