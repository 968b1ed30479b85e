import t from 'tap';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { readNpy } from '../../../sdk/cube/npy';
import { cardPsf, spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';
import { formatSrfFit } from '../../../cli/commands/fuse';
import { ROOT } from '../helpers';

const STEM = 'student-cave31-rgb-x4';
const REF = join(ROOT, 'test', 'fixtures', 'sdk-parity', STEM);

t.test('the shipped student reports the MSI response it fitted: the card\'s for the card\'s camera, redder for a redder one', async (t) => {
  const model = await FusionModel.load(join(ROOT, 'models', `${STEM}.onnx`), { providers: ['cpu'] });
  t.teardown(() => model.release());
  const { card } = model;
  // a plausible HR scene: the committed fused crop of the real CAVE cloth scene
  const scene = await readNpy(join(REF, 'hrhsi.npy'), { wavelengths: card.hsi.wavelengths_nm });
  const lr = spatialDegrade(scene, card.scale, cardPsf(card.psf));
  const asCard = await model.fuse(lr, projectSrf(scene, card.msi.srf), { quality: false });
  t.ok(asCard.srfFit, 'a model with msi.per_frame reports its fit');
  for (const b of asCard.srfFit!.bands) {
    t.ok(Math.abs(b.centroidNm - b.cardCentroidNm) < 1 && b.change < 0.05, `card camera, ${b.name}: ${(b.centroidNm - b.cardCentroidNm).toFixed(2)} nm, shape ${b.change.toFixed(3)} off`);
  }
  // the card's responses one band (10 nm) redder
  const redder = card.msi.srf.map((row) => row.map((_, i) => (i === 0 ? 0 : row[i - 1])));
  const shifted = await model.fuse(lr, projectSrf(scene, redder), { quality: false });
  for (const b of shifted.srfFit!.bands) {
    const shift = b.centroidNm - b.cardCentroidNm;
    t.ok(shift > 3 && shift < 15 && b.change > 0.1, `redder camera, ${b.name}: +${shift.toFixed(2)} nm, shape ${b.change.toFixed(3)} off`);
  }
  t.match(formatSrfFit(shifted.srfFit!), /^srf fit: the MSI response this frame shows, used by the fusion: \w+ [\d.]+ nm \(card [\d.]+, \+[\d.]+; shape \d+ % off\)/);
});
