// Makes an LR-HSI / HR-MSI input pair (and the HR-HSI truth) from a real hyperspectral scene with the model
// card's own PSF and SRF (the Wald protocol the student was trained with), using only the SDK.
//
//   npx ts-node examples/make-pair.ts --model models/student.onnx \
//     --scene ../shared/data/cave_kbr/cave_balloons_crop_100x100x31_uint16.npy --value-scale 65535 --out work/pair
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cropCube, projectSrf, readModelCard, readNpy, spatialDegrade, writeNpy } from '../sdk';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      scene: { type: 'string' },
      'value-scale': { type: 'string', default: '1' },
      out: { type: 'string' },
    },
  });
  if (!values.model || !values.scene || !values.out) {
    throw new TypeError('usage: make-pair.ts --model M.onnx --scene S.npy (H, W, bands) [--value-scale N] --out DIR');
  }
  const card = await readModelCard(values.model.replace(/\.onnx$/, '') + '.card.json');
  const raw = await readNpy(values.scene, { layout: 'hwc', wavelengths: card.hsi.wavelengths_nm });
  if (raw.bands !== card.hsi.bands) throw new RangeError(`${values.scene} has ${raw.bands} bands; the model takes ${card.hsi.bands}`);
  const scale = Number(values['value-scale']);
  // The HR size must be a multiple of the model's spatial multiple; crop the largest such window.
  const m = card.spatial_multiple ?? card.scale;
  const [h, w] = [raw.height - (raw.height % m), raw.width - (raw.width % m)];
  const cropped = cropCube(raw, 0, 0, h, w);
  const truth = { ...cropped, data: cropped.data.map((v) => v / scale) };
  const lrhsi = spatialDegrade(truth, card.scale, { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma });
  const hrmsi = projectSrf(truth, card.msi.srf);
  await mkdir(values.out, { recursive: true });
  await writeNpy(join(values.out, 'scene.lrhsi.npy'), lrhsi);
  await writeNpy(join(values.out, 'scene.hrmsi.npy'), hrmsi);
  await writeNpy(join(values.out, 'scene.hrhsi.npy'), truth);
  process.stdout.write(
    `make-pair: ${values.out}/scene.{lrhsi,hrmsi,hrhsi}.npy: LR ${lrhsi.bands}x${lrhsi.height}x${lrhsi.width}, ` +
      `MSI ${hrmsi.bands}x${hrmsi.height}x${hrmsi.width}\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`make-pair: ${err.message}\n`);
  process.exitCode = 1;
});
