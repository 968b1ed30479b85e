/** One HR tile: its top-left corner and size in HR pixels. */
export interface Tile {
  y: number;
  x: number;
  height: number;
  width: number;
}

/** Feathering profile across an overlap. */
export type BlendMode = 'linear' | 'cosine';

/**
 * Start offsets along one axis: tiles of `size` every `size - overlap`, the last one flush with the end,
 * every start a multiple of `align` (so LR tiles start on whole LR pixels).
 * @internal
 */
export function axisStarts(length: number, size: number, overlap: number, align: number): number[] {
  if (size >= length) return [0];
  const step = Math.max(align, Math.floor((size - overlap) / align) * align);
  const starts: number[] = [];
  for (let s = 0; s + size < length; s += step) starts.push(s);
  starts.push(length - size);
  return starts;
}

/**
 * Plans overlapping HR tiles covering an image. All tiles have the same size (the image size along an
 * axis shorter than the tile), so they can be batched.
 * @param height - HR height.
 * @param width - HR width.
 * @param tile - Wanted tile edge in HR pixels (rounded down to `align`).
 * @param overlap - Wanted overlap in HR pixels (rounded up to `align`).
 * @param align - Alignment in HR pixels (scale x spatial multiple).
 * @returns The tiles, row-major.
 * @throws RangeError when the tile is not larger than the overlap.
 * @internal
 */
export function planTiles(height: number, width: number, tile: number, overlap: number, align: number): Tile[] {
  const size = Math.max(align, Math.floor(tile / align) * align);
  const ov = Math.ceil(overlap / align) * align;
  if (ov >= size && (size < height || size < width)) {
    throw new RangeError(`Expected overlap (${ov} px after alignment to ${align}) to be smaller than the tile (${size} px)`);
  }
  const th = Math.min(size, height);
  const tw = Math.min(size, width);
  const tiles: Tile[] = [];
  for (const y of axisStarts(height, th, ov, align)) {
    for (const x of axisStarts(width, tw, ov, align)) tiles.push({ y, x, height: th, width: tw });
  }
  return tiles;
}

/**
 * 1-D feathering weights for a tile edge: ramps over `overlap` pixels on the sides that meet another tile,
 * 1 elsewhere and on image borders. Ramps start above 0 so every pixel keeps a positive total weight.
 * @internal
 */
export function edgeWeights(size: number, rampStart: boolean, rampEnd: boolean, overlap: number, mode: BlendMode): Float32Array {
  const w = new Float32Array(size).fill(1);
  const ramp = Math.min(overlap, size);
  for (let i = 0; i < ramp; i++) {
    const t = (i + 0.5) / ramp;
    const v = mode === 'linear' ? t : 0.5 - 0.5 * Math.cos(Math.PI * t);
    if (rampStart) w[i] = Math.min(w[i], v);
    if (rampEnd) w[size - 1 - i] = Math.min(w[size - 1 - i], v);
  }
  return w;
}
