import { readFile } from 'node:fs/promises';
import t from 'tap';
import { AbsHistogram } from '../../quantize/activation-stats';
import { graphProblems } from '../../quantize/graph-check';
import { topologicalOrder } from '../../quantize/graph-index';
import { decodeModel, encodeModel, type ModelProto } from '../../quantize/onnx-proto';
import { compareCubes } from '../../quantize/quality';
import { floatToHalf, halfToFloat } from '../../quantize/tensor-data';
import { TINY_MODEL } from './helpers';

t.test('onnx: decode + encode reproduces the exported bytes exactly', async (t) => {
  const bytes = await readFile(TINY_MODEL);
  const model = decodeModel(bytes, TINY_MODEL);
  t.ok((model.graph?.node?.length ?? 0) > 100);
  t.ok(Buffer.from(encodeModel(model)).equals(bytes));
});

t.test('float16: rounds to nearest even and saturates', async (t) => {
  t.equal(halfToFloat(floatToHalf(1)), 1);
  t.equal(halfToFloat(floatToHalf(0.1)), 0.0999755859375);
  t.equal(halfToFloat(floatToHalf(-2.5)), -2.5);
  t.equal(halfToFloat(floatToHalf(1 + 2 ** -11)), 1, 'tie rounds to even');
  t.equal(halfToFloat(floatToHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9, 'tie rounds to even (up)');
  t.equal(halfToFloat(floatToHalf(1e6)), 65504, 'saturates');
  t.equal(halfToFloat(floatToHalf(2 ** -24)), 2 ** -24, 'smallest subnormal');
  t.equal(halfToFloat(floatToHalf(1e-12)), 0, 'underflows to zero');
  t.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
});

t.test('histogram: minmax, percentile and entropy thresholds', async (t) => {
  const h = new AbsHistogram();
  // A Gaussian body plus a few far outliers, added in batches whose range grows (bins must merge).
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let batch = 0; batch < 4; batch++) {
    const v = new Float32Array(50000);
    for (let i = 0; i < v.length; i++) v[i] = Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand()) * (batch + 1) * 0.5;
    if (batch === 3) v[0] = 40;
    h.add(v);
  }
  t.equal(h.total, 200000);
  t.equal(h.threshold('minmax'), 40);
  const p999 = h.threshold('percentile', 99.9);
  t.ok(p999 > 4 && p999 < 8, `99.9th percentile of |x| ${p999}`);
  t.ok(h.threshold('percentile', 99.99) >= p999, 'monotonic in p');
  const ent = h.threshold('entropy');
  t.ok(ent > 2 && ent < 20, `entropy threshold ${ent} clips the outlier`);
  const gap = new AbsHistogram();
  const shifted = new Float32Array(20000);
  for (let i = 0; i < shifted.length; i++) shifted[i] = -(0.2 + (0.8 * i) / shifted.length);
  gap.add(shifted);
  t.ok(gap.threshold('entropy') >= gap.threshold('percentile', 99), 'entropy does not collapse onto the edge of a support away from zero');
  const zero = new AbsHistogram();
  zero.add(new Float32Array(10));
  t.equal(zero.threshold('percentile'), 0, 'all-zero tensor gets no range');
  t.throws(() => h.add(Float32Array.of(NaN)), RangeError);
});

t.test('graph checks: order, undefined inputs, dangling nodes', async (t) => {
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1 } } });
  const good: ModelProto = {
    graph: {
      input: [vi('x')],
      output: [vi('z')],
      node: [
        { opType: 'Relu', name: 'a', input: ['x'], output: ['y'] },
        { opType: 'Relu', name: 'b', input: ['y'], output: ['z'] },
      ],
    },
  };
  t.same(graphProblems(good), []);
  const swapped: ModelProto = { graph: { ...good.graph, node: [...(good.graph?.node ?? [])].reverse() } };
  t.match(graphProblems(swapped).join('\n'), /node b reads 'y' before it is defined/);
  t.same(topologicalOrder(swapped.graph ?? {})?.map((n) => n.name), ['a', 'b'], 'sorting repairs the order');
  const dangling: ModelProto = { graph: { ...good.graph, node: [...(good.graph?.node ?? []), { opType: 'Relu', name: 'c', input: ['x'], output: ['w'] }] } };
  t.match(graphProblems(dangling).join('\n'), /node c is dangling/);
  const missing: ModelProto = { graph: { ...good.graph, output: [vi('nowhere')] } };
  t.match(graphProblems(missing).join('\n'), /graph output 'nowhere' is never produced/);
});

t.test('quality: PSNR per-band peak and SAM in degrees', async (t) => {
  const ref = Float32Array.of(1, 0, 0, 1);
  t.same(compareCubes(ref, ref, 2), { psnr: 100, sam: 0 });
  const q = compareCubes(Float32Array.of(0.9, 0, 0, 1), ref, 2);
  t.ok(Math.abs(q.psnr - (20 * Math.log10(1 / Math.sqrt(0.01 / 2)) + 100) / 2) < 1e-4);
  t.equal(compareCubes(Float32Array.of(0, 1, 1, 0), Float32Array.of(1, 0, 0, 1), 2).sam, 90);
});
