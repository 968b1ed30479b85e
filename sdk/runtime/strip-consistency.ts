import type { Cube } from '../cube/cube';
import { NonFiniteError } from '../errors';
import { PSNR_CAP_DB } from '../metrics/full-reference';
import type { ConsistencyReport, ConsistencyScore, DegradationModel } from '../quality/consistency';
import { gaussianTaps, reflectPad, sourceIndices } from '../spectral/psf';
import type { RowSink } from './row-sink';

/** Spectral-angle floor of `psnrAndSam` (sdk/metrics): pixels with a smaller norm are left out of SAM. */
const NORM_EPS = 1e-10;

/**
 * Per-band PSNR and mean SAM accumulated pixel row by pixel row, in the same order and precision as
 * `psnrAndSam` walks a whole cube, so the scores are identical.
 */
class ScoreAccumulator {
  private readonly se: Float64Array;
  private readonly peak: Float64Array;
  private readonly pp: Float64Array;
  private readonly gg: Float64Array;
  private readonly pg: Float64Array;
  private samSum = 0;
  private samCount = 0;
  private pixels = 0;

  constructor(
    private readonly bands: readonly number[],
    rowLength: number,
  ) {
    this.se = new Float64Array(bands.length);
    this.peak = new Float64Array(bands.length).fill(-Infinity);
    this.pp = new Float64Array(rowLength);
    this.gg = new Float64Array(rowLength);
    this.pg = new Float64Array(rowLength);
  }

  /** One row of n pixels; band b of pixel j is `pred[predAt(b) + j]` and `ref[refAt(b) + j]`. */
  addRow(pred: Float32Array, predAt: (b: number) => number, ref: Float32Array, refAt: (b: number) => number, n: number): void {
    const { pp, gg, pg } = this;
    pp.fill(0, 0, n);
    gg.fill(0, 0, n);
    pg.fill(0, 0, n);
    this.bands.forEach((b, k) => {
      const po = predAt(b);
      const ro = refAt(b);
      let se = this.se[k];
      let peak = this.peak[k];
      for (let j = 0; j < n; j++) {
        const pv = pred[po + j];
        const gv = ref[ro + j];
        if (pv - pv !== 0 || gv - gv !== 0) throw new NonFiniteError(`NaN/Inf in band ${b} at pixel ${this.pixels + j}`);
        const d = pv - gv;
        se += d * d;
        if (gv > peak) peak = gv;
        pp[j] += pv * pv;
        gg[j] += gv * gv;
        pg[j] += pv * gv;
      }
      this.se[k] = se;
      this.peak[k] = peak;
    });
    for (let j = 0; j < n; j++) {
      const pn = Math.sqrt(pp[j]);
      const gn = Math.sqrt(gg[j]);
      if (!(pn > NORM_EPS && gn > NORM_EPS)) continue;
      this.samSum += Math.acos(Math.min(1, Math.max(-1, pg[j] / (pn * gn))));
      this.samCount++;
    }
    this.pixels += n;
  }

  score(): ConsistencyScore {
    const scores: number[] = [];
    this.bands.forEach((_, k) => {
      const peak = this.peak[k];
      if (peak > 0) scores.push(Math.min(10 * Math.log10((peak * peak) / (this.se[k] / this.pixels)), PSNR_CAP_DB));
    });
    return {
      psnr: scores.length ? scores.reduce((a, v) => a + v, 0) / scores.length : NaN,
      sam: this.samCount === 0 ? NaN : ((this.samSum / this.samCount) * 180) / Math.PI,
    };
  }
}

/**
 * The no-reference consistency check of `consistency()` (sdk/quality) computed on output rows as they
 * stream past, holding only a few HR rows: the SRF projection is per pixel, and the PSF blur for one LR
 * row needs `kernel_size` HR rows, kept in a ring. Same arithmetic and order as the whole-cube check, so
 * the report is identical to `consistency(fused, lrhsi, hrmsi, card)`.
 * @internal
 */
export class StripConsistency implements RowSink {
  private readonly taps: Float64Array;
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
    const K = model.psf.kernel_size;
    const { height: H, width: W } = hrmsi;
    const B = lrhsi.bands;
    const pad = reflectPad(K, scale, H, W);
    this.taps = gaussianTaps({ kernelSize: K, sigma: model.psf.sigma });
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
    this.spectral = new ScoreAccumulator(
      model.msi.srf.map((_, c) => c),
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
    const K = this.model.psf.kernel_size;
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
    const K = this.model.psf.kernel_size;
    const w = W / this.model.scale;
    const { taps, tmp, ring, ringRows } = this;
    for (let b = 0; b < B; b++) {
      tmp.fill(0);
      for (let k = 0; k < K; k++) {
        const wk = taps[k];
        const src = (b * ringRows + (this.rowIdx[i * K + k] % ringRows)) * W;
        for (let x = 0; x < W; x++) tmp[x] += wk * ring[src + x];
      }
      for (let j = 0; j < w; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += taps[k] * tmp[this.colIdx[j * K + k]];
        this.lrRow[b * w + j] = acc;
      }
    }
    const h = this.lrhsi.height;
    this.spatial.addRow(this.lrRow, (b) => b * w, this.lrhsi.data, (b) => (b * h + i) * w, w);
  }
}
