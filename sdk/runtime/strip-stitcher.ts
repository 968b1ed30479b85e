import type { RowSink } from '../cube/row-sink';
import { type BlendMode, type Tile, accumulate, edgeWeights } from './tiling';

/** Most floats handed to a sink in one call (8 MiB): bounds the normalised copy independently of the scene. */
const CHUNK_FLOATS = 1 << 21;

/**
 * Rows of the strip buffer needed when tiles are run `batch` at a time in row-major order: from the first
 * row of a batch (everything above it is final by then) to the bottom of its lowest tile.
 * @internal
 */
export function stripCapacity(tiles: readonly Tile[], batch: number): number {
  let cap = 0;
  for (let s = 0; s < tiles.length; s += batch) {
    const group = tiles.slice(s, s + batch);
    const bottom = Math.max(...group.map((t) => t.y + t.height));
    cap = Math.max(cap, bottom - group[0].y);
  }
  return cap;
}

/**
 * Blends tile predictions into a strip of output rows and hands rows to a {@link RowSink} as soon as no
 * later tile can touch them (or, given a whole-image array, normalises them straight into it: the in-memory
 * `fuse`, without a second copy). Tiles must arrive in row-major order (as {@link planTiles} returns them), so
 * rows above the next tile's top are final. Only `capacity` rows of output are resident, whatever the
 * scene height. The arithmetic is the same per pixel as blending into a full-size output (same float32
 * accumulation order, same float64 weight totals), so results do not depend on the strip.
 * @internal
 */
export class StripStitcher {
  private readonly strip: Float32Array;
  private readonly chunk: Float32Array | undefined;
  private readonly rowsPerChunk: number;
  // Tiles form a grid and weights are separable, so the per-pixel weight total is rowSum[y] * colSum[x].
  private readonly rowSum: Float64Array;
  private readonly colSum: Float64Array;
  /** HR row held in strip row 0: every row above it has gone to the sink. */
  private base = 0;

  constructor(
    private readonly bands: number,
    private readonly height: number,
    private readonly width: number,
    private readonly capacity: number,
    private readonly overlap: number,
    private readonly blend: BlendMode,
    private readonly target: RowSink | Float32Array,
  ) {
    this.strip = new Float32Array(bands * capacity * width);
    this.rowsPerChunk = Math.max(1, Math.min(capacity, Math.floor(CHUNK_FLOATS / (bands * width))));
    this.chunk = target instanceof Float32Array ? undefined : new Float32Array(bands * this.rowsPerChunk * width);
    this.rowSum = new Float64Array(height);
    this.colSum = new Float64Array(width);
  }

  /** Adds one tile's prediction (B x th x tw), feathered towards its neighbours. */
  add(tile: Tile, pred: Float32Array): void {
    const { height: th, width: tw } = tile;
    if (tile.y < this.base || tile.y + th > this.base + this.capacity) {
      throw new RangeError(`tile at row ${tile.y} (height ${th}) is outside the strip ${this.base}..${this.base + this.capacity}; tiles must come in row-major order`);
    }
    const wy = edgeWeights(th, tile.y > 0, tile.y + th < this.height, this.overlap, this.blend);
    const wx = edgeWeights(tw, tile.x > 0, tile.x + tw < this.width, this.overlap, this.blend);
    accumulate(this.strip, this.capacity, this.width, this.bands, { ...tile, y: tile.y - this.base }, pred, wy, wx);
    if (tile.x === 0) for (let y = 0; y < th; y++) this.rowSum[tile.y + y] += wy[y];
    if (tile.y === 0) for (let x = 0; x < tw; x++) this.colSum[tile.x + x] += wx[x];
  }

  /** Normalises rows `base .. end - 1`, sends them to the target in chunks and slides the strip up. */
  async flush(end: number): Promise<void> {
    const { bands: B, width: W, capacity: cap, strip, target } = this;
    const n = end - this.base;
    if (n <= 0) return;
    for (let r0 = 0; r0 < n; r0 += this.rowsPerChunk) {
      const r = Math.min(this.rowsPerChunk, n - r0);
      const y0 = this.base + r0;
      // Into the whole image: band b, row y at (b * H + y) * W; into a chunk: (b * r + i) * W.
      const [dst, bandStride, rowOffset] = target instanceof Float32Array ? [target, this.height, y0] : [this.chunk as Float32Array, r, 0];
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < r; i++) {
          const src = (b * cap + r0 + i) * W;
          const o = (b * bandStride + rowOffset + i) * W;
          const ry = this.rowSum[y0 + i];
          for (let x = 0; x < W; x++) dst[o + x] = strip[src + x] / (ry * this.colSum[x]);
        }
      }
      if (!(target instanceof Float32Array)) await target.writeRows(y0, dst.subarray(0, B * r * W));
    }
    for (let b = 0; b < B; b++) {
      const plane = b * cap * W;
      strip.copyWithin(plane, plane + n * W, plane + cap * W);
      strip.fill(0, plane + (cap - Math.min(n, cap)) * W, plane + cap * W);
    }
    this.base = end;
  }
}

/**
 * Sends a whole band-sequential image to a sink in row chunks (whole-image inference on the streaming path).
 * @internal
 */
export async function emitRows(data: Float32Array, bands: number, height: number, width: number, sink: RowSink): Promise<void> {
  const rows = Math.max(1, Math.min(height, Math.floor(CHUNK_FLOATS / (bands * width))));
  const chunk = new Float32Array(bands * rows * width);
  for (let y0 = 0; y0 < height; y0 += rows) {
    const r = Math.min(rows, height - y0);
    for (let b = 0; b < bands; b++) chunk.set(data.subarray((b * height + y0) * width, (b * height + y0 + r) * width), b * r * width);
    await sink.writeRows(y0, chunk.subarray(0, bands * r * width));
  }
}
