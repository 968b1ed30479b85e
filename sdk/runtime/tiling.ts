import type { Cube } from '../cube/cube';

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
 * Tile size and start offsets along one axis with the fewest tiles that keep at least `overlap` between
 * neighbours: n = ceil((length - overlap) / (maxSize - overlap)) tiles, then the smallest aligned size that
 * still covers the axis with that overlap, starts spread evenly (multiples of `align`, the last one flush with
 * the end). Shrinking the tiles instead of adding one keeps redundant pixels, and so time, low.
 * @internal
 */
export function axisPlan(length: number, maxSize: number, overlap: number, align: number): { size: number; starts: number[] } {
  if (maxSize >= length) return { size: length, starts: [0] };
  const n = Math.ceil((length - overlap) / (maxSize - overlap));
  for (let size = Math.ceil((length + (n - 1) * overlap) / n / align) * align; size <= length; size += align) {
    const starts = Array.from({ length: n }, (_, i) => Math.round((i * (length - size)) / (n - 1) / align) * align);
    if (starts.every((st, i) => i === 0 || starts[i - 1] + size - st >= overlap)) return { size, starts };
  }
  return { size: length, starts: [0] };
}

/**
 * Plans overlapping HR tiles covering an image. All tiles have the same size (at most `tile`, the image
 * size along an axis shorter than the tile), so they can be batched.
 * @param height - HR height.
 * @param width - HR width.
 * @param tile - Largest tile edge in HR pixels (rounded down to `align`).
 * @param overlap - Smallest overlap in HR pixels (rounded up to `align`).
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
  const rows = axisPlan(height, size, ov, align);
  const cols = axisPlan(width, size, ov, align);
  const tiles: Tile[] = [];
  for (const y of rows.starts) for (const x of cols.starts) tiles.push({ y, x, height: rows.size, width: cols.size });
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

/**
 * Copies an HR or LR window of every band into a batch buffer at `offset`.
 * @internal
 */
export function copyWindow(cube: Cube, top: number, left: number, h: number, w: number, dst: Float32Array, offset: number): void {
  const { height: H, width: W, data } = cube;
  for (let b = 0; b < cube.bands; b++) {
    for (let y = 0; y < h; y++) {
      const src = (b * H + top + y) * W + left;
      dst.set(data.subarray(src, src + w), offset + (b * h + y) * w);
    }
  }
}

/**
 * Adds a tile's prediction, weighted by the separable feathering weights, into the output.
 * @internal
 */
export function accumulate(
  out: Float32Array,
  H: number,
  W: number,
  B: number,
  tile: Tile,
  pred: Float32Array,
  wy: Float32Array,
  wx: Float32Array,
): void {
  const { height: th, width: tw } = tile;
  for (let b = 0; b < B; b++) {
    for (let y = 0; y < th; y++) {
      const row = (b * H + tile.y + y) * W + tile.x;
      const src = (b * th + y) * tw;
      const w0 = wy[y];
      for (let x = 0; x < tw; x++) out[row + x] += w0 * wx[x] * pred[src + x];
    }
  }
}
