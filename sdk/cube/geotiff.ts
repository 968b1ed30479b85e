import { fromArrayBuffer, writeArrayBuffer } from 'geotiff';
import { readFile } from 'node:fs/promises';
import type { Cube } from './cube';
import { createCube } from './create';
import { writeFileAtomic } from './atomic-write';
import { FileFormatError } from '../core/errors';

/**
 * Reads a multi-band GeoTIFF (any sample type geotiff.js decodes) into a float32 cube. Wavelengths and
 * FWHM come from the per-band GDAL metadata (`wavelength`, `fwhm`, as written by GDAL/EnMAP-Box);
 * `meta.dataIgnoreValue` from the GDAL no-data tag, `meta.valueScale` from a per-band GDAL `scale`
 * (stored as 1/scale, e.g. 10000 for SCALE 0.0001).
 * @param path - The `.tif`.
 * @returns The cube.
 * @throws {@link FileFormatError} when the file cannot be read or decoded.
 * @example
 * const cube = await readGeoTiff('../shared/data/enmap_potsdam/original_tiles/enmap_potsdam_tile_64_0.tif');
 */
export async function readGeoTiff(path: string): Promise<Cube> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new FileFormatError(path, 'cannot read the GeoTIFF', { cause: err });
  }
  try {
    const tiff = await fromArrayBuffer(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
    const image = await tiff.getImage();
    const width = image.getWidth();
    const height = image.getHeight();
    const bands = image.getSamplesPerPixel();
    const rasters = (await image.readRasters({ interleave: false })) as unknown as ArrayLike<number>[];
    const plane = width * height;
    const data = new Float32Array(bands * plane);
    rasters.forEach((r, b) => data.set(r as ArrayLike<number>, b * plane));
    const wl: number[] = [];
    const fwhm: number[] = [];
    let scale: number | undefined;
    for (let b = 0; b < bands; b++) {
      const md = ((await image.getGDALMetadata(b)) ?? {}) as Record<string, unknown>;
      const lower = Object.fromEntries(Object.entries(md).map(([k, v]) => [k.toLowerCase(), v]));
      const w = Number(lower.wavelength);
      if (Number.isFinite(w)) wl.push(w);
      const f = Number(lower.fwhm);
      if (Number.isFinite(f)) fwhm.push(f);
      const s = Number(lower.scale);
      if (b === 0 && Number.isFinite(s) && s > 0 && s !== 1) scale = 1 / s;
    }
    if (wl.length !== bands) {
      const described = parseDescription(image.fileDirectory.hasTag('ImageDescription') ? await image.fileDirectory.loadValue('ImageDescription') : undefined);
      if (described.wavelengths?.length === bands) wl.splice(0, wl.length, ...described.wavelengths);
      if (described.fwhm?.length === bands) fwhm.splice(0, fwhm.length, ...described.fwhm);
    }
    const units = String((((await image.getGDALMetadata(0)) ?? {}) as Record<string, unknown>).wavelength_units ?? 'nm').toLowerCase();
    const k = /micro|^um$/.test(units) ? 1000 : 1;
    const haveWl = wl.length === bands;
    const noData = image.getGDALNoData();
    return createCube({
      bands,
      height,
      width,
      data,
      wavelengths: haveWl ? wl.map((v) => v * k) : Array.from({ length: bands }, (_, i) => i),
      ...(fwhm.length === bands ? { fwhm: fwhm.map((v) => v * k) } : {}),
      meta: {
        source: path,
        wavelengthsFromHeader: haveWl,
        ...(noData !== null ? { dataIgnoreValue: noData } : {}),
        ...(scale !== undefined ? { valueScale: scale } : {}),
      },
    });
  } catch (err) {
    if (err instanceof FileFormatError) throw err;
    throw new FileFormatError(path, `not a readable GeoTIFF (${(err as Error).message})`, { cause: err });
  }
}

/** Measured: geotiff.js 3.0's writer produces unreadable SampleFormat/BitsPerSample arrays somewhere between 33 and 40 samples. */
export const GEOTIFF_WRITE_MAX_BANDS = 32;

/**
 * Writes a float32, pixel-interleaved, uncompressed multi-band GeoTIFF, atomically. Wavelengths and FWHM are
 * stored in the ImageDescription tag (`spectra-edge wavelength_nm=… fwhm_nm=…`), which {@link readGeoTiff} reads. No georeferencing is written (geotiff.js would otherwise assume a whole-globe
 * EPSG:4326 grid); geo-tags of a source file are not carried over.
 * @param path - Target `.tif`.
 * @param cube - The cube (at most {@link GEOTIFF_WRITE_MAX_BANDS} bands).
 * @throws RangeError for more bands than geotiff.js can write.
 */
export async function writeGeoTiff(path: string, cube: Cube): Promise<void> {
  const { bands, height, width } = cube;
  if (bands > GEOTIFF_WRITE_MAX_BANDS) {
    throw new RangeError(
      `writeGeoTiff supports at most ${GEOTIFF_WRITE_MAX_BANDS} bands (geotiff.js writes corrupt per-sample tags beyond that); ` +
        `this cube has ${bands}: write ENVI instead`,
    );
  }
  const plane = height * width;
  const interleaved = new Float32Array(bands * plane);
  for (let p = 0; p < plane; p++) for (let b = 0; b < bands; b++) interleaved[p * bands + b] = cube.data[b * plane + p];
  // geotiff.js cannot write the GDAL_METADATA tag, so wavelengths travel in ImageDescription (read back by readGeoTiff).
  const description =
    `spectra-edge wavelength_nm=${cube.wavelengths.join(',')}` + (cube.fwhm ? ` fwhm_nm=${cube.fwhm.join(',')}` : '');
  const ab = writeArrayBuffer(interleaved, {
    width,
    height,
    ImageDescription: description,
    PhotometricInterpretation: 1,
    BitsPerSample: Array.from({ length: bands }, () => 32),
    SampleFormat: Array.from({ length: bands }, () => 3),
    ModelPixelScale: [1, 1, 0],
    ModelTiepoint: [0, 0, 0, 0, 0, 0],
  } as unknown as Parameters<typeof writeArrayBuffer>[1]);
  await writeFileAtomic(path, [new Uint8Array(ab)]);
}

function parseDescription(text: unknown): { wavelengths?: number[]; fwhm?: number[] } {
  if (typeof text !== 'string' || !text.startsWith('spectra-edge')) return {};
  const list = (key: string): number[] | undefined => {
    const m = new RegExp(`${key}=([^\\s]+)`).exec(text);
    return m ? m[1].replace(/\0+$/, '').split(',').map(Number) : undefined;
  };
  const wavelengths = list('wavelength_nm');
  const fwhm = list('fwhm_nm');
  return { ...(wavelengths ? { wavelengths } : {}), ...(fwhm ? { fwhm } : {}) };
}
