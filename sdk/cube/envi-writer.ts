import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { RowSink } from './row-sink';
import { OutputWriteError, explainFsError } from '../core/errors';
import type { Cube } from './cube';
import { writeFileAtomic } from './atomic-write';
import { enviDataPath, enviHeaderText } from './envi';

/** Options for {@link EnviRowWriter.create}. */
export interface EnviRowWriterOptions {
  /**
   * `'bsq'` (band-sequential, as {@link writeEnvi} writes by default): each chunk lands with one positional
   * write per band. `'bil'` (band-interleaved by line): one write per chunk, the file grows front to back.
   * Both hold only the chunk in memory. @defaultValue 'bsq'
   */
  interleave?: 'bsq' | 'bil';
  /** Header fields, e.g. `{ description: 'fused by spectra' }`; may also be given (or added) at {@link EnviRowWriter.commit}. */
  extra?: Record<string, string>;
}

/** Shape and band grid of the cube an {@link EnviRowWriter} receives. */
export type EnviRowShape = Pick<Cube, 'bands' | 'height' | 'width' | 'wavelengths' | 'fwhm'>;

/**
 * Writes an ENVI float32 cube (`<stem>.hdr` + `<stem>.img`) from row chunks, so a scene larger than memory
 * can be written as it is produced. Rows may arrive in any order, each once. Data goes to a temporary
 * sibling of the `.img` and is renamed into place, header last, only by {@link EnviRowWriter.commit} once
 * every row has arrived; {@link EnviRowWriter.abort} (or any write error) removes it, so no file at the
 * target ever claims to be complete when it is not. Samples are stored in this machine's byte order, which
 * the header records.
 * @example
 * const out = await EnviRowWriter.create('fused.hdr', { bands: 31, height: 2048, width: 2048, wavelengths });
 * try {
 *   await model.fuseStream(lrhsi, hrmsi, out, { tile: 288 });
 *   await out.commit();
 * } catch (err) {
 *   await out.abort();
 *   throw err;
 * }
 */
export class EnviRowWriter implements RowSink {
  private readonly written: Uint8Array;
  private rowsWritten = 0;
  private scratch: Float32Array | undefined;
  private closed = false;

  private constructor(
    /** The header this writer will create. */
    readonly header: string,
    /** The data file this writer will create. */
    readonly data: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly shape: EnviRowShape,
    private readonly interleave: 'bsq' | 'bil',
    private readonly extra: Record<string, string>,
  ) {
    this.written = new Uint8Array(shape.height);
  }

