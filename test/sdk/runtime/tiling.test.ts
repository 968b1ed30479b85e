import t from 'tap';
import { axisPlan, edgeWeights, planTiles } from '../../../sdk/runtime/tiling';

t.test('tiles: cover the image, start on aligned offsets, share one size', async (t) => {
  for (const [H, W, tile, overlap, align] of [
    [512, 512, 256, 32, 4],
    [100, 60, 48, 10, 4],
    [2048, 1024, 250, 30, 16],
    [40, 40, 64, 8, 4],
  ]) {
    const tiles = planTiles(H, W, tile, overlap, align);
    const hit = new Uint8Array(H * W);
    for (const tl of tiles) {
      t.equal(tl.y % align, 0);
      t.equal(tl.x % align, 0);
      t.same([tl.height, tl.width], [tiles[0].height, tiles[0].width]);
      for (let y = tl.y; y < tl.y + tl.height; y++) for (let x = tl.x; x < tl.x + tl.width; x++) hit[y * W + x] = 1;
    }
    t.ok(hit.every((v) => v === 1), `${H}x${W} tile ${tile} overlap ${overlap}: ${tiles.length} tiles cover every pixel`);
  }
  // 512 px at most 256 per tile with >= 32 overlap needs 3 tiles; they shrink to 192 instead of 3 x 256.
  t.same(axisPlan(512, 256, 32, 4), { size: 192, starts: [0, 160, 320] });
  t.same(axisPlan(512, 288, 32, 4), { size: 272, starts: [0, 240] });
  for (const [L, max, ov, al] of [[1000, 256, 32, 8], [517 * 4, 300, 24, 4], [96, 48, 16, 4]]) {
    const { size, starts } = axisPlan(L, max, ov, al);
    t.ok(size <= max && starts.every((s, i) => s % al === 0 && (i === 0 || starts[i - 1] + size - s >= ov)) && starts.at(-1) === L - size, `${L}/${max}/${ov}`);
  }
  t.throws(() => planTiles(512, 512, 32, 32, 4), RangeError);
});

t.test('tiles: feathering weights of two neighbours sum to one across the overlap', async (t) => {
  for (const mode of ['linear', 'cosine'] as const) {
    const a = edgeWeights(64, false, true, 16, mode);
    const b = edgeWeights(64, true, false, 16, mode);
    for (let i = 0; i < 16; i++) t.ok(Math.abs(a[48 + i] + b[i] - 1) < 1e-6);
    t.ok(a.every((v) => v > 0) && b.every((v) => v > 0), 'no zero weights');
    t.equal(a[0], 1, 'image borders keep full weight');
  }
});
