/**
 * Spectra Edge SDK: the public surface. Everything a user needs is exported from here.
 *
 * Data flows one way: capture -> validate -> normalise -> tile -> infer -> stitch -> denormalise -> publish.
 */
export * from './core/errors';
export type { Cube, CubeMeta } from './cube/cube';

// Cube helpers and file I/O
export { createCube, assertCube, assertFinite, cropCube, nearestBand } from './cube/create';
export type { CubeInit } from './cube/create';
export * from './cube/envi';
export { EnviRowWriter, consistencyHeader } from './cube/envi-writer';
export type { EnviRowWriterOptions, EnviRowShape } from './cube/envi-writer';
export * from './cube/npy';
export * from './cube/geotiff';
export * from './cube/png-stack';
export * from './cube/quicklook';
export * from './cube/read-cube';

// Runtime
export { FusionModel, DEFAULT_LOAD_OPTIONS, DEFAULT_FUSE_OPTIONS } from './runtime/fusion-model';
export type { LoadOptions, FuseOptions, FuseToFileOptions, FusedCube, FuseTiming, InputSpec, RowSink, StreamedFuse } from './runtime/fusion-model';
export { DEFAULT_PROVIDERS } from './runtime/providers';
export type { ProviderName, ProviderRequest, TensorRtProvider, CudaProvider, CpuProvider, ProviderReport, ProviderAttempt } from './runtime/providers';
export { loadBinding, bindingHonoursProviderOptions } from './runtime/binding';
export type { OrtModule, LoadedBinding } from './runtime/binding';
export { readModelCard } from './core/model-card';
export type { ModelCard } from './core/model-card';
export type { Logger, LogLevel } from './core/log';
export type { BlendMode } from './runtime/tiling';

// Spectral operations, metrics, no-reference quality
export { gaussianTaps, spatialDegrade } from './spectral/psf';
export type { GaussianPsf } from './spectral/psf';
export { projectSrf } from './spectral/srf';
export { resamplingMatrix, resampleCube } from './spectral/resample';
export type { ResamplingMatrix, ResampleMethod } from './spectral/resample';
export { bandValidity, describeBandRanges, selectBandGrid, selectBands, srfOnValidBands, toModelGrid } from './spectral/coverage';
export type { ModelBandGrid, ModelGridInput } from './spectral/coverage';
export {
  CAMERA_PROFILE_SCHEMA,
  CameraProfileError,
  applyCameraProfile,
  cameraCoverage,
  cameraFuseOptions,
  profileMsiResponse,
  readCameraProfile,
} from './camera/profile';
export type { CameraProfile, HsiDescription, MsiDescription } from './camera/profile';
export { gaussianSrfTable, readSrfCsv, srfOnGrid } from './camera/srf-table';
export type { SrfOnGrid, SrfTable } from './camera/srf-table';
export { estimateMsiResponse, msiToModelBands } from './camera/response';
export type { MsiResponse, MsiResponseEstimate } from './camera/response';
export * from './metrics/full-reference';
export { MSI_MISMATCH_DB, consistency, msiAgreement } from './quality/consistency';
export type { ConsistencyReport, ConsistencyScore, DegradationModel, MsiAgreement } from './quality/consistency';

// Deployment: device profile, provider resolution against a binding, tegrastats, status payload (devices/jetson)
// TEMP device

// Capture sources and MQTT publishing (cube protocol v1, docs/cube-protocol.md)
export * from './capture/index';
export * from './publish/index';

// Quantization (fp16, int8 QDQ) of exported students: quantize/
export * from '../quantize/index';
