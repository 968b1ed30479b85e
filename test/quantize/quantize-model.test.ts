import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import t from 'tap';
import { inferElementTypes } from '../../quantize/dtype-inference';
import { graphProblems } from '../../quantize/graph-check';
import { DataType, readModel, sha256Hex, type ModelProto } from '../../quantize/onnx-proto';
import { quantizeModel } from '../../quantize/quantize-model';
import { floatValues } from '../../quantize/tensor-data';
import { NO_PYTHON_ONNX, NO_REAL_DATA, TINY_MODEL, pythonCheckModel, realCalibrationDir, scratchDir } from './helpers';

function producerOf(model: ModelProto, tensor: string) {
  return (model.graph?.node ?? []).find((n) => (n.output ?? []).includes(tensor));
}

async function readCard(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

t.test('quantizes the tiny student on real scenes', { skip: NO_REAL_DATA }, async (t) => {
  const calib = await realCalibrationDir();
  const out = await scratchDir('spectra-quant-');

  t.test('fp16: within 0.05 dB of fp32, float32 I/O, half weights, sensitive nodes kept', async (t) => {
    const path = join(out, 'tiny.fp16.onnx');
    const r = await quantizeModel(TINY_MODEL, path, { mode: 'fp16', calib, progress: false });
    t.ok(r.fp32 && r.quantized, 'ground truth available');
    t.ok(Math.abs((r.quantized?.psnr ?? 0) - (r.fp32?.psnr ?? 99)) < 0.05, `PSNR delta ${(r.quantized?.psnr ?? 0) - (r.fp32?.psnr ?? 0)} dB`);
    t.ok((r.fidelity?.psnr ?? 0) > 60, `fp16 output tracks fp32 (${r.fidelity?.psnr} dB)`);
    const { model, bytes } = await readModel(path);
    t.same(graphProblems(model), []);
    t.equal(model.graph?.input?.[0].type?.tensorType?.elemType, DataType.FLOAT, 'inputs stay float32');
    t.equal(model.graph?.output?.[0].type?.tensorType?.elemType, DataType.FLOAT, 'output stays float32');
    const convWeights = (model.graph?.node ?? []).filter((n) => n.opType === 'Conv').map((n) => (model.graph?.initializer ?? []).find((i) => i.name === n.input?.[1]));
    t.ok(convWeights.length > 0 && convWeights.every((w) => w?.dataType === DataType.FLOAT16), 'every Conv weight is float16');
    const types = inferElementTypes(model.graph ?? {}, path);
    for (const op of ['Softmax', 'ReduceL2']) {
      const nodes = (model.graph?.node ?? []).filter((n) => n.opType === op);
      t.ok(nodes.length > 0, `model has ${op}`);
      for (const n of nodes) t.equal(types.get(n.input?.[0] ?? ''), DataType.FLOAT, `${op} ${n.name} computes in float32`);
    }
    t.ok((model.graph?.node ?? []).some((n) => n.opType === 'Conv' && types.get(n.output?.[0] ?? '') === DataType.FLOAT16), 'Convs compute in float16');
    // the network's own steps (radiometry, resampling, prior, back-projections) set the output's precision
    const own = (model.graph?.node ?? []).filter((n) => /^\/model\/[^/]+$/.test(n.name ?? '') && (n.output ?? []).some((o) => types.get(o) === DataType.FLOAT || types.get(o) === DataType.FLOAT16));
    t.ok(own.length > 0, `${own.length} float steps of /model itself`);
    t.ok(own.every((n) => (n.output ?? []).every((o) => types.get(o) !== DataType.FLOAT16)), 'the steps of /model itself compute in float32');
    t.ok(r.keptFloat32?.some((k) => k.node === '/model/*'), 'the kept scope is reported once');
    const card = await readCard(join(out, 'tiny.fp16.card.json'));
    t.equal(card.precision, 'fp16');
    t.equal(card.onnx, 'tiny.fp16.onnx');
    t.equal(card.onnx_sha256, sha256Hex(bytes), 'card hash matches the written file');
    t.ok((card.quantization as { quality: { psnr_delta_db: number } }).quality.psnr_delta_db !== null);
    if (!NO_PYTHON_ONNX) t.doesNotThrow(() => pythonCheckModel(path), 'onnx.checker accepts it');
  });

  t.test('quality is measured on a held-out directory when given', async (t) => {
    const held = await realCalibrationDir(48, 1);
    const path = join(out, 'tiny.eval.onnx');
    const r = await quantizeModel(TINY_MODEL, path, { mode: 'fp16', calib, evalDir: held, progress: false });
    t.same(r.evaluatedOn, { data: held, samples: 2 });
    const card = await readCard(join(out, 'tiny.eval.card.json'));
    t.match(card.quantization, { quality: { measured_on: 'held-out samples', data: held, samples: 2 } });
  });

  t.test('fp16 with float16 I/O loads and takes half inputs', async (t) => {
    const path = join(out, 'tiny.fp16io.onnx');
    await quantizeModel(TINY_MODEL, path, { mode: 'fp16', fp16Io: true, progress: false });
    const { model } = await readModel(path);
    t.equal(model.graph?.input?.[0].type?.tensorType?.elemType, DataType.FLOAT16);
    t.equal(model.graph?.output?.[0].type?.tensorType?.elemType, DataType.FLOAT16);
    const session = await ort.InferenceSession.create(path);
    t.same([...session.inputNames].sort(), ['hrmsi', 'lrhsi']);
    await session.release();
  });

  t.test('int8 percentile: within 0.3 dB and 0.1 deg, TensorRT QDQ layout', async (t) => {
    const path = join(out, 'tiny.int8.onnx');
    const r = await quantizeModel(TINY_MODEL, path, { mode: 'int8', calib, progress: false });
    const dPsnr = (r.quantized?.psnr ?? -99) - (r.fp32?.psnr ?? 0);
    const dSam = (r.quantized?.sam ?? 99) - (r.fp32?.sam ?? 0);
    t.ok(Math.abs(dPsnr) < 0.3, `PSNR delta ${dPsnr} dB`);
    t.ok(Math.abs(dSam) < 0.1, `SAM delta ${dSam} deg`);
    const { model, bytes } = await readModel(path);
    t.same(graphProblems(model), []);
    const inits = new Map((model.graph?.initializer ?? []).map((i) => [i.name, i]));
    const convs = (model.graph?.node ?? []).filter((n) => n.opType === 'Conv');
    // Interpolation stencils (the exporter's upsampling: a Conv whose weight is a Constant) stay float, as Resize
    // did; every learnt Conv is int8.
    const isStencil = (n: (typeof convs)[number]): boolean => producerOf(model, n.input?.[1] ?? '')?.opType === 'Constant';
    const stencils = convs.filter(isStencil);
    t.ok(stencils.length > 0, 'the graph has interpolation stencils');
    for (const conv of stencils) t.not(producerOf(model, conv.input?.[0] ?? '')?.opType, 'DequantizeLinear', `${conv.name} stays float`);
    const learnt = convs.filter((n) => !isStencil(n));
    t.ok(learnt.length > 10);
    for (const conv of learnt) {
      const wdq = producerOf(model, conv.input?.[1] ?? '');
      t.equal(wdq?.opType, 'DequantizeLinear', `${conv.name} weight through DQ`);
      const w = inits.get(wdq?.input?.[0]);
      const scale = inits.get(wdq?.input?.[1]);
      const zp = inits.get(wdq?.input?.[2]);
      t.equal(w?.dataType, DataType.INT8);
      t.equal(Number(scale?.dims?.[0]), Number(w?.dims?.[0]), 'one scale per output channel');
      const q = new Int8Array((w?.rawData as Uint8Array).buffer, (w?.rawData as Uint8Array).byteOffset, (w?.rawData as Uint8Array).byteLength);
      t.ok(q.every((v) => v >= -127 && v <= 127), 'weights in [-127, 127]');
      t.ok(q.some((v) => Math.abs(v) === 127), 'some weight reaches the full range');
      t.ok(new Int8Array((zp?.rawData as Uint8Array).buffer, (zp?.rawData as Uint8Array).byteOffset, zp?.rawData?.byteLength).every((v) => v === 0), 'zero points 0');
      const xdq = producerOf(model, conv.input?.[0] ?? '');
      t.equal(xdq?.opType, 'DequantizeLinear', `${conv.name} activation through DQ`);
      const xq = producerOf(model, xdq?.input?.[0] ?? '');
      t.equal(xq?.opType, 'QuantizeLinear');
      t.equal(inits.get(xq?.input?.[2])?.dataType, DataType.INT8, 'activation zero point is int8');
      t.ok(floatValues(inits.get(xq?.input?.[1]) ?? {})[0] > 0, 'positive activation scale');
      if (conv.input?.[2]) t.equal(inits.get(conv.input[2])?.dataType, DataType.FLOAT, 'bias is a float initializer (TensorRT layout)');
    }
    for (const n of (model.graph?.node ?? []).filter((x) => ['Softmax', 'Sigmoid', 'Resize'].includes(x.opType))) {
      t.not(producerOf(model, n.input?.[0] ?? '')?.opType, 'DequantizeLinear', `${n.opType} ${n.name} stays float`);
    }
    const card = await readCard(join(out, 'tiny.int8.card.json'));
    t.equal(card.precision, 'int8');
    t.equal(card.onnx_sha256, sha256Hex(bytes));
    t.match(card.quantization, { format: 'QDQ', method: 'percentile', percentile: 99.99, calibration: { samples: 8 } });
    if (!NO_PYTHON_ONNX) t.doesNotThrow(() => pythonCheckModel(path), 'onnx.checker accepts it');
  });

  t.test('int8 --keep-float 2 leaves the two most sensitive layers in float', async (t) => {
    const path = join(out, 'tiny.keep.onnx');
    const r = await quantizeModel(TINY_MODEL, path, { mode: 'int8', calib, keepFloat: 2, sensitivitySamples: 2, method: 'minmax', progress: false });
    t.equal(r.layers?.keptFloat.length, 2);
    const ranking = r.sensitivity ?? [];
    t.ok(ranking.length > 50, 'every layer outside the kept scope ranked');
    t.ok(ranking.every((row) => !(r.layers?.keptScope ?? []).includes(row.layer)), 'the kept scope is not ranked');
    for (let i = 1; i < ranking.length; i++) t.ok(ranking[i - 1].fidelityPsnr <= ranking[i].fidelityPsnr, 'sorted, most sensitive first');
    t.same(r.layers?.keptFloat, ranking.slice(0, 2).map((s) => s.layer));
    const { model } = await readModel(path);
    for (const label of r.layers?.keptFloat ?? []) {
      const node = (model.graph?.node ?? []).find((n) => n.name === label);
      t.ok(node, `${label} still there`);
      for (const inp of node?.input ?? []) t.not(producerOf(model, inp)?.opType, 'DequantizeLinear', `${label} reads float`);
    }
  });

  t.test('int8 cpu profile fuses in onnxruntime and matches the reference', async (t) => {
    const path = join(out, 'tiny.cpu.onnx');
    const r = await quantizeModel(TINY_MODEL, path, { mode: 'int8', calib, profile: 'cpu', method: 'entropy', progress: false });
    t.ok((r.fidelity?.psnr ?? 0) > 20, `entropy calibration output tracks fp32 (${r.fidelity?.psnr} dB)`);
    const { model } = await readModel(path);
    const biasDq = (model.graph?.node ?? []).filter((n) => n.opType === 'DequantizeLinear' && (model.graph?.initializer ?? []).find((i) => i.name === n.input?.[0])?.dataType === DataType.INT32);
    t.ok(biasDq.length > 0, 'int32 biases');
    const scales = biasDq.map((n) => floatValues((model.graph?.initializer ?? []).find((i) => i.name === n.input?.[1]) ?? {}));
    t.ok(scales.every((s) => s.every((v) => v > 0)));
    // The point of the layout: onnxruntime's CPU provider turns (nearly) every Conv into QLinearConv.
    const optimized = join(out, 'tiny.cpu.optimized.onnx');
    const session = await ort.InferenceSession.create(path, { optimizedModelFilePath: optimized, logSeverityLevel: 3 });
    await session.release();
    const ops = ((await readModel(optimized)).model.graph?.node ?? []).map((n) => n.opType);
    const qconv = ops.filter((o) => o === 'QLinearConv').length;
    const convs = (model.graph?.node ?? []).filter((n) => n.opType === 'Conv').length;
    t.ok(qconv >= 0.8 * convs, `${qconv} of ${convs} Convs run as QLinearConv`);
    if (!NO_PYTHON_ONNX) t.doesNotThrow(() => pythonCheckModel(path), 'onnx.checker accepts it');
  });
});
