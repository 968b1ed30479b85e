import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { readModelCard } from '../../sdk/core/model-card';
import { loadCalibrationSet } from '../../quantize/calibration-set';
import { SplitOverlapError, SplitPairsError } from '../../quantize/errors';
import { quantizeModel } from '../../quantize/quantize-model';
import { hostPython } from '../../cli/paths';
import { assertDisjointSamples, writeSplitPairs } from '../../quantize/split-pairs';
import { NO_PYTHON_ONNX, NO_REAL_DATA, REPO, scratchDir } from './helpers';

const RS_MODEL = join(REPO, 'models', 'student-rs206-s2x4-x4.onnx');
const skip = NO_REAL_DATA || NO_PYTHON_ONNX || (!existsSync(RS_MODEL) && `no ${RS_MODEL}`);

function inside(w: readonly number[], r: readonly number[]): boolean {
  return w[0] >= r[0] && w[1] >= r[1] && w[0] + w[2] <= r[0] + r[2] && w[1] + w[3] <= r[1] + r[3];
}

t.test('split pairs of the 206-band student: training tiles to calibrate, validation regions to score', { skip }, async (t) => {
  const card = await readModelCard(RS_MODEL.replace(/\.onnx$/, '.card.json'));
  const dir = await scratchDir('spectra-split-');
  const train = await writeSplitPairs(RS_MODEL, 'train', join(dir, 'train'), { tile: 32, tilesPerRegion: 2, python: hostPython() });
  const val = await writeSplitPairs(RS_MODEL, 'val', join(dir, 'val'), { python: hostPython() });
  const training = card.training as { split: string };
  const validated = Object.keys((card.validation as { per_dataset: Record<string, unknown> }).per_dataset);
  t.equal(train.split, training.split, "the card's training split by default");
  t.same([...new Set(val.samples.map((s) => s.dataset))].sort(), [...validated].sort(), 'a validation region for every dataset training validated on');

  t.test('every sample stays in its split region, and the two roles share no pixel', async (t) => {
    for (const s of [...train.samples, ...val.samples]) t.ok(inside(s.window, s.region), `${s.stem} inside its ${s.role} region`);
    t.ok(train.samples.every((s) => s.role === 'train' && s.window[2] === 32 && s.window[3] === 32), 'train: 32 px tiles');
    const calib = await loadCalibrationSet(join(dir, 'train'), card);
    const held = await loadCalibrationSet(join(dir, 'val'), card);
    t.doesNotThrow(() => assertDisjointSamples(calib, held, 'val'));
    t.throws(() => assertDisjointSamples(held, held, 'val'), SplitOverlapError, 'a set against itself overlaps');
    t.throws(() => assertDisjointSamples(held, held, 'val'), { code: 'E_SPLIT_OVERLAP', message: /window \[.*\] of scene '\w+' overlap/ });
  });

  t.test('bands the model never learnt, and bands a scene lacks, are not scored', async (t) => {
    // the shipped student learnt every band; a card that masks the two deepest water-vapour bands (as the
    // previous one did) must keep them out of every sample's score
    const masking = join(dir, 'masking');
    await mkdir(masking);
    const maskedCard = { ...card, hsi: { ...card.hsi, band_valid: card.hsi.wavelengths_nm.map((w) => w !== 1390 && w !== 1400) } };
    await writeFile(join(masking, 'student.card.json'), JSON.stringify(maskedCard));
    const masked = maskedCard.hsi.band_valid.flatMap((v, i) => (v ? [] : [i]));
    t.equal(masked.length, 2, 'the edited card masks 1390 and 1400 nm');
    const mtrain = await writeSplitPairs(join(masking, 'student.onnx'), 'train', join(masking, 'train'), { tile: 32, tilesPerRegion: 1, python: hostPython() });
    const mval = await writeSplitPairs(join(masking, 'student.onnx'), 'val', join(masking, 'val'), { python: hostPython() });
    for (const s of [...mtrain.samples, ...mval.samples]) {
      t.ok(masked.every((b) => !s.band_mask[b]), `${s.stem}: card-masked bands off`);
      t.equal(s.scored_bands, s.band_mask.filter(Boolean).length);
    }
    const salinas = mval.samples.find((s) => s.scene === 'salinas_a');
    t.ok(salinas && salinas.scored_bands < card.hsi.bands - masked.length, 'Salinas-A (water bands removed) scores fewer bands');
    const held = await loadCalibrationSet(join(dir, 'val'), card);
    const enmap = held.find((s) => s.region?.scene === 'enmap_potsdam');
    t.ok(enmap?.valid && enmap.valid.includes(false) && enmap.valid.includes(true), 'EnMAP nodata pixels carry a mask');
    t.same(held[0].bandMask, held[0].region?.band_mask, 'samples carry their band mask');
  });

  t.test('quantizeModel refuses to measure quality on its calibration pixels', async (t) => {
    const out = join(dir, 'never.onnx');
    await t.rejects(quantizeModel(RS_MODEL, out, { mode: 'fp16', calib: join(dir, 'val'), evalDir: join(dir, 'val'), progress: false }), { code: 'E_SPLIT_OVERLAP' });
    t.equal(existsSync(out), false, 'nothing written');
  });
});

t.test('rejects: a card without training datasets, naming the card', { skip }, async (t) => {
  const dir = await scratchDir('spectra-split-bad-');
  const model = join(dir, 'm.onnx');
  await copyFile(RS_MODEL, model);
  const card = JSON.parse(await readFile(RS_MODEL.replace(/\.onnx$/, '.card.json'), 'utf8')) as Record<string, unknown>;
  delete card.training;
  await writeFile(join(dir, 'm.card.json'), JSON.stringify(card));
  const err = await writeSplitPairs(model, 'train', join(dir, 'pairs'), { python: hostPython() }).catch((e: unknown) => e);
  t.type(err, SplitPairsError);
  t.match(err, { code: 'E_SPLIT_PAIRS', message: /m\.card\.json.*training/ });
});
