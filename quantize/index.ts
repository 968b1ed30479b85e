/**
 * `spectra-edge/quantize`: fp16 and int8 (QDQ) quantization of exported students, what `spectra quantize` runs,
 * and the other rewrites of an exported graph (`retargetPsf`: a camera's blur inside a physics student;
 * `adaptToCapture`: a student fine-tuned on a camera's captures by the host).
 * Kept off the device runtime's entry, so a device that only fuses never loads the ONNX protobuf code.
 */
export { quantizeModel, QUANTIZE_DEFAULTS, type LayerSensitivity, type QuantizeOptions, type QuantizeReport } from './quantize-model';
export { CALIBRATION_METHODS, type CalibrationMethod } from './activation-stats';
export type { QdqProfile } from './qdq';
export type { CalibrationSample, RegionsManifest, SampleRegion, SceneEntry, ScenesManifest } from './calibration-set';
export { assertDisjointSamples, writeSplitPairs, type SplitPairsOptions, type SplitRole } from './split-pairs';
export { retargetPsf, type RetargetReason, type RetargetReport } from './retarget-psf';
export { adaptToCapture, type AdaptOptions, type AdaptReport } from './adapt';
export {
  AdaptError,
  CalibrationBandCountError,
  CalibrationDataError,
  EmptyCalibrationError,
  GraphCheckError,
  ModelCardMissingError,
  QuantizeModelError,
  SplitOverlapError,
  SplitPairsError,
  UnsupportedOperatorError,
} from './errors';
