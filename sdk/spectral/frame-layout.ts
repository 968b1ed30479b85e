import type { ModelCard } from '../core/model-card';

/**
 * Where the per-frame blocks end a statistics vector, in the host's packing order (`FrameStatistics.pack`): the
 * PSF taps, then the fitted SRF (`msi.per_frame`, b x B values), then the HR-MSI's detail gains (`msi.denoise`,
 * b x levels), then the noise the shrunk HR-MSI keeps (b values, with `msi.denoise.backprojection_window_px`). Each
 * field is the offset its block starts at; a block the model does not measure is empty.
 */
export interface FrameTail {
  /** Start of the fitted SRF; the PSF taps end here. */
  srf: number;
  /** Start of the HR-MSI's detail gains; the fitted SRF ends here. */
  msiDetail: number;
  /** Start of the noise variance each shrunk HR-MSI band keeps (LR-HSI units); the detail gains end here. */
  msiNoise: number;
  /** The vector's length. */
  end: number;
}

/** The offsets of the blocks that end a frame's statistics vector for this card. */
export function frameTail(frame: Float32Array, card: ModelCard): FrameTail {
  const end = frame.length;
  const denoise = card.msi.denoise;
  const msiNoise = end - (denoise?.backprojection_window_px !== undefined ? card.msi.bands : 0);
  const msiDetail = msiNoise - (denoise ? card.msi.bands * denoise.detail_sigmas_px.length : 0);
  const srf = msiDetail - (card.msi.per_frame ? card.msi.bands * card.hsi.bands : 0);
  return { srf, msiDetail, msiNoise, end };
}
