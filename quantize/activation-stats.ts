/**
 * Activation statistics for calibration: a histogram of |x| that grows with the data, and the three ways to turn
 * it into a clipping threshold (MinMax, Percentile, Entropy).
 */

/** How a per-tensor activation range is chosen. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** Known calibration methods, for option validation. */
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = Object.freeze(['minmax', 'percentile', 'entropy']);

const BINS = 2048;
/** Entropy calibration never clips more than this fraction of the values. */
const MAX_CLIPPED = 0.01;

/**
 * A histogram of absolute values over `[0, bins * width)`. When a value exceeds the range, adjacent bins are
 * merged pairwise (width doubles) until it fits, so one pass over the calibration set suffices and no bin ever
 * splits an earlier count.
 */
export class AbsHistogram {
  readonly counts = new Float64Array(BINS);
  width = 0;
  absMax = 0;
  total = 0;

  /** Adds every value of a batch. */
  add(values: Float32Array): void {
    let batchMax = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      // `a !== a` lets NaN through to the finiteness check below.
      if (a > batchMax || a !== a) batchMax = a;
    }
    if (!Number.isFinite(batchMax)) throw new RangeError('activation holds NaN or Inf during calibration');
    if (this.width === 0) {
      if (batchMax === 0) {
        this.total += values.length;
        this.counts[0] += values.length;
        return;
      }
      this.width = batchMax / BINS;
    }
    while (batchMax >= this.width * BINS) this.coarsen();
    this.absMax = Math.max(this.absMax, batchMax);
    const inv = 1 / this.width;
    for (let i = 0; i < values.length; i++) {
      const bin = Math.min(BINS - 1, Math.floor(Math.abs(values[i]) * inv));
      this.counts[bin]++;
    }
    this.total += values.length;
  }

  private coarsen(): void {
    for (let i = 0; i < BINS / 2; i++) this.counts[i] = this.counts[2 * i] + this.counts[2 * i + 1];
    this.counts.fill(0, BINS / 2);
    this.width *= 2;
  }

  /**
   * The clipping threshold (largest |x| kept) by a method.
   * @param method - MinMax: the largest |x| seen. Percentile: the |x| below which `percentile` % of values fall.
   *   Entropy: the threshold minimising the KL divergence between the clipped distribution and its 128-level
   *   quantized version (the TensorRT calibrator's criterion).
   * @param percentile - For `percentile`, in (0, 100].
   */
  threshold(method: CalibrationMethod, percentile = 99.99): number {
    if (this.absMax === 0) return 0;
    if (method === 'minmax') return this.absMax;
    if (method === 'percentile') return Math.min(this.absMax, this.percentileEdge(percentile));
    return Math.min(this.absMax, this.entropyEdge());
  }

  private percentileEdge(p: number): number {
    const target = (p / 100) * this.total;
    let acc = 0;
    for (let i = 0; i < BINS; i++) {
      acc += this.counts[i];
      if (acc >= target) return (i + 1) * this.width;
    }
    return BINS * this.width;
  }

  private entropyEdge(): number {
    const levels = 128;
    let last = BINS - 1;
    while (last > 0 && this.counts[last] === 0) last--;
    const used = last + 1;
    if (used <= levels) return used * this.width;
    let best = used - 0.5;
    let bestKl = Infinity;
    const p = new Float64Array(used);
    const q = new Float64Array(used);
    const tail = new Float64Array(used + 1);
    for (let k = used - 1; k >= 0; k--) tail[k] = tail[k + 1] + this.counts[k];
    for (let i = levels; i <= used; i++) {
      // Reference: the first i bins, with everything clipped folded into the last one.
      const outliers = tail[i];
      // When |x| has an empty region near zero (the (x - 0.5) * 2 inputs of a student: |x| in [0.2, 1]),
      // clipping at the lower edge of the support folds everything into one bin and scores a KL of 0. Candidates
      // that clip more than MAX_CLIPPED of the values are therefore not considered.
      if (outliers > MAX_CLIPPED * this.total) continue;
      for (let k = 0; k < i; k++) p[k] = this.counts[k];
      p[i - 1] += outliers;
      // Candidate: the same i bins merged into `levels` groups, each group's mass spread over its non-empty bins.
      q.fill(0, 0, i);
      const per = i / levels;
      for (let g = 0; g < levels; g++) {
        const start = Math.floor(g * per);
        const end = g === levels - 1 ? i : Math.floor((g + 1) * per);
        let mass = 0;
        let nonEmpty = 0;
        for (let k = start; k < end; k++) {
          mass += this.counts[k];
          if (this.counts[k] > 0) nonEmpty++;
        }
        if (nonEmpty === 0) continue;
        for (let k = start; k < end; k++) if (this.counts[k] > 0) q[k] = mass / nonEmpty;
      }
      let pSum = 0;
      let qSum = 0;
      for (let k = 0; k < i; k++) {
        pSum += p[k];
        qSum += q[k];
      }
      let kl = 0;
      for (let k = 0; k < i; k++) {
        if (p[k] === 0) continue;
        const pk = p[k] / pSum;
        const qk = q[k] / qSum;
        // A bin the candidate leaves empty while the reference is not: TensorRT smooths instead of skipping.
        kl += pk * Math.log(pk / (qk > 0 ? qk : 1e-12));
      }
      if (kl < bestKl) {
        bestKl = kl;
        best = i;
      }
    }
    return (best + 0.5) * this.width;
  }
}
