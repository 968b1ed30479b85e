/**
 * Element-type inference for every tensor of a graph. Exporters do not always write `value_info`, and the
 * rewriters must know which tensors are floating point (to convert or quantize) and which are shapes or indices.
 */
import { UnsupportedOperatorError } from './errors';
import { nodeLabel } from './graph-index';
import { DataType, type AttributeProto, type GraphProto, type NodeProto } from './onnx-proto';

/** Operators whose outputs all take the element type of their first input. */
const SAME_AS_FIRST = new Set([
  'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Ceil', 'Clip', 'Concat', 'Conv', 'ConvTranspose', 'DepthToSpace',
  'Div', 'Dropout', 'Elu', 'Erf', 'Exp', 'Expand', 'Flatten', 'Floor', 'Gather', 'GatherElements', 'Gelu', 'Gemm',
  'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Identity', 'InstanceNormalization',
  'LayerNormalization', 'LeakyRelu', 'Log', 'LpNormalization', 'MatMul', 'Max', 'MaxPool', 'Mean', 'Min', 'Mish',
  'Mul', 'Neg', 'Pad', 'Pow', 'PRelu', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceMax',
  'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu', 'Reshape', 'Resize', 'Round',
  'Selu', 'Sigmoid', 'Sign', 'Sin', 'Cos', 'Slice', 'Softmax', 'LogSoftmax', 'Softplus', 'Softsign', 'SpaceToDepth',
  'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tanh', 'Tile', 'Transpose', 'Unsqueeze', 'Upsample', 'Range',
]);

const BOOL_OUT = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** Element type of a `Constant` node's value. */
function constantType(node: NodeProto): number | undefined {
  const value = attr(node, 'value');
  if (value?.t) return value.t.dataType;
  if (attr(node, 'value_float') || attr(node, 'value_floats')) return DataType.FLOAT;
  if (attr(node, 'value_int') || attr(node, 'value_ints')) return DataType.INT64;
  return undefined;
}

function outputType(node: NodeProto, inputs: (number | undefined)[]): number | undefined {
  const op = node.opType;
  if (node.domain && node.domain !== 'ai.onnx') return undefined;
  if (SAME_AS_FIRST.has(op)) return inputs[0];
  if (BOOL_OUT.has(op)) return DataType.BOOL;
  if (INT64_OUT.has(op)) return DataType.INT64;
  switch (op) {
    case 'Cast':
      return Number(attr(node, 'to')?.i);
    case 'CastLike':
    case 'Where':
      return inputs[1];
    case 'Constant':
      return constantType(node);
    case 'ConstantOfShape':
      return attr(node, 'value')?.t?.dataType ?? DataType.FLOAT;
    case 'QuantizeLinear':
      return inputs[2] ?? DataType.UINT8;
    case 'DequantizeLinear':
      return inputs[1] ?? DataType.FLOAT;
    default:
      return undefined;
  }
}

/**
 * Infers the element type of every tensor.
 * @param graph - A topologically sorted graph.
 * @param path - The model file, for errors.
 * @returns Element type (`TensorProto.DataType`) per tensor name.
 * @throws {@link UnsupportedOperatorError} for an operator whose output type this table does not know.
 */
export function inferElementTypes(graph: GraphProto, path: string): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
    const t = v.type?.tensorType?.elemType;
    if (t) types.set(v.name, t);
  }
  for (const t of graph.initializer ?? []) if (t.dataType) types.set(t.name ?? '', t.dataType);
  (graph.node ?? []).forEach((node, k) => {
    const inputs = (node.input ?? []).map((i) => types.get(i));
    const out = outputType(node, inputs);
    if (out === undefined) throw new UnsupportedOperatorError(path, node.opType, nodeLabel(node, k));
    for (const o of node.output ?? []) if (o) types.set(o, out);
  });
  return types;
}
