/**
 * float16 conversion: weights and compute in half precision, with Casts where float32 must remain (graph I/O by
 * default, numerically sensitive nodes, the network's own measurement steps, inputs whose schema requires float32).
 */
import { inferElementTypes } from './dtype-inference';
import { GraphIndex, NETWORK_SCOPE, NameAllocator, inScopes, nodeLabel, scopeOf } from './graph-index';
import { AttributeType, DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './onnx-proto';
import { floatValues, halfTensor } from './tensor-data';

/** Options of {@link convertToFloat16}. */
export interface Fp16Options {
  /**
   * Keep graph inputs and outputs in float32 and cast at the boundary, so callers keep passing Float32Array.
   * @defaultValue true
   */
  keepIoFloat32?: boolean;
  /**
   * Extra nodes to keep in float32, by node name or operator type (added to the built-in sensitive set).
   * @defaultValue []
   */
  keepFloat32?: readonly string[];
  /**
   * Name scopes whose own nodes (not those of nested scopes) stay float32.
   * @defaultValue [{@link NETWORK_SCOPE}]
   */
  keepScopes?: readonly string[];
}

/** What {@link convertToFloat16} did. */
export interface Fp16Result {
  model: ModelProto;
  /** Labels of the nodes left in float32, with the reason. */
  keptFloat32: { node: string; reason: string }[];
  /** Number of Cast nodes inserted. */
  casts: number;
}

const FP16_DEFAULTS = Object.freeze({ keepIoFloat32: true, keepFloat32: [] as readonly string[], keepScopes: [NETWORK_SCOPE] as readonly string[] });

/** Reductions and normalisations whose sums overflow or lose all precision in half. */
const SENSITIVE_OPS = new Set([
  'Softmax', 'LogSoftmax', 'ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp',
  'LpNormalization',
]);
const NORM_ORIGINS = new Set(['ReduceL2', 'ReduceSumSquare', 'ReduceSum', 'ReduceMean', 'LpNormalization', 'Sqrt']);
/** Elementwise steps exporters put between a norm and the division (eps clamp, broadcast). */
const NORM_PASS = new Set(['Clip', 'Expand', 'Max', 'Add', 'Sqrt', 'Unsqueeze', 'Reshape']);
/** Steps between the attention product and its Softmax (temperature, head reshapes). */
const LOGIT_PASS = new Set(['Mul', 'Div', 'Reshape', 'Transpose']);

/** Inputs whose schema type is float32 whatever the data type (Resize roi/scales, Upsample scales). */
function float32Slot(op: string, slot: number): boolean {
  return (op === 'Resize' && (slot === 1 || slot === 2)) || (op === 'Upsample' && slot === 1);
}

/** Turns `Constant` nodes with a tensor value into initializers, so the converter handles one kind of constant. */
function constantsToInitializers(graph: GraphProto): void {
  const kept: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx') ? node.attribute?.find((a) => a.name === 'value') : undefined;
    if (value?.t && node.output?.[0]) {
      graph.initializer = [...(graph.initializer ?? []), { ...value.t, name: node.output[0] }];
    } else kept.push(node);
  }
  graph.node = kept;
}

/** Why a node of a kept scope stays float32 (reported once per scope). */
const SCOPE_REASON = 'steps of the network itself (not its learnt modules)';

/** Nodes to keep in float32 and why. */
function sensitiveNodes(graph: GraphProto, index: GraphIndex, extra: readonly string[], scopes: readonly string[]): Map<NodeProto, string> {
  const keep = new Map<NodeProto, string>();
  for (const node of graph.node ?? []) {
    if (SENSITIVE_OPS.has(node.opType)) keep.set(node, `${node.opType} accumulates over many values`);
    if (extra.includes(node.opType) || (node.name && extra.includes(node.name))) keep.set(node, 'requested');
    if (inScopes(node.name, scopes) && !keep.has(node)) keep.set(node, SCOPE_REASON);
  }
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Div') continue;
    // Walk the divisor back to a norm: division by a clamped L2 norm underflows in half (eps 1e-12 becomes 0).
    const chain: NodeProto[] = [];
    let cur = index.producer.get(node.input?.[1] ?? '');
    while (cur && NORM_PASS.has(cur.opType) && !NORM_ORIGINS.has(cur.opType) && chain.length < 4) {
      chain.push(cur);
      cur = index.producer.get(cur.input?.[0] ?? '');
    }
    if (cur && NORM_ORIGINS.has(cur.opType)) {
      for (const n of [node, cur, ...chain]) keep.set(n, keep.get(n) ?? 'division by a norm');
    }
  }
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Softmax') continue;
    // Attention logits are sums over every pixel: without normalised Q/K they exceed the half range (65504).
    const chain: NodeProto[] = [];
    let cur = index.producer.get(node.input?.[0] ?? '');
    while (cur && LOGIT_PASS.has(cur.opType) && chain.length < 3) {
      chain.push(cur);
      cur = index.producer.get(cur.input?.[0] ?? '');
    }
    if (cur?.opType === 'MatMul') for (const n of [cur, ...chain]) keep.set(n, keep.get(n) ?? 'attention logits feeding Softmax');
  }
  return keep;
}

/**
 * Converts a float32 model to float16 weights and compute.
 * @param source - The float32 model (not modified).
 * @param path - The model file, for errors.
 * @param options - See {@link Fp16Options}.
 * @returns The converted model and what was kept in float32.
 * @throws {@link UnsupportedOperatorError} for operators whose types cannot be inferred.
 * @example
 * const { model } = convertToFloat16(fp32, 'student.onnx', { keepFloat32: ['Sigmoid'] });
 */
