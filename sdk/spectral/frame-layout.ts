import type { ModelCard } from '../core/model-card';

/**
 * Where the per-frame blocks end a statistics vector, in the host's packing order (`FrameStatistics.pack`): the
 * PSF taps, then the fitted SRF (`msi.per_frame`, b x B values), then the HR-MSI's detail gains (`msi.denoise`,
 * b x levels). Each field is the offset its block starts at; a block the model does not measure is empty.
 */
export interface FrameTail {
  /** Start of the fitted SRF; the PSF taps end here. */
  srf: number;
  /** Start of the HR-MSI's detail gains; the fitted SRF ends here. */
  msiDetail: number;
  /** The vector's length. */
  end: number;
}

/** The offsets of the blocks that end a frame's statistics vector for this card. */
export function frameTail(frame: Float32Array, card: ModelCard): FrameTail {
  const end = frame.length;
  const msiDetail = end - (card.msi.denoise ? card.msi.bands * card.msi.denoise.detail_sigmas_px.length : 0);
  const srf = msiDetail - (card.msi.per_frame ? card.msi.bands * card.hsi.bands : 0);
  return { srf, msiDetail, end };
}
