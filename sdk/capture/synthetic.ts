import type { Cube } from '../cube/cube';
import { cropCube } from '../cube/create';
import { readNpy } from '../cube/npy';
import type { Logger } from '../core/log';
import { type ModelCard, readModelCard } from '../core/model-card';
import { cardPsf, spatialDegrade } from '../spectral/psf';
import { resampleCube, resamplingMatrix } from '../spectral/resample';
import { WavelengthError } from '../core/errors';
import { projectSrf } from '../spectral/srf';
import type { CaptureOptions } from './frame';
import { addAwgn, gaussianRng } from './noise';
import { FramePacer } from './frame-pacer';
import { QueuedSource } from './queued-source';

/** CAVE band centres: 400..700 nm in 10 nm steps. */
export const CAVE_WAVELENGTHS: readonly number[] = Array.from({ length: 31 }, (_, i) => 400 + 10 * i);

/** Options for {@link SyntheticSource}. */
export interface SyntheticOptions extends CaptureOptions {
  /** Model card (or its path): scale, PSF, SRF and the HSI band grid to simulate. */
  card: ModelCard | string;
  /**
   * High-resolution scene: a cube (values 0..1), a `.npy` path (H x W x B, divided by `valueScale`), or
   * `'generated'` for a procedural scene (the CLI passes the CAVE cloth scene of its data folder). @defaultValue 'generated'
   */
  scene?: Cube | string;
  /** Wavelengths of a `.npy` scene. @defaultValue {@link CAVE_WAVELENGTHS} */
  sceneWavelengths?: readonly number[];
  /** Raw value of reflectance 1 in a `.npy` scene. @defaultValue 65535 */
  valueScale?: number;
  /** HR frame size [height, width]; frames pan across a larger scene. Multiples of the scale. @defaultValue the whole scene */
  size?: readonly [number, number];
  /** Pixels the window moves per frame (diagonally, bouncing at the edges). @defaultValue 8 */
  step?: number;
  /** AWGN on the LR-HSI at this SNR in dB; null for none. @defaultValue 35 */
  snrDb?: number | null;
  /** AWGN on the HR-MSI; null for none. @defaultValue null */
  msiSnrDb?: number | null;
  /** Noise seed; frame i uses seed + i. @defaultValue 0 */
  seed?: number;
  /** Frames per second to pace output at; 0 for as fast as consumed. @defaultValue 0 */
  fps?: number;
  log?: Logger;
}

/**
 * Frames simulated from a high-resolution cube with the host's Wald protocol: ground truth = an HR
 * window of the scene; LR-HSI = Gaussian PSF blur + decimation by the card's scale (the same code as
 * `sdk/spectral`, which mirrors `spectra_distill.degrade`) plus noise at `snrDb`; HR-MSI = projection
 * through the card's SRF. Every frame carries its ground truth in `truth`, so the pipeline can report
 * PSNR. The scene is resampled onto the card's band grid when they differ.
 * @example
 * const source = new SyntheticSource({ card: 'models/student.card.json', maxFrames: 20, snrDb: 35 });
 * for await (const f of source) console.log(f.sequence, f.lrhsi.height, f.truth?.height);
 */
export class SyntheticSource extends QueuedSource {
  private readonly o: SyntheticOptions;
  private readonly pacer: FramePacer;

  /**
   * @param options - See {@link SyntheticOptions}.
   * @throws RangeError for a bad size, step, fps or SNR.
   */
  constructor(options: SyntheticOptions) {
    super('synthetic', options, options.log);
    this.o = options;
    if (options.size && !options.size.every((v) => Number.isInteger(v) && v > 0)) throw new RangeError(`Expected size [height, width] of positive integers but received [${options.size.join(', ')}]`);
    if (options.step !== undefined && !(Number.isInteger(options.step) && options.step >= 0)) throw new RangeError(`Expected step >= 0 but received ${options.step}`);
    this.pacer = new FramePacer(options.fps);
    for (const k of ['snrDb', 'msiSnrDb'] as const) {
      const v = options[k];
      if (v !== undefined && v !== null && !Number.isFinite(v)) throw new RangeError(`Expected ${k} to be a finite number of dB or null but received ${v}`);
    }
  }

  protected async produce(): Promise<void> {
    const card = typeof this.o.card === 'string' ? await readModelCard(this.o.card) : this.o.card;
    const scene = await this.loadScene(card);
    const s = card.scale;
    const [fh, fw] = this.o.size ?? [scene.height - (scene.height % s), scene.width - (scene.width % s)];
    if (fh % s !== 0 || fw % s !== 0) throw new RangeError(`Expected size multiples of the scale ${s} but received ${fh} x ${fw}`);
    if (fh > scene.height || fw > scene.width) throw new RangeError(`Frame ${fh} x ${fw} is larger than the ${scene.height} x ${scene.width} scene`);
    const psf = cardPsf(card.psf);
    const step = this.o.step ?? 8;
    const snr = this.o.snrDb === undefined ? 35 : this.o.snrDb;
    const msiSnr = this.o.msiSnrDb ?? null;
    const seed = this.o.seed ?? 0;
    this.pacer.start();
    for (let i = 0; !this.stopped; i++) {
      const top = bounce(i * step, scene.height - fh, s);
      const left = bounce(i * step, scene.width - fw, s);
      const truth = fh === scene.height && fw === scene.width ? scene : cropCube(scene, top, left, fh, fw);
      const random = gaussianRng(seed + i);
      let lrhsi = spatialDegrade(truth, s, psf);
      if (snr !== null) lrhsi = addAwgn(lrhsi, snr, random).cube;
      let hrmsi = projectSrf(truth, card.msi.srf);
      if (msiSnr !== null) hrmsi = addAwgn(hrmsi, msiSnr, random).cube;
      await this.pacer.wait(i);
      const meta = { source: 'synthetic', scene: String(scene.meta?.source ?? 'generated'), window: [top, left, fh, fw], snrDb: snr, msiSnrDb: msiSnr, seed: seed + i };
      await this.emit({ lrhsi: { ...lrhsi, meta }, hrmsi: { ...hrmsi, meta }, truth, sequence: i, capturedAt: new Date(), meta });
    }
  }

