/**
 * Spectra Edge, the device runtime (`import … from 'spectra-edge'`): every public name, grouped by concept.
 * The cube protocol's codec and topics are in `spectra-edge/protocol`, the quantizer in `spectra-edge/quantize`.
 *
 * Data flows one way: capture -> validate -> normalise -> tile -> infer -> stitch -> denormalise -> publish.
 */

// Errors: one base class, one code table (docs/sdk.md, "Errors")
export {
  ERROR_CODES,
  type ErrorCode,
  SpectraError,
  PathError,
  BandCountError,
  SizeMismatchError,
  NonFiniteError,
  DataTypeError,
  WavelengthError,
  FileAccessError,
  FileFormatError,
  OutputWriteError,
  TruncatedFileError,
  ModelFileError,
  ModelCardError,
  ProviderUnavailableError,
  ValueRangeError,
  NoDataError,
} from './core/errors';
export { WatchFolderError } from './capture/directory-watcher';
export { BrokerConnectionError, CubeIntegrityError, CubeProtocolError, IncompleteCubeError, OutboxError, PacketTooLargeError, ReassemblyLimitError } from './publish/errors';

// Logging
export { type Logger, type LogLevel, setLogLevel } from './core/log';

// Cubes in memory
export type { Cube, CubeMeta } from './cube/cube';
export { type CubeInit, createCube, assertCube, assertFinite, cropCube, nearestBand } from './cube/create';
export type { RowSink } from './cube/row-sink';

// Cube files: ENVI, .npy, GeoTIFF, PNG stacks, quicklooks
export { type ReadCubeOptions, readCube, writeCube } from './cube/read-cube';
export { type EnviDataType, type EnviHeader, type EnviInterleave, type ReadEnviOptions, type WriteEnviOptions, parseEnviHeader, readEnvi, writeEnvi } from './cube/envi';
export { EnviRowWriter, type EnviRowShape, type EnviRowWriterOptions } from './cube/envi-writer';
export { type NpyArray, type NpyLayout, type ReadNpyOptions, decodeNpy, readNpy, writeNpy } from './cube/npy';
export { GEOTIFF_WRITE_MAX_BANDS, readGeoTiff, writeGeoTiff } from './cube/geotiff';
export { type ReadPngStackOptions, type WritePngStackOptions, readPngStack, writePngStack } from './cube/png-stack';
export { type QuicklookBands, type QuicklookOptions, quicklook, quicklookBands, writeQuicklook } from './cube/quicklook';

// The model: loading, providers, fusion
export { type ModelCard, readModelCard, SHIFT_RESPONSES, type ShiftResponse } from './core/model-card';
export {
  FusionModel,
  DEFAULT_FUSE_OPTIONS,
  DEFAULT_LOAD_OPTIONS,
  type FuseOptions,
  type FuseTiming,
  type FuseToFileOptions,
  type FusedCube,
  type InputSpec,
  type LoadOptions,
  type NetworkInputs,
  type StreamedFuse,
} from './runtime/fusion-model';
export {
  DEFAULT_MAX_QUALITY_LOSS_DB,
  VARIANT_PREFERENCE,
  type VariantCandidate,
  type VariantChoice,
  type VariantPrecision,
  type VariantRequest,
} from './runtime/variants';
export {
  DEFAULT_PROVIDERS,
  type CpuProvider,
  type CudaProvider,
  type ProviderAttempt,
  type ProviderName,
  type ProviderReport,
  type ProviderRequest,
  type TensorRtProvider,
  type TensorRtShapeProfile,
  type TensorRtSizes,
  tensorRtShapes,
} from './runtime/providers';
export { type LoadedBinding, type OrtModule, bindingHonoursProviderOptions, loadBinding } from './runtime/binding';
export type { BlendMode } from './runtime/tiling';

