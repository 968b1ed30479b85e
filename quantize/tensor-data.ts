/**
 * Reading and building `TensorProto` payloads: float32, float16, int8, int32 and int64.
 */
import { DataType, type TensorProto } from './onnx-proto';

/** Element count of a tensor from its dims. */
export function elementCount(t: TensorProto): number {
  return (t.dims ?? []).reduce<number>((n, d) => n * Number(d), 1);
}

function rawView(t: TensorProto): DataView | undefined {
  const raw = t.rawData;
  if (!raw || raw.byteLength === 0) return undefined;
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
}

/**
 * The values of a FLOAT, FLOAT16 or DOUBLE tensor as float32.
 * @param t - The tensor.
 * @returns A new array of {@link elementCount} values.
 * @throws {TypeError} when the tensor is not floating point.
 */
export function floatValues(t: TensorProto): Float32Array {
  const n = elementCount(t);
  const out = new Float32Array(n);
  const view = rawView(t);
  switch (t.dataType) {
    case DataType.FLOAT:
      if (view) for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      else out.set(t.floatData ?? []);
      return out;
    case DataType.FLOAT16:
      // float16 without raw_data is stored as uint16 bit patterns in int32_data.
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view ? view.getUint16(i * 2, true) : (t.int32Data ?? [])[i]);
      return out;
    case DataType.DOUBLE:
      if (view) for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      else out.set(t.doubleData ?? []);
      return out;
    default:
      throw new TypeError(`Tensor '${t.name}' has data type ${t.dataType}; expected a floating-point type`);
  }
}

/** A FLOAT tensor with raw little-endian data. */
export function floatTensor(name: string, dims: readonly number[], values: Float32Array | readonly number[]): TensorProto {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}

/** A FLOAT16 tensor, rounding each float32 value to the nearest half (saturating to ±65504). */
export function halfTensor(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = floatToHalf(values[i]);
  return { name, dims: [...dims], dataType: DataType.FLOAT16, rawData: Buffer.from(bits.buffer) };
}

/** An INT8 tensor. */
export function int8Tensor(name: string, dims: readonly number[], values: Int8Array): TensorProto {
  return { name, dims: [...dims], dataType: DataType.INT8, rawData: Buffer.from(values.buffer, values.byteOffset, values.byteLength) };
}

/** An INT32 tensor. */
export function int32Tensor(name: string, dims: readonly number[], values: Int32Array): TensorProto {
  return { name, dims: [...dims], dataType: DataType.INT32, rawData: Buffer.from(values.buffer, values.byteOffset, values.byteLength) };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE float32 to float16 bits, round to nearest even. Values beyond the half range saturate to ±65504
 * rather than becoming Inf, because a saturated weight is a smaller error than an infinite one.
 */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7bff;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  e = half >>> 10;
  if (e >= 0x1f) return sign | 0x7bff;
  return sign | half;
}

/** float16 bits to a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
