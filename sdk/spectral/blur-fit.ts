import type { ModelCard } from '../core/model-card';
import { frameTail } from './frame-layout';

/** A blur whose centroid is within this many HR px of the block's middle on both axes sits on the card's convention (the fit's float rounding is far below it). */
export const CENTRED_PX = 0.05;

/** Whether the blur the fusion found sits on the card's convention (within {@link CENTRED_PX} on both axes). */
export function isCentred(fit: BlurFitReport): boolean {
  return Math.max(Math.abs(fit.shiftPx.rows), Math.abs(fit.shiftPx.cols)) < CENTRED_PX;
}

/** Where the statistics graph found each LR-HSI pixel's blur on a frame (card `psf.per_frame.shift_taps`). */
export interface BlurFitReport {
  /** Centroid of the blur along rows (down) and columns (right), HR px from the middle of each scale x scale block: 0 for the card's convention, k - (s - 1) / 2 for an LR-HSI sampled at `[k::s]` of a blurred image. */
  shiftPx: { rows: number; cols: number };
  /** The row and column taps the fusion used, over `shift_taps` HR px centred on the block's middle. */
  taps: { rows: number[]; cols: number[] };
}

/**
 * Reads the blur the statistics graph chose for a frame off its statistics vector, when the model searches for a
 * shifted one (card `psf.per_frame.shift_taps`): row then column taps, `shift_taps` each, just before the blocks
 * that end the vector (`frameTail`). A pair whose two images are out of register by a fraction of an LR pixel,
 * or made by sampling a blurred cube at `[k::s]`, shows here as a non-zero shift.
 * @param frame - The vector the statistics graph measured on the whole frame.
 * @param card - The model's card.
 * @returns Undefined when the model searches for no shift.
 * @example
 * const blur = fittedBlur(frame, model.card);
 * if (blur) console.log(`LR-HSI ${blur.shiftPx.rows.toFixed(2)} px down, ${blur.shiftPx.cols.toFixed(2)} px right`);
 */
export function fittedBlur(frame: Float32Array, card: ModelCard): BlurFitReport | undefined {
  const wide = card.psf.per_frame?.shift_taps;
  if (wide === undefined) return undefined;
  const end = frameTail(frame, card).srf;
  const rows = Array.from(frame.subarray(end - 2 * wide, end - wide));
  const cols = Array.from(frame.subarray(end - wide, end));
  const centroid = (taps: number[]): number => taps.reduce((a, v, i) => a + v * (i - (wide - 1) / 2), 0) / taps.reduce((a, v) => a + v, 0);
  return { shiftPx: { rows: centroid(rows), cols: centroid(cols) }, taps: { rows, cols } };
}