// Spectral operations, full-reference metrics, no-reference quality
export { type GaussianPsf, type Psf, type PsfTaps, type SeparablePsf, axisTaps, cardPsf, gaussianTaps, psfTaps, spatialDegrade } from './spectral/psf';
export { type PsfEstimate, type PsfSearch, estimatePsfSigma, fitPsfTaps } from './spectral/psf-estimate';
export { type FittedBand, type SrfFitReport, fittedSrf } from './spectral/srf-fit';
export { type BlurFitReport, CENTRED_PX, fittedBlur, isCentred } from './spectral/blur-fit';
export { detailKept, KEPT_GAIN, type MsiDetailReport, msiDetailGains } from './spectral/msi-detail';
export { type FrameTail, frameTail } from './spectral/frame-layout';
export { projectSrf, srfCentroids } from './spectral/srf';
export { type ResampleMethod, type ResamplingMatrix, resampleCube, resamplingMatrix } from './spectral/resample';
export { AUTO_DENOISE_SNR_DB, type DenoiseDecision, type SignalSubspace, autoSubspace, msiGuided, projectRows, signalSubspace } from './spectral/subspace';
export { type FusionMetrics, type MetricOptions, type PeakMode, PSNR_CAP_DB, ergas, evaluate, psnr, rmse, sam, ssim } from './metrics/full-reference';
export { type ConsistencyReport, type ConsistencyScore, type DegradationModel, type MsiAgreement, MSI_MISMATCH_DB, consistency, consistencyHeader, msiAgreement } from './quality/consistency';
export { describeBandRanges, selectBandGrid, selectBands, srfOnValidBands, toModelGrid } from './spectral/coverage';
export { bandValidity } from './cube/band-validity';
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

// Capture: frame sources by name, or built directly
export { type SourceContext, type SourceName, type SourceOptionsMap, SOURCE_NAMES, isSourceName, openSource } from './capture/registry';
export type { BackpressurePolicy, CaptureOptions, CaptureStats, FrameMeta, FramePair, FrameSource } from './capture/frame';
export { DEFAULT_CAPTURE_OPTIONS, QueuedSource } from './capture/queued-source';
export { CAVE_WAVELENGTHS, SyntheticSource, type SyntheticOptions, generatedScene } from './capture/synthetic';
export { DirectoryWatcher, type DirectoryWatcherOptions } from './capture/directory-watcher';
export { ReplaySource, type ReplayOptions } from './capture/replay';
export { CameraTemplate, type CameraTemplateOptions, type RawCapture } from './capture/camera-template';
export { type CubeFile, type CubeRole, classifyName, keySequence } from './capture/pair-files';
export { addAwgn } from './capture/noise';

// Publishing over MQTT (cube protocol v2, docs/cube-protocol.md), the durable outbox, the embedded broker
export type { BrokerOptions, TlsOptions } from './publish/broker-connection';
export {
  CubePublisher,
  DEFAULT_PUBLISHER_OPTIONS,
  type PublishInfo,
  type PublisherEvents,
  type PublisherMetrics,
  type PublisherOptions,
  type SampledSpectra,
  sampleSpectra,
} from './publish/publisher';
export { type CubeHeader, FileOutbox, type FileOutboxOptions, MemoryOutbox, type OutboxEntry, type OutboxStore, type PutResult, type UnhashedHeader } from './publish/outbox';
export {
  CubeSubscriber,
  DEFAULT_SUBSCRIBER_OPTIONS,
  type MissingReason,
  type ReceivedCube,
  type SubscriberEvents,
  type SubscriberOptions,
  type WrittenFiles,
  defaultSubscriberClientId,
} from './publish/subscriber';
export { EmbeddedBroker, type EmbeddedBrokerOptions } from './publish/embedded-broker';

// The frame loop: capture -> fuse -> publish, the main job behind `spectra run`, the status topic
export { DEFAULT_PIPELINE_OPTIONS, type FrameReport, type PipelineOptions, type PipelineResult, formatReport, frameInfo, runPipeline } from './pipeline/pipeline';
export { DEFAULT_MAIN_JOB_OPTIONS, type MainJobOptions, type MainJobResult, type ReceiveSummary, runMainJob } from './pipeline/main-job';
export {
  STATUS_SCHEMA,
  type FrameStages,
  type JetsonReadings,
  type StatusExtras,
  type StatusOptions,
  type StatusPayload,
  StatusReporter,
  type StatusReporterOptions,
  StatusTracker,
} from './pipeline/status';