  /**
   * Opens the temporary data file next to `<stem>.img`.
   * @param hdrPath - The `.hdr` to write; the data file is the same stem with `.img`.
   * @param shape - Bands, height, width and wavelengths (nm) of the cube.
   * @param options - See {@link EnviRowWriterOptions}.
   * @returns The writer.
   * @throws RangeError when the shape is not positive integers or the wavelengths do not match the bands.
   * @throws {@link OutputWriteError} when the file cannot be created (missing directory, no permission).
   */
  static async create(hdrPath: string, shape: EnviRowShape, options: EnviRowWriterOptions = {}): Promise<EnviRowWriter> {
    if (typeof hdrPath !== 'string' || !/\.hdr$/i.test(hdrPath)) throw new TypeError(`Expected an output path ending in .hdr but received ${String(hdrPath)}`);
    for (const k of ['bands', 'height', 'width'] as const) {
      if (!Number.isInteger(shape[k]) || shape[k] < 1) throw new RangeError(`Expected shape.${k} to be a positive integer but received ${shape[k]}`);
    }
    if (shape.wavelengths.length !== shape.bands) throw new RangeError(`Expected ${shape.bands} wavelengths but received ${shape.wavelengths.length}`);
    const interleave = options.interleave ?? 'bsq';
    if (interleave !== 'bsq' && interleave !== 'bil') throw new TypeError(`Expected interleave 'bsq' or 'bil' but received '${String(interleave)}'`);
    const data = enviDataPath(hdrPath);
    const tmp = `${data}.${process.pid}.${Date.now().toString(36)}.tmp`;
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'w');
    } catch (err) {
      throw new OutputWriteError(data, `cannot create the output data file (${explainFsError(err)})`, { cause: err });
    }
    return new EnviRowWriter(hdrPath, data, tmp, fh, shape, interleave, options.extra ?? {});
  }

  /**
   * Writes rows `y0 .. y0 + n - 1` of every band.
   * @param y0 - First row.
   * @param rows - `bands x n x width` float32, band-sequential.
   * @throws RangeError when the chunk does not fit the shape or repeats a row.
   * @throws {@link OutputWriteError} when the write fails (disk full, file size limit); the temporary file is removed.
   */
  async writeRows(y0: number, rows: Float32Array): Promise<void> {
    if (this.closed) throw new Error(`EnviRowWriter for ${this.header} is already committed or aborted`);
    const { bands: B, height: H, width: W } = this.shape;
    const n = rows.length / (B * W);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Expected a chunk of ${B} bands x n rows x ${W} values but received ${rows.length} values`);
    if (!Number.isInteger(y0) || y0 < 0 || y0 + n > H) throw new RangeError(`Expected rows within 0..${H - 1} but received ${y0}..${y0 + n - 1}`);
    for (let y = y0; y < y0 + n; y++) if (this.written[y]) throw new RangeError(`row ${y} of ${this.header} was already written`);
    try {
      if (this.interleave === 'bsq') {
        for (let b = 0; b < B; b++) await this.writeAt(rows.subarray(b * n * W, (b + 1) * n * W), ((b * H + y0) * W) * 4);
      } else {
        if (this.scratch === undefined || this.scratch.length < rows.length) this.scratch = new Float32Array(rows.length);
        const bil = this.scratch.subarray(0, rows.length);
        for (let i = 0; i < n; i++) for (let b = 0; b < B; b++) bil.set(rows.subarray((b * n + i) * W, (b * n + i + 1) * W), (i * B + b) * W);
        await this.writeAt(bil, y0 * B * W * 4);
      }
    } catch (err) {
      await this.abort();
      throw new OutputWriteError(this.data, `writing rows ${y0}..${y0 + n - 1} failed (${explainFsError(err)}); nothing was left at the target`, { cause: err });
    }
    this.written.fill(1, y0, y0 + n);
    this.rowsWritten += n;
  }

  /**
   * Flushes the data to disk, renames it into place and writes the header.
   * @param extra - More header fields (e.g. quality scores known only at the end), merged over the options' `extra`.
   * @returns The paths written.
   * @throws {@link OutputWriteError} when rows are missing (the data is discarded) or the final writes fail.
   */
  async commit(extra: Record<string, string> = {}): Promise<{ header: string; data: string }> {
    if (this.closed) throw new Error(`EnviRowWriter for ${this.header} is already committed or aborted`);
    if (this.rowsWritten !== this.shape.height) {
      const missing = this.written.indexOf(0);
      await this.abort();
      throw new OutputWriteError(this.data, `only ${this.rowsWritten} of ${this.shape.height} rows were written (first missing: ${missing}); the incomplete data was discarded`);
    }
    this.closed = true;
    try {
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.data);
    } catch (err) {
      await this.fh.close().catch(() => undefined);
      await rm(this.tmp, { force: true });
      throw new OutputWriteError(this.data, `cannot finish the output data file (${explainFsError(err)})`, { cause: err });
    }
    const text = enviHeaderText(this.shape, { dataType: 4, interleave: this.interleave, byteOrder: endianness() === 'LE' ? 0 : 1, extra: { ...this.extra, ...extra } });
    try {
      await writeFileAtomic(this.header, [Buffer.from(text, 'latin1')]);
    } catch (err) {
      // The data is complete but unlabelled; without a header no reader takes it for a cube, so drop it too.
      await rm(this.data, { force: true });
      throw err;
    }
    return { header: this.header, data: this.data };
  }

  /** Discards everything written so far (idempotent). */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }

  /** fs writes may be partial (a file size limit lets the first one through in part), so loop until done. */
  private async writeAt(values: Float32Array, position: number): Promise<void> {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, position + done);
      if (bytesWritten === 0) throw new Error('the file system accepted no more bytes');
      done += bytesWritten;
    }
  }
}
