import type { ModelCard } from '../core/model-card';
import { frameTail } from './frame-layout';

/** One MSI band of the response the statistics graph fitted to a frame, against the card's. */
export interface FittedBand {
  name: string;
  /** Mean wavelength of the fitted response, weighted by its positive part (nm). */
  centroidNm: number;
  /** The same of the card's response (nm). */
  cardCentroidNm: number;
  /** How far the fitted shape lies from the card's: |r - c| / |c| with both rows scaled to sum 1. */
  change: number;
}

/** The response the statistics graph fitted to a frame (card `msi.per_frame`), which the fusion used. */
export interface SrfFitReport {
  bands: FittedBand[];
}

// Over the positive weights: a fit to a pair that no camera response explains (another flight's mosaic) has negative
// lobes, and a signed mean of those can land outside the grid.
function centroid(row: ArrayLike<number>, wavelengths: readonly number[]): number {
  let weight = 0;
  let moment = 0;
  for (let i = 0; i < wavelengths.length; i++) {
    const w = Math.max(row[i], 0);
    weight += w;
    moment += w * wavelengths[i];
  }
  return moment / weight;
}

/**
 * Reads the fitted SRF off a frame's statistics vector: the graph packs it, b x B, at the end when the card has
 * `msi.per_frame`. A camera whose responses are not the card's shows here as centroids that moved.
 * @param frame - The vector the statistics graph measured on the whole frame.
 * @param card - The model's card.
 * @returns Undefined when the model fits no SRF.
 * @example
 * const fit = fittedSrf(frame, model.card);
 * for (const b of fit?.bands ?? []) console.log(`${b.name} ${b.centroidNm.toFixed(1)} nm (card ${b.cardCentroidNm.toFixed(1)})`);
 */
export function fittedSrf(frame: Float32Array, card: ModelCard): SrfFitReport | undefined {
  if (!card.msi.per_frame) return undefined;
  const { bands: b, srf } = card.msi;
  const B = card.hsi.bands;
  const wavelengths = card.hsi.wavelengths_nm;
  const tail = frameTail(frame, card);
  const fitted = frame.subarray(tail.srf, tail.msiDetail);
  const names = card.msi.band_names ?? Array.from({ length: b }, (_, j) => `band ${j + 1}`);
  return {
    bands: srf.map((cardRow, j) => {
      const row = fitted.subarray(j * B, (j + 1) * B);
      const rowSum = row.reduce((a, v) => a + v, 0);
      const cardSum = cardRow.reduce((a, v) => a + v, 0);
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < B; i++) {
        const c = cardRow[i] / cardSum;
        diff += (row[i] / rowSum - c) ** 2;
        norm += c * c;
      }
      return { name: names[j], centroidNm: centroid(row, wavelengths), cardCentroidNm: centroid(cardRow, wavelengths), change: Math.sqrt(diff / norm) };
    }),
  };
}
