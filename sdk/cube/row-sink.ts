/**
 * Where {@link FusionModel.fuseStream} delivers finished output rows. Rows arrive top to bottom, each row
 * exactly once, every value already blended across tile overlaps and normalised.
 * @example
 * const sink: RowSink = { writeRows: (y0, rows) => { console.log(`rows ${y0}..${y0 + rows.length / (B * W)}`); } };
 */
export interface RowSink {
  /**
   * Receives finished rows `y0 .. y0 + n - 1` of every band.
   * @param y0 - First HR row of the chunk.
   * @param rows - Band-sequential chunk, `bands x n x width` float32 (n = `rows.length / (bands * width)`).
   *   The buffer is reused for the next chunk once the returned promise settles: copy what you keep.
   */
  writeRows(y0: number, rows: Float32Array): Promise<void> | void;
}
