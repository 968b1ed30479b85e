/** Metadata carried with every cube from capture to publish. */
export interface CubeMeta {
  /** Free-form provenance: source file, device, sequence, model id… */
  readonly [key: string]: unknown;
}

/**
 * A hyperspectral or multispectral image in band-sequential order: `data[b * height * width + y * width + x]`.
 * Values are physical units (reflectance 0..1, or radiance divided by a documented factor).
 */
export interface Cube {
  readonly bands: number;
  readonly height: number;
  readonly width: number;
  /** Band-sequential pixel values, length `bands * height * width`. */
  readonly data: Float32Array;
  /** Band centres in nm, length `bands`. */
  readonly wavelengths: readonly number[];
  /** Band widths (FWHM) in nm, when known. */
  readonly fwhm?: readonly number[];
  readonly meta?: CubeMeta;
}
