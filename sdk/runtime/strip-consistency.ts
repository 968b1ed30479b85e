import type { Cube } from '../cube/cube';
import { ScoreAccumulator } from '../metrics/full-reference';
import { type ConsistencyReport, type DegradationModel, degradationPsf, scoredMsiBands } from '../quality/consistency';
import { axisTaps, reflectPad, sourceIndices } from '../spectral/psf';
import type { RowSink } from '../cube/row-sink';

/**
 * The no-reference consistency check of `consistency()` (sdk/quality) computed on output rows as they
 * stream past, holding only a few HR rows: the SRF projection is per pixel, and the PSF blur for one LR
 * row needs `kernel_size` HR rows, kept in a ring. Same arithmetic and order as the whole-cube check, so
 * the report is identical to `consistency(fused, lrhsi, hrmsi, card)`.
 * @internal
 */
export class StripConsistency implements RowSink {
  private readonly rowTaps: Float64Array;
  private readonly colTaps: Float64Array;
  private readonly K: number;
  private readonly rowIdx: Int32Array;
  private readonly colIdx: Int32Array;
  /** Last HR rows of every band, row y in slot y % ringRows. */
  private readonly ring: Float32Array;
  private readonly ringRows: number;
  private readonly tmp: Float64Array;
  private readonly lrRow: Float32Array;
  private readonly msiRow: Float32Array;
  private readonly spatial: ScoreAccumulator;
  private readonly spectral: ScoreAccumulator;
  private nextLrRow = 0;
  private received = 0;

  constructor(
    private readonly lrhsi: Cube,
    private readonly hrmsi: Cube,
    private readonly model: DegradationModel,
  ) {
    const { scale } = model;
    const { rows, cols } = axisTaps(degradationPsf(model));
    [this.rowTaps, this.colTaps] = [rows, cols];
    const K = (this.K = rows.length);
    const { height: H, width: W } = hrmsi;
    const B = lrhsi.bands;
    const pad = reflectPad(K, scale, H, W);
    this.rowIdx = sourceIndices(H, H / scale, scale, pad, K);
    this.colIdx = sourceIndices(W, W / scale, scale, pad, K);
    this.ringRows = K + scale;
    this.ring = new Float32Array(B * this.ringRows * W);
    this.tmp = new Float64Array(W);
    this.lrRow = new Float32Array(B * (W / scale));
    this.msiRow = new Float32Array(model.msi.srf.length * W);
    const mask = model.hsi?.band_valid;
    const lrBands = Array.from({ length: B }, (_, b) => b).filter((b) => mask === undefined || !mask.some((v) => !v) || mask[b]);
    this.spatial = new ScoreAccumulator(lrBands, W / scale);
    const scored = scoredMsiBands(model.msi.srf);
    this.spectral = new ScoreAccumulator(
      model.msi.srf.flatMap((_, c) => (scored === undefined || scored[c] ? [c] : [])),
      W,
    );
  }

  writeRows(y0: number, rows: Float32Array): void {
    const B = this.lrhsi.bands;
    const W = this.hrmsi.width;
    const n = rows.length / (B * W);
    if (y0 !== this.received) throw new RangeError(`Expected output row ${this.received} next but received row ${y0}`);
    for (let i = 0; i < n; i++) {
      const y = y0 + i;
      const slot = y % this.ringRows;
      for (let b = 0; b < B; b++) this.ring.set(rows.subarray((b * n + i) * W, (b * n + i + 1) * W), (b * this.ringRows + slot) * W);
      this.projectRow(rows, n, i, y);
      this.received = y + 1;
      while (this.nextLrRow < this.hrmsi.height / this.model.scale && this.maxSource(this.nextLrRow) < this.received) this.degradeRow(this.nextLrRow++);
    }
  }

  /** The report; valid once every row has been written. */
  report(): ConsistencyReport {
    if (this.received !== this.hrmsi.height) throw new RangeError(`consistency needs all ${this.hrmsi.height} rows; received ${this.received}`);
    return { spatial: this.spatial.score(), spectral: this.spectral.score() };
  }

  private maxSource(i: number): number {
    const { K } = this;
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, this.rowIdx[i * K + k]);
    return m;
  }

  /** SRF projection of one HR row, as `projectSrf`: float64 sums over bands, stored as float32. */
  private projectRow(rows: Float32Array, n: number, i: number, y: number): void {
    const B = this.lrhsi.bands;
    const W = this.hrmsi.width;
    const acc = this.tmp;
    this.model.msi.srf.forEach((srfRow, c) => {
      acc.fill(0);
      for (let b = 0; b < B; b++) {
        const wgt = srfRow[b];
        if (wgt === 0) continue;
        const o = (b * n + i) * W;
        for (let x = 0; x < W; x++) acc[x] += wgt * rows[o + x];
      }
      this.msiRow.set(acc, c * W);
    });
    const H = this.hrmsi.height;
    this.spectral.addRow(this.msiRow, (c) => c * W, this.hrmsi.data, (c) => (c * H + y) * W, W);
  }

  /** PSF blur and decimation of one LR row, as `spatialDegrade`: rows, then columns, in float64. */
  private degradeRow(i: number): void {
    const B = this.lrhsi.bands;
    const W = this.hrmsi.width;
    const { K, rowTaps, colTaps, tmp, ring, ringRows } = this;
    const w = W / this.model.scale;
    for (let b = 0; b < B; b++) {
      tmp.fill(0);
      for (let k = 0; k < K; k++) {
        const wk = rowTaps[k];
        const src = (b * ringRows + (this.rowIdx[i * K + k] % ringRows)) * W;
        for (let x = 0; x < W; x++) tmp[x] += wk * ring[src + x];
      }
      for (let j = 0; j < w; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += colTaps[k] * tmp[this.colIdx[j * K + k]];
        this.lrRow[b * w + j] = acc;
      }
    }
    const h = this.lrhsi.height;
    this.spatial.addRow(this.lrRow, (b) => b * w, this.lrhsi.data, (b) => (b * h + i) * w, w);
  }
}
