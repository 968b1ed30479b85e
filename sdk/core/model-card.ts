import { readFile } from 'node:fs/promises';
import { ModelCardError } from './errors';

/** What the statistics graph judges a shifted blur through (card `psf.per_frame.shift_response`). */
export const SHIFT_RESPONSES = ['card', 'fitted'] as const;
export type ShiftResponse = (typeof SHIFT_RESPONSES)[number];

/** The model card (`<name>.card.json`, schema `spectra-edge/model-card@1`; see docs/model-card.md). */
export interface ModelCard {
  schema: string;
  name: string;
  role?: 'student' | 'teacher';
  preset?: string;
  onnx: string;
  onnx_sha256: string;
  precision?: 'fp32' | 'fp16' | 'int8';
  opset?: number;
  scale: number;
  spatial_multiple?: number;
  /** Smallest LR-HSI height and width the graph takes (its mirror frame needs that many pixels); 1 when absent. */
  min_lr_size?: number;
  hsi: {
    bands: number;
    wavelengths_nm: number[];
    fwhm_nm?: number[] | null;
    band_valid?: boolean[];
  };
  msi: {
    preset?: string;
    bands: number;
    band_names?: string[];
    srf_file?: string;
    /** b x B matrix on the HSI wavelengths, each row sums to 1. */
    srf: number[][];
    /** The statistics graph fits the SRF each frame shows (this one corrected by a ridge regression at low resolution, the ridge growing with each band's noise) and the spectral back-projection uses it. */
    per_frame?: { fit: 'ridge_to_card'; ridge: number; noise_ridge: number };
    /** The statistics graph measures each HR-MSI band's noise (its diagonal detail's residual on the other bands', geometric mean over `block_px` blocks; with `common_noise` the smallest band's for all) and keeps each detail level (Gaussians of `detail_sigmas_px`) at its Wiener gain before anything reads the HR-MSI. With `backprojection_window_px` the statistics also carry the noise the shrunk HR-MSI keeps, and the spectral back-projection keeps each band's residual at its local Wiener gain (energy over a Gaussian window of that width); with `pan_detail_window_px` the prior keeps each band's regression pan's detail at its local Wiener gain for the noise the pan's weights carry from the HR-MSI bands. */
    denoise?: { detail_sigmas_px: number[]; block_px: number; common_noise: boolean; backprojection_window_px?: number; pan_detail_window_px?: number };
  };
  /**
   * The LR-HSI's blur: a Gaussian, or (after `spectra retarget-psf --shape free`) explicit 1-D `taps` that replace it; `sigma` is then the closest Gaussian's.
   * `per_frame`: the statistics graph measures the blur of each frame and uses a Gaussian of `sigmas_px` (in `step_px` steps) instead of this one when it fits the pair by `switch_margin` (relative misfit) better; with `free_taps`, symmetric taps of any shape fitted to the pair in closed form replace that when they fit better by the same margin; with `shift_taps`, the chosen taps moved off the middle of each scale x scale block (an LR-HSI sampled at `[k::s]` of a blurred image, or out of register by a fraction of an LR pixel) replace them in turn, and the graph upsamples into the HR-MSI's register. `shift_response` says what each move is judged through: the card's SRF (`card`) or the response that explains it best (`fitted`), so another camera's response is not read as a shifted blur.
   */
  psf: { type: 'gaussian'; sigma: number; kernel_size: number; taps?: number[]; per_frame?: { sigmas_px: [number, number]; step_px: number; switch_margin: number; free_taps?: boolean; shift_taps?: number; shift_response?: ShiftResponse } };
  io: {
    inputs: Record<string, { shape: (string | number)[]; dtype: string }>;
    outputs: Record<string, { shape: (string | number)[]; dtype: string }>;
    layout?: string;
  };
  normalisation?: {
    inputs?: string;
    inside_graph?: boolean;
    value_scale?: Record<string, number>;
  };
  /**
   * The statistics graph of a model that measures its inputs per image (radiometry, band assignment): it runs
   * once on the whole frame and its output is the fuse graph's input `input` for every tile.
   */
  frame_statistics?: { graph: string; sha256: string; input: string; length: number } | null;
  /** The network's PyTorch weights beside the model, which `spectra adapt` fine-tunes on the host (not used to fuse). */
  weights?: { file: string; sha256: string } | null;
  params?: number;
  macs_per_hr_pixel?: number;
  validation?: unknown;
  training?: unknown;
  quantization?: unknown;
  created?: string;
}

