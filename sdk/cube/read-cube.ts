import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Cube } from './cube';
import { readEnvi, writeEnvi } from './envi';
import { readGeoTiff, writeGeoTiff } from './geotiff';
import { type NpyLayout, readNpy, writeNpy } from './npy';
import { readPngStack, writePngStack } from './png-stack';
import { FileFormatError } from '../core/errors';

/** Options for {@link readCube}. */
export interface ReadCubeOptions {
  /** Axis order of 3-D `.npy` files. @defaultValue 'chw' */
  npyLayout?: NpyLayout;
  /** Wavelengths for formats that carry none (.npy, PNG stacks). */
  wavelengths?: readonly number[];
}

/**
 * Reads a cube, choosing the reader from the path: `.hdr` (ENVI), `.npy`, `.tif`/`.tiff` (GeoTIFF),
 * a directory of `.png` files (one band each, in name order) or a comma-separated list of `.png` files.
 * @param path - File, directory or PNG list.
 * @param options - See {@link ReadCubeOptions}.
 * @returns The cube, values as stored (see `meta.valueScale`).
 * @throws {@link FileFormatError} when the format is not recognised or the file is bad.
 * @example
 * const lrhsi = await readCube('scene_lr.hdr');
 */
export async function readCube(path: string, options: ReadCubeOptions = {}): Promise<Cube> {
  if (path.includes(',')) return readPngStack(path.split(','), pngOptions(options));
  const info = await stat(path).catch((err: unknown) => {
    throw new FileFormatError(path, 'file not found', { cause: err });
  });
  if (info.isDirectory()) {
    const pngs = (await readdir(path)).filter((f) => /\.png$/i.test(f)).sort();
    if (pngs.length === 0) throw new FileFormatError(path, 'directory holds no .png band files');
    return readPngStack(pngs.map((f) => join(path, f)), pngOptions(options));
  }
  switch (extname(path).toLowerCase()) {
    case '.hdr':
      return readEnvi(path);
    case '.npy':
      return readNpy(path, { layout: options.npyLayout ?? 'chw', ...(options.wavelengths ? { wavelengths: options.wavelengths } : {}) });
    case '.tif':
    case '.tiff':
      return readGeoTiff(path);
    case '.png':
      return readPngStack([path], pngOptions(options));
    default:
      throw new FileFormatError(path, `unknown cube format '${extname(path)}' (known: .hdr, .npy, .tif, .png or a folder of .png)`);
  }
}

/**
 * Writes a cube in the format its path names: `.hdr` (ENVI float32), `.npy`, `.tif` (GeoTIFF), or a directory
 * (16-bit PNG stack).
 * @param path - Target.
 * @param cube - The cube.
 */
export async function writeCube(path: string, cube: Cube): Promise<void> {
  switch (extname(path).toLowerCase()) {
    case '.hdr':
      await writeEnvi(path, cube);
      return;
    case '.npy':
      await writeNpy(path, cube);
      return;
    case '.tif':
    case '.tiff':
      await writeGeoTiff(path, cube);
      return;
    case '':
      await writePngStack(path, cube);
      return;
    default:
      throw new FileFormatError(path, `unknown output format '${extname(path)}' (known: .hdr, .npy, .tif, or a directory for PNGs)`);
  }
}

function pngOptions(o: ReadCubeOptions): { wavelengths?: readonly number[] } {
  return o.wavelengths ? { wavelengths: o.wavelengths } : {};
}
