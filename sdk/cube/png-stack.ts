import sharp from 'sharp';
import { basename, join } from 'node:path';
import type { Cube } from './cube';
import { createCube } from './create';
import { writeFileAtomic } from './atomic-write';
import { FileFormatError } from '../core/errors';

/** Options for {@link readPngStack}. */
export interface ReadPngStackOptions {
  /** Band centres in nm, one per file; band indices when omitted (`meta.wavelengthsFromHeader` false). */
  wavelengths?: readonly number[];
}

/** Options for {@link writePngStack}. */
export interface WritePngStackOptions {
  /** @defaultValue 16 */
  bitDepth?: 8 | 16;
  /** Stored value = round(value * valueScale), clamped. @defaultValue 255 or 65535 (0..1 maps to the full range) */
  valueScale?: number;
  /** File name prefix; files are `<prefix>_<band index, 2 digits>.png`. @defaultValue 'band' */
  prefix?: string;
}

/**
 * Reads one grayscale PNG per band (8- or 16-bit) into a cube. Sharp's raw pipeline handles at most
 * 4 channels, so every band is decoded on its own. Values stay as stored; `meta.valueScale` is set to
 * 255 or 65535 (the bit depth's full scale) so {@link FusionModel.fuse} maps them to 0..1.
 * @param paths - One file per band, in band order.
 * @param options - See {@link ReadPngStackOptions}.
 * @returns The cube.
 * @throws {@link FileFormatError} when a file is unreadable, not single-channel, or differs in size or bit depth.
 * @example
 * const msi = await readPngStack(['r.png', 'g.png', 'b.png'], { wavelengths: [640, 550, 460] });
 */
export async function readPngStack(paths: readonly string[], options: ReadPngStackOptions = {}): Promise<Cube> {
  if (paths.length === 0) throw new RangeError('Expected at least one PNG path');
  let height = 0;
  let width = 0;
  let depth = '';
  let data = new Float32Array(0);
  for (const [b, path] of paths.entries()) {
    let meta: sharp.Metadata;
    try {
      meta = await sharp(path).metadata();
    } catch (err) {
      throw new FileFormatError(path, `cannot decode as an image (${(err as Error).message})`, { cause: err });
    }
    if (meta.channels !== 1 && !(meta.channels === 2 && meta.hasAlpha)) {
      throw new FileFormatError(path, `expected a single-channel (grayscale) PNG per band but it has ${meta.channels} channels`);
    }
    const d = meta.depth === 'ushort' ? 'ushort' : 'uchar';
    if (b === 0) {
      height = meta.height;
      width = meta.width;
      depth = d;
      data = new Float32Array(paths.length * height * width);
    } else if (meta.height !== height || meta.width !== width || d !== depth) {
      throw new FileFormatError(
        path,
        `band ${b} is ${meta.width}x${meta.height} ${d} but band 0 (${basename(paths[0])}) is ${width}x${height} ${depth}`,
      );
    }
    const pipeline = d === 'ushort' ? sharp(path).toColourspace('grey16').raw({ depth: 'ushort' }) : sharp(path).toColourspace('b-w').raw();
    const buf = await pipeline.toBuffer();
    const px = d === 'ushort' ? new Uint16Array(buf.buffer, buf.byteOffset, height * width) : buf.subarray(0, height * width);
    data.set(px, b * height * width);
  }
  return createCube({
    bands: paths.length,
    height,
    width,
    data,
    wavelengths: options.wavelengths ?? paths.map((_, i) => i),
    meta: { source: paths[0], valueScale: depth === 'ushort' ? 65535 : 255, wavelengthsFromHeader: options.wavelengths !== undefined },
  });
}

/**
 * Writes one grayscale PNG per band (8- or 16-bit), each atomically.
 * @param dir - Existing output directory.
 * @param cube - The cube (0..1 units unless `valueScale` says otherwise).
 * @param options - See {@link WritePngStackOptions}.
 * @returns The paths written, in band order.
 */
export async function writePngStack(dir: string, cube: Cube, options: WritePngStackOptions = {}): Promise<string[]> {
  const bitDepth = options.bitDepth ?? 16;
  if (bitDepth !== 8 && bitDepth !== 16) throw new RangeError(`Expected bitDepth 8 or 16 but received ${String(bitDepth)}`);
  const max = bitDepth === 16 ? 65535 : 255;
  const scale = options.valueScale ?? max;
  const plane = cube.height * cube.width;
  const paths: string[] = [];
  for (let b = 0; b < cube.bands; b++) {
    const px = bitDepth === 16 ? new Uint16Array(plane) : new Uint8Array(plane);
    for (let i = 0; i < plane; i++) px[i] = Math.min(max, Math.max(0, Math.round(cube.data[b * plane + i] * scale)));
    const img = sharp(px, { raw: { width: cube.width, height: cube.height, channels: 1 } });
    const png = await (bitDepth === 16 ? img.toColourspace('grey16') : img.toColourspace('b-w')).png().toBuffer();
    const path = join(dir, `${options.prefix ?? 'band'}_${String(b).padStart(2, '0')}.png`);
    await writeFileAtomic(path, [png]);
    paths.push(path);
  }
  return paths;
}
