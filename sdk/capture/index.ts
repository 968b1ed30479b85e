/** Capture: frame pairs from cameras, folders, recordings or simulation, with a bounded queue. */
export type { BackpressurePolicy, CaptureOptions, CaptureStats, FrameMeta, FramePair, FrameSource } from './frame';
export { DEFAULT_CAPTURE_OPTIONS, QueuedSource } from './queued-source';
export { CAVE_WAVELENGTHS, DEFAULT_SYNTHETIC_SCENE, SyntheticSource, type SyntheticOptions, generatedScene } from './synthetic';
export { DirectoryWatcher, type DirectoryWatcherOptions, WatchFolderError } from './directory-watcher';
export { ReplaySource, type ReplayOptions } from './replay';
export { CameraTemplate, type CameraTemplateOptions, type RawCapture } from './camera-template';
export { type CubeFile, type CubeRole, classifyName, keySequence } from './pair-files';
export { addAwgn, gaussianRng } from './noise';
