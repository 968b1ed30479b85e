/**
 * int8 QDQ rewriting in the form TensorRT consumes: symmetric int8 with zero point 0, weights per output channel in
 * [-127, 127] stored as int8 initializers behind DequantizeLinear, activations per tensor in [-128, 127] through a
 * QuantizeLinear/DequantizeLinear pair.
 *
 * Placement (explicit quantization): Q/DQ on the inputs of Conv, MatMul, residual Add (both inputs computed) and
 * Concat (all inputs computed), so TensorRT can run those layers in int8 and fuse the pointwise ops around them.
 * Softmax, Sigmoid gating, Resize, normalisations and divisions get no Q/DQ and stay float: their inputs are
 * either bounded ranges with outsized sensitivity (attention logits, gates) or resampling that TensorRT runs in
 * float anyway, and the Conv that consumes their output is quantized at its input. The `cpu` profile additionally
 * quantizes the outputs of quantized layers and Conv biases (int32), which onnxruntime's CPU provider needs to fuse
 * DQ -> Conv -> Q into QLinearConv.
 */
import { GraphIndex, NameAllocator, nodeLabel, topologicalOrder } from './graph-index';
import { AttributeType, DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './onnx-proto';
import { floatTensor, floatValues, int32Tensor, int8Tensor } from './tensor-data';

/** Who the QDQ graph is laid out for. */
export type QdqProfile = 'tensorrt' | 'cpu';

/** One layer that can be quantized: the node, its activation inputs and its weight (if any). */
export interface QuantLayer {
  /** Stable label (node name, or `OpType#index`). */
  label: string;
  opType: string;
  /** Float activation tensors read by the layer that get Q/DQ. */
  activations: string[];
  /** Weight initializer read at input 1 (Conv) or a MatMul input, quantized per channel. */
  weight?: { tensor: string; slot: number; axis: number };
  /** Float bias initializer (Conv input 2). */
  bias?: string;
  /** The layer's output, quantized in the `cpu` profile. */
  output: string;
}

/**
 * Lists the layers of a float32 graph that the placement rules quantize.
 * @param graph - The float32 graph.
 * @param types - Element types from {@link inferElementTypes}.
 * @returns Layers in graph order.
 */
export function planLayers(graph: GraphProto, types: Map<string, number>): QuantLayer[] {
  const index = new GraphIndex(graph);
  const isActivation = (t: string): boolean => !!t && !index.initializers.has(t) && types.get(t) === DataType.FLOAT;
  const isFloatInit = (t: string): boolean => index.initializers.get(t)?.dataType === DataType.FLOAT;
  const layers: QuantLayer[] = [];
  (graph.node ?? []).forEach((node, k) => {
    const inputs = node.input ?? [];
    const label = nodeLabel(node, k);
    const output = node.output?.[0] ?? '';
    if (node.domain && node.domain !== 'ai.onnx') return;
    switch (node.opType) {
      case 'Conv':
        if (isActivation(inputs[0]) && isFloatInit(inputs[1])) {
          layers.push({ label, opType: 'Conv', activations: [inputs[0]], weight: { tensor: inputs[1], slot: 1, axis: 0 }, ...(isFloatInit(inputs[2]) ? { bias: inputs[2] } : {}), output });
        }
        break;
      case 'MatMul': {
        const acts = inputs.filter(isActivation);
        const init = inputs.findIndex((t) => isFloatInit(t));
        const dims = init >= 0 ? (index.initializers.get(inputs[init])?.dims ?? []) : [];
        if (acts.length === 2) layers.push({ label, opType: 'MatMul', activations: acts, output });
        else if (acts.length === 1 && init === 1 && dims.length === 2) {
          layers.push({ label, opType: 'MatMul', activations: acts, weight: { tensor: inputs[1], slot: 1, axis: 1 }, output });
        }
        break;
      }
      case 'Add':
      case 'Concat':
        if (inputs.length >= 2 && inputs.every(isActivation)) layers.push({ label, opType: node.opType, activations: [...new Set(inputs)], output });
        break;
      default:
        break;
    }
  });
  return layers;
}

/** Tensors whose ranges calibration must measure for a set of layers and a profile. */
export function tensorsToCalibrate(layers: readonly QuantLayer[], profile: QdqProfile): string[] {
  const set = new Set<string>();
  for (const l of layers) {
    for (const a of l.activations) set.add(a);
    if (profile === 'cpu' && l.output) set.add(l.output);
  }
  return [...set];
}

/** Options of {@link applyQdq}. */
export interface ApplyQdqOptions {
  profile: QdqProfile;
  /** Clipping threshold per activation tensor; a tensor without one (or with 0) is left in float. */
  thresholds: ReadonlyMap<string, number>;
}

/**
 * Rewrites a float32 model with Q/DQ around the given layers.
 * @param source - The float32 model (not modified).
 * @param layers - Layers to quantize (a subset of {@link planLayers}).
 * @param options - See {@link ApplyQdqOptions}.
 * @returns The QDQ model, topologically sorted.
 */
export function applyQdq(source: ModelProto, layers: readonly QuantLayer[], options: ApplyQdqOptions): ModelProto {
  const model = structuredClone(source);
  const graph = model.graph as GraphProto;
  const names = new NameAllocator(graph);
  const index = new GraphIndex(graph);
  const inits = graph.initializer ?? [];
  const added: NodeProto[] = [];
  const zeroPoint = names.fresh('qdq_zero_point_int8');
  inits.push(int8Tensor(zeroPoint, [], new Int8Array(1)));
  const scaleOf = (t: string): number => (options.thresholds.get(t) ?? 0) / 127;

  // One Q/DQ pair per activation tensor, shared by every quantized reader.
  const dequantized = new Map<string, string>();
  const qdqFor = (tensor: string): string | undefined => {
    const scale = scaleOf(tensor);
    if (!(scale > 0) || !Number.isFinite(scale)) return undefined;
    const cached = dequantized.get(tensor);
    if (cached) return cached;
    const scaleName = names.fresh(`${tensor}_scale`);
    inits.push(floatTensor(scaleName, [], [scale]));
    const q = names.fresh(`${tensor}_quantized`);
    const dq = names.fresh(`${tensor}_dequantized`);
    added.push({ opType: 'QuantizeLinear', name: names.fresh(`${tensor}_QuantizeLinear`), input: [tensor, scaleName, zeroPoint], output: [q] });
    added.push({ opType: 'DequantizeLinear', name: names.fresh(`${tensor}_DequantizeLinear`), input: [q, scaleName, zeroPoint], output: [dq] });
    dequantized.set(tensor, dq);
    return dq;
  };

  const weights = new Map<string, { dq: string; scales: Float32Array }>();
  const byLabel = new Map((graph.node ?? []).map((n, k) => [nodeLabel(n, k), n]));
  const replaced = new Map<NodeProto, Map<number, string>>();
  const replace = (node: NodeProto, slot: number, name: string): void => {
    const m = replaced.get(node) ?? new Map<number, string>();
    m.set(slot, name);
    replaced.set(node, m);
  };
  for (const layer of layers) {
    const node = byLabel.get(layer.label);
    if (!node) continue;
    const inputs = node.input ?? [];
    for (const act of layer.activations) {
      const dq = qdqFor(act);
      if (dq) inputs.forEach((t, slot) => t === act && replace(node, slot, dq));
    }
    if (layer.weight) {
      const key = `${layer.weight.tensor}\u0000${layer.weight.axis}`;
      const { dq, scales } = weights.get(key) ?? quantizeWeight(index.initializers.get(layer.weight.tensor) as TensorProto, layer.weight.axis, names, inits, added);
      // Shared weights (one parameter read by several layers) are stored once.
      weights.set(key, { dq, scales });
      replace(node, layer.weight.slot, dq);
      const xScale = scaleOf(layer.activations[0]);
      if (options.profile === 'cpu' && layer.bias && xScale > 0) {
        replace(node, 2, quantizeBias(index.initializers.get(layer.bias) as TensorProto, scales, xScale, names, inits, added));
      }
    }
  }
  for (const [node, slots] of replaced) node.input = (node.input ?? []).map((t, slot) => slots.get(slot) ?? t);

  if (options.profile === 'cpu') {
    // Outputs are quantized for onnxruntime's CPU fusions; readers of the float output read the DQ instead.
    for (const layer of layers) {
      if (!byLabel.has(layer.label) || dequantized.has(layer.output) || index.graphOutputs.has(layer.output)) continue;
      const dq = qdqFor(layer.output);
      if (!dq) continue;
      for (const reader of index.consumersOf(layer.output)) {
        reader.input = (reader.input ?? []).map((t) => (t === layer.output ? dq : t));
      }
    }
  }
  graph.node = [...(graph.node ?? []), ...added];
  // Float weights replaced by their int8 form would otherwise stay in the file unused.
  const read = new Set(graph.node.flatMap((n) => n.input ?? []));
  graph.initializer = inits.filter((t) => read.has(t.name ?? ''));
  graph.input = (graph.input ?? []).filter((v) => !index.initializers.has(v.name) || read.has(v.name));
  graph.node = topologicalOrder(graph) ?? graph.node;
  graph.valueInfo = [];
  return model;
}

/** Symmetric per-channel int8 weight: scale = max|w| / 127 per slice along `axis`, values in [-127, 127]. */
function quantizeWeight(w: TensorProto, axis: number, names: NameAllocator, inits: TensorProto[], added: NodeProto[]): { dq: string; scales: Float32Array } {
  const dims = (w.dims ?? []).map(Number);
  const values = floatValues(w);
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number): number => Math.floor(i / inner) % channels;
  const absMax = new Float32Array(channels);
  for (let i = 0; i < values.length; i++) absMax[channelOf(i)] = Math.max(absMax[channelOf(i)], Math.abs(values[i]));
  // An all-zero channel still needs a positive scale (DequantizeLinear divides by nothing, but TensorRT rejects 0).
  const scales = absMax.map((m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i] / scales[channelOf(i)])));
  const base = w.name ?? 'weight';
  const qName = names.fresh(`${base}_int8`);
  const scaleName = names.fresh(`${base}_scale`);
  const zpName = names.fresh(`${base}_zero_point`);
  inits.push(int8Tensor(qName, dims, q), floatTensor(scaleName, [channels], scales), int8Tensor(zpName, [channels], new Int8Array(channels)));
  const dq = names.fresh(`${base}_dequantized`);
  added.push({ opType: 'DequantizeLinear', name: names.fresh(`${base}_DequantizeLinear`), input: [qName, scaleName, zpName], output: [dq], attribute: [{ name: 'axis', type: AttributeType.INT, i: axis }] });
  return { dq, scales };
}

/** Bias as int32 with scale x_scale * w_scale[c], the form onnxruntime's QLinearConv fusion requires. */
function quantizeBias(b: TensorProto, wScales: Float32Array, xScale: number, names: NameAllocator, inits: TensorProto[], added: NodeProto[]): string {
  const values = floatValues(b);
  const scales = new Float32Array(values.length);
  const q = new Int32Array(values.length);
  for (let c = 0; c < values.length; c++) {
    scales[c] = xScale * wScales[c];
    q[c] = Math.round(values[c] / scales[c]);
  }
  const base = b.name ?? 'bias';
  const qName = names.fresh(`${base}_int32`);
  const scaleName = names.fresh(`${base}_scale`);
  const zpName = names.fresh(`${base}_zero_point`);
  inits.push(int32Tensor(qName, [values.length], q), floatTensor(scaleName, [values.length], scales), int32Tensor(zpName, [values.length], new Int32Array(values.length)));
  const dq = names.fresh(`${base}_dequantized`);
  added.push({ opType: 'DequantizeLinear', name: names.fresh(`${base}_DequantizeLinear`), input: [qName, scaleName, zpName], output: [dq], attribute: [{ name: 'axis', type: AttributeType.INT, i: 0 }] });
  return dq;
}
