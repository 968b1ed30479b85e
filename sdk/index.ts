/**
 * Spectra Edge SDK: the public surface. Everything a user needs is exported from here.
 *
 * Data flows one way: capture -> validate -> normalise -> tile -> infer -> stitch -> denormalise -> publish.
 */
export * from './errors';
export type { Cube, CubeMeta } from './cube/cube';
