import { SpectraError } from '../sdk/core/errors';

/** A cube's shape as the viewer reports it: bands × height × width. */
export type CubeShape = readonly [bands: number, height: number, width: number];

/**
 * Two cubes the viewer compares pixel by pixel (`spectra view A --compare B`) differ in bands, height or width,
 * so neither |a−b| nor a spectral angle is defined. Names both files and both shapes.
 */
export class ShapeMismatchError extends SpectraError {
  readonly code = 'E_SHAPE_MISMATCH';
  constructor(
    readonly path: string,
    readonly shape: CubeShape,
    readonly comparePath: string,
    readonly compareShape: CubeShape,
  ) {
    super(
      `Expected ${comparePath} to have the shape of ${path} (${shape.join(' × ')} bands × height × width) but it is ` +
        `${compareShape.join(' × ')}; compare a cube with a reference of the same scene and band grid (crop or resample one first)`,
    );
  }
}