  private async loadScene(card: ModelCard): Promise<Cube> {
    const wanted = this.o.scene ?? 'generated';
    let scene: Cube;
    if (wanted === 'generated') {
      const [h, w] = this.o.size ?? [128, 128];
      scene = generatedScene(h, w, card.hsi.wavelengths_nm, this.o.seed ?? 0);
    } else if (typeof wanted === 'string') {
      const raw = await readNpy(wanted, { layout: 'hwc', wavelengths: this.o.sceneWavelengths ?? CAVE_WAVELENGTHS });
      const k = 1 / (this.o.valueScale ?? 65535);
      const data = raw.data.map((v) => v * k);
      scene = { ...raw, data, meta: { source: wanted } };
    } else {
      scene = wanted;
    }
    const grid = card.hsi.wavelengths_nm;
    const same = scene.bands === grid.length && scene.wavelengths.every((w, i) => Math.abs(w - grid[i]) < 1e-6);
    if (!same) {
      this.log.info(`resampling the ${scene.bands}-band scene onto the card's ${grid.length} bands`);
      scene = { ...resampleScene(scene, grid, card.hsi.fwhm_nm ?? undefined), meta: scene.meta };
    }
    return scene;
  }
}

/**
 * The card's band grid from a scene: Gaussian band integration as the host does, or, where a wide
 * target band reaches past the scene's coverage (a 40 nm band at 700 nm from CAVE's 400..700 nm),
 * linear interpolation between the nearest scene bands, so a simulation never has empty bands.
 */
function resampleScene(scene: Cube, grid: readonly number[], fwhm: readonly number[] | undefined): Cube {
  try {
    return resampleCube(scene, grid, fwhm);
  } catch (err) {
    if (!(err instanceof WavelengthError)) throw err;
  }
  const { matrix } = resamplingMatrix(scene.wavelengths, scene.fwhm, undefined, grid, fwhm, 'linear');
  const plane = scene.height * scene.width;
  const data = new Float32Array(grid.length * plane);
  matrix.forEach((row, j) => {
    const out = data.subarray(j * plane, (j + 1) * plane);
    row.forEach((w, i) => {
      if (w === 0) return;
      const src = scene.data.subarray(i * plane, (i + 1) * plane);
      for (let p = 0; p < plane; p++) out[p] += w * src[p];
    });
  });
  return { bands: grid.length, height: scene.height, width: scene.width, data, wavelengths: grid, ...(fwhm ? { fwhm } : {}) };
}

/** Position of a window moving `offset` pixels along an axis with `range` free pixels, bouncing, aligned to `align`. */
function bounce(offset: number, range: number, align: number): number {
  if (range <= 0) return 0;
  const period = 2 * range;
  const p = offset % period;
  const pos = p <= range ? p : period - p;
  return pos - (pos % align);
}

/**
 * A procedural scene for when no real data is at hand: a smooth background and a few discs, each
 * with its own smooth reflectance spectrum, values in 0.05..0.9.
 * @param height - Rows.
 * @param width - Columns.
 * @param wavelengths - Band centres in nm.
 * @param seed - Layout and spectra seed.
 * @returns The cube (`meta.source` = 'generated').
 */
export function generatedScene(height: number, width: number, wavelengths: readonly number[], seed = 0): Cube {
  const random = gaussianRng(seed + 7919);
  const uniform = (): number => 0.5 + 0.5 * Math.tanh(random());
  const lo = Math.min(...wavelengths);
  const span = Math.max(...wavelengths) - lo || 1;
  const spectrum = (): number[] => {
    const peak = lo + uniform() * span;
    const width2 = (0.15 + 0.4 * uniform()) * span;
    const base = 0.05 + 0.3 * uniform();
    return wavelengths.map((w) => base + (0.85 - base) * Math.exp(-(((w - peak) / width2) ** 2)));
  };
  const discs = Array.from({ length: 6 }, () => ({ y: uniform() * height, x: uniform() * width, r: (0.08 + 0.2 * uniform()) * Math.min(height, width), s: spectrum() }));
  const bg = spectrum();
  const plane = height * width;
  const data = new Float32Array(wavelengths.length * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const shade = 0.6 + 0.4 * (x / width);
      let s = bg;
      for (const d of discs) if ((y - d.y) ** 2 + (x - d.x) ** 2 < d.r * d.r) s = d.s;
      for (let b = 0; b < wavelengths.length; b++) data[b * plane + y * width + x] = s[b] * shade;
    }
  }
  return { bands: wavelengths.length, height, width, data, wavelengths, meta: { source: 'generated' } };
}