/** Names the SDK expects in every exported graph. */
export const IO_NAMES = { lrhsi: 'lrhsi', hrmsi: 'hrmsi', hrhsi: 'hrhsi' } as const;

/**
 * Reads and checks a model card's structure (not yet against the graph; {@link FusionModel.load} does that).
 * @param path - The `.card.json` file.
 * @returns The card.
 * @throws {@link ModelCardError} when the file is missing, not JSON, or lacks a required field.
 */
export async function readModelCard(path: string): Promise<ModelCard> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelCardError(
      path,
      'model card not found; every model needs its <name>.card.json next to it (written by spectra-distill export)',
      { cause: err },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelCardError(path, `model card is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  return checkCard(raw, path);
}

/** An optional window width in a card: absent, or finite and > 0. */
function optionalWidth(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isFinite(v) && v > 0);
}

function checkCard(raw: unknown, path: string): ModelCard {
  const fail = (msg: string): never => {
    throw new ModelCardError(path, `${msg} (schema: docs/model-card.md)`);
  };
  if (typeof raw !== 'object' || raw === null) return fail('model card must be a JSON object');
  const c = raw as Partial<ModelCard>;
  if (typeof c.schema !== 'string' || !c.schema.startsWith('spectra-edge/model-card@')) {
    fail(`unknown schema '${String(c.schema)}'; expected 'spectra-edge/model-card@1'`);
  }
  if (typeof c.onnx_sha256 !== 'string') fail("missing 'onnx_sha256'");
  if (!Number.isInteger(c.scale) || (c.scale as number) < 1) fail(`'scale' must be a positive integer, got ${String(c.scale)}`);
  if (c.min_lr_size !== undefined && (!Number.isInteger(c.min_lr_size) || c.min_lr_size < 1)) {
    fail(`'min_lr_size' must be a positive integer when given, got ${String(c.min_lr_size)}`);
  }
  const hsi = c.hsi;
  if (!hsi || !Number.isInteger(hsi.bands) || !Array.isArray(hsi.wavelengths_nm) || hsi.wavelengths_nm.length !== hsi.bands) {
    fail("'hsi' must give 'bands' and one 'wavelengths_nm' entry per band");
  }
  const msi = c.msi;
  if (!msi || !Number.isInteger(msi.bands) || !Array.isArray(msi.srf) || msi.srf.length !== msi.bands) {
    fail("'msi' must give 'bands' and an 'srf' matrix with one row per MSI band");
  }
  if (msi!.srf.some((row) => !Array.isArray(row) || row.length !== hsi!.bands)) {
    fail(`every 'msi.srf' row must have ${hsi!.bands} entries (one per HSI band)`);
  }
  const psf = c.psf;
  if (!psf || psf.type !== 'gaussian' || !(psf.sigma > 0) || !Number.isInteger(psf.kernel_size) || psf.kernel_size < 1) {
    fail("'psf' must be { type: 'gaussian', sigma > 0, kernel_size >= 1 }");
  }
  const taps = psf!.taps;
  if (taps !== undefined && (!Array.isArray(taps) || taps.length !== psf!.kernel_size || !taps.every((v) => Number.isFinite(v) && v >= 0) || Math.abs(taps.reduce((a, v) => a + v, 0) - 1) > 1e-4)) {
    fail(`'psf.taps' must be ${psf!.kernel_size} finite, non-negative taps summing to 1`);
  }
  const perFrame = psf!.per_frame;
  if (perFrame !== undefined) {
    const [lo, hi]: (number | undefined)[] = Array.isArray(perFrame?.sigmas_px) ? perFrame.sigmas_px : [];
    if (!(lo !== undefined && hi !== undefined && lo > 0 && hi > lo && perFrame.step_px > 0 && perFrame.switch_margin >= 0 && perFrame.switch_margin < 1) || (perFrame.free_taps !== undefined && typeof perFrame.free_taps !== 'boolean') || (perFrame.shift_taps !== undefined && !(Number.isInteger(perFrame.shift_taps) && perFrame.shift_taps >= psf!.kernel_size && (perFrame.shift_taps - c.scale!) % 2 === 0)) || (perFrame.shift_response !== undefined && (perFrame.shift_taps === undefined || !(SHIFT_RESPONSES as readonly unknown[]).includes(perFrame.shift_response)))) {
      fail(`'psf.per_frame' must be { sigmas_px: [min > 0, max > min], step_px > 0, switch_margin in [0, 1), free_taps?: boolean, shift_taps?: integer >= kernel_size with the parity of scale, shift_response?: one of ${SHIFT_RESPONSES.join(', ')} with shift_taps }`);
    }
    if (!c.frame_statistics) fail("'psf.per_frame' is measured by the statistics graph; the card needs 'frame_statistics'");
  }
  const srfFit = msi!.per_frame;
  if (srfFit !== undefined) {
    if (srfFit?.fit !== 'ridge_to_card' || !(srfFit.ridge > 0) || !(srfFit.noise_ridge >= 0)) {
      fail("'msi.per_frame' must be { fit: 'ridge_to_card', ridge > 0, noise_ridge >= 0 }");
    }
    if (!c.frame_statistics) fail("'msi.per_frame' is fitted by the statistics graph; the card needs 'frame_statistics'");
  }
  const msiDenoise = msi!.denoise;
  if (msiDenoise !== undefined) {
    const sigmas = msiDenoise?.detail_sigmas_px;
    if (!Array.isArray(sigmas) || sigmas.length < 1 || !sigmas.every((v, i) => Number.isFinite(v) && v > (i ? sigmas[i - 1] : 0)) || !(Number.isInteger(msiDenoise.block_px) && msiDenoise.block_px >= 1) || typeof msiDenoise.common_noise !== 'boolean' || !optionalWidth(msiDenoise.backprojection_window_px) || !optionalWidth(msiDenoise.pan_detail_window_px)) {
      fail("'msi.denoise' must be { detail_sigmas_px: increasing widths > 0, block_px: integer >= 1, common_noise: boolean, backprojection_window_px?: width > 0, pan_detail_window_px?: width > 0 }");
    }
    if (!c.frame_statistics) fail("'msi.denoise' is measured by the statistics graph; the card needs 'frame_statistics'");
  }
  if (!c.io || typeof c.io.inputs !== 'object' || typeof c.io.outputs !== 'object') fail("missing 'io.inputs' / 'io.outputs'");
  const fs = c.frame_statistics;
  if (
    fs !== undefined &&
    fs !== null &&
    (typeof fs.graph !== 'string' || !/^[^/\\]+\.onnx$/.test(fs.graph) || typeof fs.sha256 !== 'string' || typeof fs.input !== 'string' || !Number.isInteger(fs.length) || fs.length < 1)
  ) {
    fail("'frame_statistics' must be { graph: '<file>.onnx' beside the model, sha256, input, length >= 1 }");
  }
  const w = c.weights;
  if (w !== undefined && w !== null && (typeof w.file !== 'string' || !/^[^/\\]+\.pt$/.test(w.file) || typeof w.sha256 !== 'string')) {
    fail("'weights' must be { file: '<file>.pt' beside the model, sha256 }");
  }
  return {
    ...(c as ModelCard),
    name: typeof c.name === 'string' ? c.name : 'unnamed',
    onnx: typeof c.onnx === 'string' ? c.onnx : '',
  };
}

/**
 * The card path for a model path: `x.onnx` -> `x.card.json`.
 * @internal
 */
export function cardPathFor(modelPath: string): string {
  return modelPath.replace(/\.onnx$/i, '') + '.card.json';
}