export function convertToFloat16(source: ModelProto, path: string, options: Fp16Options = {}): Fp16Result {
  const opts = { ...FP16_DEFAULTS, ...options };
  const model = structuredClone(source);
  const graph = model.graph as GraphProto;
  constantsToInitializers(graph);
  const ordered = [...(graph.node ?? [])];
  const original = inferElementTypes(graph, path);
  const index = new GraphIndex(graph);
  const names = new NameAllocator(graph);
  const keep = sensitiveNodes(graph, index, opts.keepFloat32, opts.keepScopes);
  const isFloat = (name: string): boolean => original.get(name) === DataType.FLOAT;
  const wantsFloat32 = (node: NodeProto, slot: number): boolean => keep.has(node) || float32Slot(node.opType, slot);

  const current = new Map<string, number>();
  for (const v of graph.input ?? []) {
    if (isFloat(v.name)) current.set(v.name, opts.keepIoFloat32 ? DataType.FLOAT : DataType.FLOAT16);
  }
  const halfCopies = new Map<string, string>();
  const initializers: TensorProto[] = [];
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if (t.dataType !== DataType.FLOAT) {
      initializers.push(t);
      continue;
    }
    const uses = index.consumersOf(name).flatMap((n) => (n.input ?? []).flatMap((inp, slot) => (inp === name ? [wantsFloat32(n, slot)] : [])));
    const half = halfTensor(name, (t.dims ?? []).map(Number), floatValues(t));
    if (uses.length > 0 && uses.every((f32) => !f32)) {
      initializers.push(half);
      current.set(name, DataType.FLOAT16);
    } else {
      initializers.push(t);
      current.set(name, DataType.FLOAT);
      if (uses.some((f32) => !f32)) {
        const copy = names.fresh(`${name}_fp16`);
        initializers.push({ ...half, name: copy });
        halfCopies.set(name, copy);
      }
    }
  }
  graph.initializer = initializers;

  const castCache = new Map<string, string>();
  const nodes: NodeProto[] = [];
  const castTo = (name: string, to: number): string => {
    const key = `${name}\u0000${to}`;
    const cached = castCache.get(key);
    if (cached) return cached;
    const out = names.fresh(`${name}_${to === DataType.FLOAT16 ? 'fp16' : 'fp32'}`);
    nodes.push({ opType: 'Cast', name: names.fresh(`Cast_${out}`), input: [name], output: [out], attribute: [{ name: 'to', type: AttributeType.INT, i: to }] });
    castCache.set(key, out);
    return out;
  };
  for (const node of graph.node ?? []) {
    const half = !keep.has(node);
    node.input = (node.input ?? []).map((name, slot) => {
      if (!name || !isFloat(name)) return name;
      const want = wantsFloat32(node, slot) ? DataType.FLOAT : DataType.FLOAT16;
      if (want === DataType.FLOAT16 && halfCopies.has(name)) return halfCopies.get(name) as string;
      return current.get(name) === want ? name : castTo(name, want);
    });
    if (half) retypeAttributes(node);
    for (const out of node.output ?? []) if (out && isFloat(out)) current.set(out, half ? DataType.FLOAT16 : DataType.FLOAT);
    nodes.push(node);
  }

  const tail: NodeProto[] = [];
  for (const v of graph.output ?? []) {
    if (!isFloat(v.name)) continue;
    const want = opts.keepIoFloat32 ? DataType.FLOAT : DataType.FLOAT16;
    if (current.get(v.name) !== want) {
      const inner = names.fresh(`${v.name}_${want === DataType.FLOAT ? 'fp16' : 'fp32'}`);
      for (const n of nodes) {
        n.input = (n.input ?? []).map((i) => (i === v.name ? inner : i));
        n.output = (n.output ?? []).map((o) => (o === v.name ? inner : o));
      }
      tail.push({ opType: 'Cast', name: names.fresh(`Cast_${v.name}`), input: [inner], output: [v.name], attribute: [{ name: 'to', type: AttributeType.INT, i: want }] });
    }
    setElemType(v, want);
  }
  for (const v of graph.input ?? []) if (current.has(v.name) && !index.initializers.has(v.name)) setElemType(v, current.get(v.name) as number);
  graph.node = [...nodes, ...tail];
  // Intermediate types changed; stale value_info would contradict them, and ORT re-infers what it needs.
  graph.valueInfo = [];
  // A kept scope is reported once (hundreds of nodes), the others node by node.
  const scoped = new Map<string, number>();
  const keptFloat32: { node: string; reason: string }[] = [];
  for (const [n, reason] of keep) {
    if (reason !== SCOPE_REASON) {
      keptFloat32.push({ node: nodeLabel(n, ordered.indexOf(n)), reason });
      continue;
    }
    const label = `${scopeOf(n.name) ?? ''}/*`;
    scoped.set(label, (scoped.get(label) ?? 0) + 1);
  }
  for (const [node, count] of scoped) keptFloat32.push({ node, reason: `${count} ${SCOPE_REASON}` });
  return { model, keptFloat32, casts: castCache.size + tail.length };
}

function setElemType(v: { type?: { tensorType?: { elemType?: number } } }, elemType: number): void {
  v.type = { ...(v.type ?? {}), tensorType: { ...(v.type?.tensorType ?? {}), elemType } };
}

/** Attributes that name a float32 type or hold a float32 tensor follow the node into half. */
function retypeAttributes(node: NodeProto): void {
  for (const a of node.attribute ?? []) {
    if (node.opType === 'Cast' && a.name === 'to' && Number(a.i) === DataType.FLOAT) a.i = DataType.FLOAT16;
    if (node.opType === 'ConstantOfShape' && a.name === 'value' && a.t?.dataType === DataType.FLOAT) {
      a.t = halfTensor(a.t.name ?? '', (a.t.dims ?? []).map(Number), floatValues(a.t));
    }
  }
}
