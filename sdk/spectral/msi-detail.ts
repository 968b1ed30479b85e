import type { ModelCard } from '../core/model-card';
import { frameTail } from './frame-layout';

/** A detail gain at least this keeps the HR-MSI's detail as captured: the texture of a clean frame reads as a few per cent of noise (0.98-0.99 on the CAVE fixture crop). */
export const KEPT_GAIN = 0.97;

/** How much of each HR-MSI band's detail the fusion kept on a frame (card `msi.denoise`): below 1 where the band reads noisy. */
export interface MsiDetailReport {
  /** The Gaussian widths (HR px) that split each band into detail levels: level l is G_{l-1} x - G_l x, level 0 starting from the band itself. */
  sigmasPx: number[];
  /** Per MSI band, the gain each detail level was kept with (1: as captured; 0: smoothed away). */
  bands: { name: string; gains: number[] }[];
  /** Set when the spectral back-projection keeps each band's residual at its local Wiener gain for the noise the shrunk band keeps (card `msi.denoise.backprojection_window_px`): the window's Gaussian width, HR px. */
  backprojectionWindowPx?: number;
  /** Set when the prior keeps each band's regression pan's detail at its local Wiener gain for the noise the pan's weights carry (card `msi.denoise.pan_detail_window_px`): the window's Gaussian width, HR px. */
  panDetailWindowPx?: number;
}

/** Whether every detail level of every band was kept as captured (the HR-MSI read clean). */
export function detailKept(report: MsiDetailReport): boolean {
  return report.bands.every((b) => b.gains.every((g) => g >= KEPT_GAIN));
}

/**
 * Reads the gains the statistics graph gave the HR-MSI's detail levels on a frame off its statistics vector, when
 * the model measures the HR-MSI's noise (card `msi.denoise`). Noise on the HR-MSI reaches the output through the
 * prior and the spectral back-projection; the graph keeps each level at its Wiener gain for the noise it measured.
 * @param frame - The vector the statistics graph measured on the whole frame.
 * @param card - The model's card.
 * @returns Undefined when the model measures no HR-MSI noise.
 * @example
 * const detail = msiDetailGains(frame, model.card);
 * if (detail && !detailKept(detail)) console.log(`noisy HR-MSI: finest detail kept at ${detail.bands[0].gains[0].toFixed(2)}`);
 */
export function msiDetailGains(frame: Float32Array, card: ModelCard): MsiDetailReport | undefined {
  const denoise = card.msi.denoise;
  if (!denoise) return undefined;
  const levels = denoise.detail_sigmas_px.length;
  const tail = frameTail(frame, card);
  const block = frame.subarray(tail.msiDetail, tail.msiNoise);
  const names = card.msi.band_names ?? Array.from({ length: card.msi.bands }, (_, j) => `band ${j + 1}`);
  return {
    sigmasPx: [...denoise.detail_sigmas_px],
    bands: names.map((name, j) => ({ name, gains: Array.from(block.subarray(j * levels, (j + 1) * levels)) })),
    ...(denoise.backprojection_window_px !== undefined ? { backprojectionWindowPx: denoise.backprojection_window_px } : {}),
    ...(denoise.pan_detail_window_px !== undefined ? { panDetailWindowPx: denoise.pan_detail_window_px } : {}),
  };
}
