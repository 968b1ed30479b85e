/**
 * Reading and writing ONNX models in TypeScript with protobufjs and the upstream `onnx.proto`
 * (ONNX 1.23.2, Apache-2.0, copied unchanged into this folder; see `onnx.proto.LICENSE`).
 *
 * Messages are handled as plain objects (protobufjs `toObject` with camel-case field names); 64-bit integers
 * stay decimal strings so values such as INT64_MAX in Slice bounds survive a round trip exactly.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { QuantizeModelError } from './errors';

/** A protobuf int64 after decoding: a decimal string; numbers are accepted when building messages. */
export type Int64 = string | number;

/** `TensorProto.DataType` values this package reads or writes. */
export const DataType = Object.freeze({
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const);

/** `AttributeProto.AttributeType` values. */
export const AttributeType = Object.freeze({ FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const);

/** The fields of `TensorProto` this package uses. */
export interface TensorProto {
  name?: string;
  dims?: Int64[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Int64[];
  doubleData?: number[];
  dataLocation?: number;
  externalData?: { key?: string; value?: string }[];
}

/** One attribute of a node. */
export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: Int64[];
}

/** One node of the graph. */
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeProto[];
  docString?: string;
}

/** A tensor dimension: fixed size or symbolic name. */
export interface DimProto {
  dimValue?: Int64;
  dimParam?: string;
}

/** Name, element type and shape of a graph input, output or intermediate value. */
export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: DimProto[] } } };
  docString?: string;
}

/** The computation graph. */
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  docString?: string;
}

/** An operator set the model imports. */
export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}

/** The top-level ONNX model. */
export interface ModelProto {
  irVersion?: Int64;
  opsetImport?: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int64;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: { key?: string; value?: string }[];
  functions?: unknown[];
}

let modelType: protobuf.Type | undefined;

/** The `onnx.ModelProto` type, parsed once from the bundled schema (next to the sources or the compiled output). */
function onnxModelType(): protobuf.Type {
  if (modelType) return modelType;
  const candidates = [join(__dirname, 'onnx.proto'), join(__dirname, '..', '..', 'quantize', 'onnx.proto')];
  const file = candidates.find((p) => existsSync(p));
  if (!file) throw new Error(`onnx.proto not found; looked in ${candidates.join(', ')}`);
  modelType = protobuf.loadSync(file).lookupType('onnx.ModelProto');
  return modelType;
}

/**
 * Decodes an ONNX model from bytes.
 * @param bytes - The serialized `ModelProto`.
 * @param path - Where the bytes came from, for error messages.
 * @returns The model as a plain object.
 * @throws {@link QuantizeModelError} when the bytes are not an ONNX model with a graph.
 */
export function decodeModel(bytes: Uint8Array, path: string): ModelProto {
  const type = onnxModelType();
  let model: ModelProto;
  try {
    const message = type.decode(bytes);
    model = type.toObject(message, { longs: String, bytes: Buffer, defaults: false, arrays: true }) as ModelProto;
  } catch (err) {
    throw new QuantizeModelError(path, `not a valid ONNX protobuf (${(err as Error).message})`, { cause: err });
  }
  if (!model.graph) throw new QuantizeModelError(path, 'the ONNX model has no graph');
  for (const t of model.graph.initializer ?? []) {
    if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0) {
      throw new QuantizeModelError(path, `initializer '${t.name}' uses external data, which is not supported`);
    }
  }
  return model;
}

/**
 * Encodes a model to bytes.
 * @param model - A model object as returned by {@link decodeModel} (possibly edited).
 * @returns The serialized `ModelProto`.
 */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = onnxModelType();
  return type.encode(type.fromObject(model)).finish();
}

/**
 * Reads an ONNX file.
 * @param path - The `.onnx` file.
 * @returns The decoded model and its raw bytes.
 * @throws {@link QuantizeModelError} when the file is missing or not ONNX.
 */
export async function readModel(path: string): Promise<{ model: ModelProto; bytes: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new QuantizeModelError(path, `cannot read the model (${(err as Error).message})`, { cause: err });
  }
  return { model: decodeModel(bytes, path), bytes };
}

/** SHA-256 of bytes as lowercase hex (the model card's `onnx_sha256`). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The model's opset for the default ONNX domain. */
export function defaultOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 0;
}
