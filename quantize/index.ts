/**
 * Public surface of the quantizer, re-exported from `sdk/index.ts`: `quantizeModel` (what `spectra quantize`
 * runs), its options and report, and the errors it throws.
 */
export { quantizeModel, QUANTIZE_DEFAULTS } from './quantize-model';
export type { QuantizeOptions, QuantizeReport, LayerSensitivity } from './quantize-model';
export { CALIBRATION_METHODS } from './activation-stats';
export type { CalibrationMethod } from './activation-stats';
export type { QdqProfile } from './qdq';
export type { CalibrationSample, SceneEntry, ScenesManifest, SampleRegion, RegionsManifest } from './calibration-set';
export { writeSplitPairs, assertDisjointSamples } from './split-pairs';
export type { SplitPairsOptions, SplitRole } from './split-pairs';
export * from './errors';
