import sharp from 'sharp';
import type { Cube } from './cube';
import { nearestBand } from './create';
import { bandValidity } from './band-validity';
import { writeFileAtomic } from './atomic-write';

/** Options for {@link quicklook}. */
export interface QuicklookOptions {
  /** Wavelengths (nm) shown as red, green, blue. @defaultValue [640, 550, 460] */
  rgb?: readonly [number, number, number];
  /** Percentiles mapped to black and white per channel. @defaultValue [2, 98] */
  stretch?: readonly [number, number];
  /** A chosen wavelength farther than this from every band falls back to band thirds. @defaultValue 30 */
  maxDistanceNm?: number;
}

/** The bands a quicklook uses and why. */
export interface QuicklookBands {
  bands: [number, number, number];
  /** `'wavelength'`: nearest bands to the wanted wavelengths; `'thirds'`: the cube does not cover them. */
  method: 'wavelength' | 'thirds';
}

/**
 * Picks the bands for an RGB quicklook among the valid ones (`meta.bandValid`): the nearest to the wanted
 * wavelengths, or the valid bands at 5/6, 1/2 and 1/6 of their range (as R, G, B) when the cube does not reach
 * them (e.g. a SWIR-only cube).
 * @param cube - The cube.
 * @param options - See {@link QuicklookOptions}.
 * @returns Band indices for R, G, B and the method.
 * @throws RangeError when no band is valid.
 */
export function quicklookBands(cube: Cube, options: QuicklookOptions = {}): QuicklookBands {
  const rgb = options.rgb ?? [640, 550, 460];
  const maxD = options.maxDistanceNm ?? 30;
  // Invalid bands (meta.bandValid false: not covered by the input, or not learnt) hold zeros; never show them.
  const valid = bandValidity(cube);
  const usable = cube.wavelengths.flatMap((_, b) => (valid[b] ? [b] : []));
  if (usable.length === 0) throw new RangeError('Expected a cube with at least one valid band for a quicklook but every band is marked invalid');
  const picks = rgb.map((nm) => {
    const p = nearestBand(usable.map((b) => cube.wavelengths[b]), nm);
    return { index: usable[p.index], distance: p.distance };
  });
  if (picks.every((p) => p.distance <= maxD)) return { bands: picks.map((p) => p.index) as [number, number, number], method: 'wavelength' };
  const n = usable.length;
  const at = (f: number): number => usable[Math.min(n - 1, Math.floor(f * n))];
  return { bands: [at(5 / 6), at(1 / 2), at(1 / 6)], method: 'thirds' };
}

/**
 * Renders an 8-bit RGB PNG of three bands with a robust per-channel percentile stretch.
 * @param cube - The cube.
 * @param options - See {@link QuicklookOptions}.
 * @returns PNG bytes and the bands used.
 * @example
 * const { png } = await quicklook(fused);
 */
export async function quicklook(cube: Cube, options: QuicklookOptions = {}): Promise<{ png: Buffer } & QuicklookBands> {
  const [lo, hi] = options.stretch ?? [2, 98];
  if (!(lo >= 0 && hi <= 100 && lo < hi)) throw new RangeError(`Expected stretch percentiles 0 <= lo < hi <= 100 but received [${lo}, ${hi}]`);
  const pick = quicklookBands(cube, options);
  const plane = cube.height * cube.width;
  const rgb = new Uint8Array(plane * 3);
  pick.bands.forEach((band, c) => {
    const values = cube.data.subarray(band * plane, (band + 1) * plane);
    const sorted = Float32Array.from(values).filter((v) => Number.isFinite(v)).sort();
    const q = (p: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * (sorted.length - 1)))]);
    const a = q(lo);
    const b = q(hi);
    const span = b > a ? b - a : 1;
    for (let i = 0; i < plane; i++) {
      const v = Number.isFinite(values[i]) ? ((values[i] - a) / span) * 255 : 0;
      rgb[i * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
    }
  });
  const png = await sharp(rgb, { raw: { width: cube.width, height: cube.height, channels: 3 } }).png().toBuffer();
  return { png, ...pick };
}

/**
 * Writes {@link quicklook} to a file atomically.
 * @param path - Target `.png`.
 * @param cube - The cube.
 * @param options - See {@link QuicklookOptions}.
 * @returns The bands used.
 */
export async function writeQuicklook(path: string, cube: Cube, options: QuicklookOptions = {}): Promise<QuicklookBands> {
  const { png, ...pick } = await quicklook(cube, options);
  await writeFileAtomic(path, [png]);
  return pick;
}
