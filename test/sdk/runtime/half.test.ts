import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { fromHalfBits, toHalfBits } from '../../../sdk/runtime/half';
import { ROOT, randomCube, tempDir } from '../helpers';

t.test('half: float32 -> float16 bits round to nearest even and come back', async (t) => {
  const values = Float32Array.from([0, -0, 1, -2.5, 0.1, 65504, 70000, 1e-8, 6.1e-5, 3.0e-7, Infinity, -Infinity]);
  const bits = toHalfBits(values);
  t.same(Array.from(bits.subarray(0, 6)), [0x0000, 0x8000, 0x3c00, 0xc100, 0x2e66, 0x7bff]);
  t.equal(bits[6], 0x7c00, 'beyond the half range -> Inf');
  t.equal(bits[7], 0, 'below the smallest subnormal -> 0');
  const back = fromHalfBits(bits);
  t.ok(Math.abs(back[8] - 6.1e-5) < 1e-7 && Math.abs(back[9] - 3.0e-7) < 6e-8, 'subnormals survive');
  t.same([back[10], back[11]], [Infinity, -Infinity]);
  t.ok(Number.isNaN(fromHalfBits(toHalfBits(Float32Array.of(NaN)))[0]));
  const r = randomCube(1, 10, 10, [1], 3, 0, 1).data;
  const rt = fromHalfBits(toHalfBits(r));
  t.ok(r.every((v, i) => Math.abs(v - rt[i]) <= 2 ** -11), 'relative error within half an ulp of float16');
});

t.test('fuses: a model with float16 graph inputs and outputs', async (t) => {
  // A stand-in for `spectra quantize --mode fp16 --fp16-io`: hrhsi = nearest-upsampled lrhsi, all float16.
  const dir = tempDir();
  const onnx = join(dir, 'half.onnx');
  const script = `
import onnx, sys
from onnx import helper, TensorProto as T
scales = helper.make_tensor('scales', T.FLOAT, [4], [1, 1, 4, 4])
node = helper.make_node('Resize', ['lrhsi', '', 'scales'], ['up'], mode='nearest')
add = helper.make_node('Add', ['up', 'zero'], ['hrhsi'])
zero = helper.make_node('ReduceMean', ['hrmsi'], ['m'], keepdims=1, axes=[1, 2, 3])
mul = helper.make_node('Mul', ['m', 'z'], ['zero'])
zc = helper.make_tensor('z', T.FLOAT16, [1], [0.0])
g = helper.make_graph([node, zero, mul, add], 'half',
  [helper.make_tensor_value_info('lrhsi', T.FLOAT16, ['N', 2, 'h', 'w']), helper.make_tensor_value_info('hrmsi', T.FLOAT16, ['N', 3, 'H', 'W'])],
  [helper.make_tensor_value_info('hrhsi', T.FLOAT16, ['N', 2, 'H', 'W'])], [scales, zc])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
`;
  const r = spawnSync(join(ROOT, '.venv', 'bin', 'python'), ['-c', script, onnx], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const sha = createHash('sha256').update(readFileSync(onnx)).digest('hex');
  const io = { shape: ['N', 2, 'h', 'w'], dtype: 'float16' };
  writeFileSync(
    join(dir, 'half.card.json'),
    JSON.stringify({
      schema: 'spectra-edge/model-card@1', name: 'half', onnx: 'half.onnx', onnx_sha256: sha, precision: 'fp16', scale: 4,
      hsi: { bands: 2, wavelengths_nm: [500, 600] }, msi: { bands: 3, srf: [[1, 0], [0.5, 0.5], [0, 1]] },
      psf: { type: 'gaussian', sigma: 2, kernel_size: 8 },
      io: { inputs: { lrhsi: io, hrmsi: { ...io, shape: ['N', 3, 'H', 'W'] } }, outputs: { hrhsi: io } },
    }),
  );
  const model = await FusionModel.load(onnx, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = randomCube(2, 4, 4, [500, 600], 5);
  // the graph's own output: 'auto' denoise could project this random capture
  const fused = await model.fuse(lr, randomCube(3, 16, 16, [460, 550, 640], 6), { denoise: 'none' });
  t.type(fused.data, Float32Array);
  // pixel (y=5, x=9) of band 1 comes from LR pixel (1, 2)
  t.ok(Math.abs(fused.data[16 * 16 + 5 * 16 + 9] - lr.data[16 + 1 * 4 + 2]) <= 2 ** -11);
});
