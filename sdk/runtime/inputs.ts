import type { Cube } from '../cube/cube';
import { NoDataError, ValueRangeError } from '../core/errors';

/** @internal */
export function describeGrid(w: readonly number[]): string {
  return w.length === 0 ? 'none' : `${w.length} bands, ${w[0]}..${w[w.length - 1]} nm`;
}

/** Bands of a cube that are no-data everywhere (e.g. EnMAP's water-vapour bands): masked, not fused. */
export function maskNoDataBands(cube: Cube): Cube {
  const nodata = cube.meta?.dataIgnoreValue;
  if (typeof nodata !== 'number') return cube;
  const plane = cube.height * cube.width;
  const empty: number[] = [];
  for (let b = 0; b < cube.bands; b++) {
    let all = true;
    for (let p = 0; p < plane && all; p++) all = cube.data[b * plane + p] === nodata;
    if (all) empty.push(b);
  }
  assertNoData(cube, 'lrhsi', empty);
  if (empty.length === 0) return cube;
  const prior = (cube.meta?.bandValid as boolean[] | undefined) ?? new Array<boolean>(cube.bands).fill(true);
  return { ...cube, meta: { ...cube.meta, bandValid: prior.map((v, b) => v && !empty.includes(b)) } };
}

/**
 * Without resampling, bands map one to one onto the model's: a masked input band is acceptable only where the
 * model was trained without it (card `band_valid` false), and then it is fed as zeros, as in training.
 */
export function zeroMaskedBands(cube: Cube, modelValid: readonly boolean[] | undefined): Cube {
  const valid = cube.meta?.bandValid as boolean[] | undefined;
  if (valid === undefined || valid.every((v) => v)) return cube;
  const needed = valid.flatMap((v, b) => (!v && (modelValid === undefined || modelValid[b]) ? [b] : []));
  if (needed.length > 0) {
    throw new NoDataError(
      `lrhsi band(s) ${needed.join(', ')} (${needed.map((b) => cube.wavelengths[b]).join(', ')} nm) are no-data or marked bad, ` +
        'but the model uses them; pass { resample: true } to rebuild them from neighbouring bands where the input covers them',
    );
  }
  const plane = cube.height * cube.width;
  const data = cube.data.slice();
  valid.forEach((v, b) => {
    if (!v) data.fill(0, b * plane, (b + 1) * plane);
  });
  return { ...cube, data };
}

/** Pixels equal to the file's no-data value would be fused as if they were radiance; refuse them instead. */
export function assertNoData(cube: Cube, name: string, skipBands: readonly number[]): void {
  const nodata = cube.meta?.dataIgnoreValue;
  if (typeof nodata !== 'number') return;
  const plane = cube.height * cube.width;
  let count = 0;
  let first = -1;
  for (let b = 0; b < cube.bands; b++) {
    if (skipBands.includes(b)) continue;
    for (let p = 0; p < plane; p++) {
      if (cube.data[b * plane + p] === nodata) {
        if (first < 0) first = b * plane + p;
        count++;
      }
    }
  }
  if (count > 0) {
    const p = first % plane;
    throw new NoDataError(
      `${name} holds ${count} no-data values (${nodata}), first at x=${p % cube.width}, y=${Math.floor(p / cube.width)} ` +
        `in band ${Math.floor(first / plane)}; crop to a gap-free window or fill them before fusing`,
    );
  }
}

/** Raw counts are divided by `meta.valueScale`; values far above 1 without it mean the scale was forgotten. */
export function applyValueScale(cube: Cube, name: string): Cube {
  const scale = cube.meta?.valueScale;
  let data = cube.data;
  if (typeof scale === 'number' && scale !== 1) {
    if (!(scale > 0)) throw new RangeError(`Expected ${name}.meta.valueScale > 0 but received ${scale}`);
    data = new Float32Array(cube.data.length);
    const inv = 1 / scale;
    for (let i = 0; i < data.length; i++) data[i] = cube.data[i] * inv;
  }
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] > max) max = data[i];
  if (max > 4) {
    throw new ValueRangeError(
      `${name} values reach ${max}, but the model takes physical units 0..1; ` +
        `set ${name}.meta.valueScale to the raw full scale (e.g. 65535 for 16-bit CAVE, 10000 for reflectance x 1e4)`,
      { input: name, max },
    );
  }
  return data === cube.data ? cube : { ...cube, data, meta: { ...(cube.meta ?? {}), valueScale: 1 } };
}

