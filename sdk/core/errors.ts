/**
 * Typed errors. Every data or model problem a caller can act on is a {@link SpectraError} subclass with a
 * stable `code` from {@link ERROR_CODES}; wrong argument types are plain `TypeError`/`RangeError`.
 * Errors shared by every layer live here; the publisher, the quantizer and the Jetson service keep theirs
 * next to the code that throws them, but take their codes from the same table.
 */

/**
 * Every error code Spectra Edge throws, with what it means. One table, so codes stay unique and a new one
 * has to be described where users look them up (docs/sdk.md links here).
 */
export const ERROR_CODES = Object.freeze({
  // Data and model (this file)
  E_BAND_COUNT: 'an input cube has a different band count than expected',
  E_SIZE_MISMATCH: 'spatial sizes disagree with each other or with the scale',
  E_NON_FINITE: 'NaN or Inf in an input cube',
  E_DTYPE: 'pixel data has the wrong element type or length',
  E_WAVELENGTH: 'wavelengths missing, of the wrong length, or outside the model card',
  E_FILE_FORMAT: 'a file is missing, unreadable or not in the format it claims',
  E_OUTPUT_WRITE: 'an output file cannot be written',
  E_FILE_ACCESS: 'a file or folder cannot be read, created or listed',
  E_TRUNCATED: 'a raster file is shorter than its header promises',
  E_MODEL_FILE: 'the ONNX model is missing or cannot be opened',
  E_MODEL_CARD: 'the model card is missing, malformed or disagrees with the graph',
  E_PROVIDER_UNAVAILABLE: 'a required execution provider is not in the binding',
  E_VALUE_RANGE: 'input values are far outside 0..1 (raw counts without a value scale)',
  E_NO_DATA: 'an input holds no-data pixels',
  // Capture (sdk/capture)
  E_WATCH_FOLDER: 'the watched folder is missing or unreadable',
  // Publish (sdk/publish/errors.ts)
  E_CUBE_PROTOCOL: 'a cube-protocol message is malformed or inconsistent',
  E_CUBE_INTEGRITY: 'a reassembled cube does not match its sha256',
  E_CUBE_INCOMPLETE: 'chunks of a cube never arrived',
  E_PACKET_TOO_LARGE: "a message exceeds the broker's maximum packet size",
  E_BROKER_CONNECT: 'the broker refused or cannot be reached',
  E_OUTBOX: 'the on-disk outbox cannot be used',
  E_REASSEMBLY_LIMIT: 'a cube in progress was dropped or a message refused to keep the reassembler inside its hard limits',
  // Quantize (quantize/errors.ts)
  E_QUANTIZE_MODEL: 'the model cannot be quantized',
  E_MODEL_CARD_MISSING: 'the model has no card next to it',
  E_UNSUPPORTED_OP: 'the graph holds an operator the quantizer cannot convert',
  E_GRAPH_CHECK: 'a graph fails a structural check',
  E_CALIB_DATA: 'calibration data is missing or unreadable',
  E_CALIB_EMPTY: 'the calibration set is empty',
  E_CALIB_BAND_COUNT: 'a calibration cube has the wrong band count',
  E_SPLIT_OVERLAP: 'calibration and evaluation samples overlap',
  E_SPLIT_PAIRS: 'the host-side pair simulation failed',
  E_ADAPT: 'adapting a student to a camera failed (no weights, or the host failed)',
  // Jetson service (devices/jetson/errors.ts)
  E_PROFILE: 'the deployment profile is missing or invalid',
  E_TEGRASTATS: 'a line is not tegrastats output',
  // Camera profiles (sdk/camera/profile.ts)
  E_CAMERA_PROFILE: 'a camera profile is missing, malformed or does not match the data or model',
  // Viewer (viewer/errors.ts)
  E_SHAPE_MISMATCH: 'two cubes compared pixel by pixel differ in bands, height or width',
});

/** A stable error code: a key of {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every Spectra Edge error. `code` is stable across releases; match on it, not on the message. */
export abstract class SpectraError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error about one file or folder: the message starts with its path, so the user knows what to fix. */
export abstract class PathError extends SpectraError {
  /**
   * @param path - The file or folder.
   * @param message - What was expected and what was found.
   * @param options - `cause`: the underlying (usually file-system) error.
   */
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** An input cube has a different band count than the model (or operation) expects. */
export class BandCountError extends SpectraError {
  readonly code = 'E_BAND_COUNT';
  constructor(
    readonly input: string,
    readonly expected: number,
    readonly received: number,
  ) {
    super(`Expected ${expected} bands for ${input} but received ${received}`);
  }
}

/** Spatial sizes disagree: not divisible by the scale, or LR-HSI and HR-MSI are not related by the scale. */
export class SizeMismatchError extends SpectraError {
  readonly code = 'E_SIZE_MISMATCH';
}

/** NaN or Inf in an input cube. */
export class NonFiniteError extends SpectraError {
  readonly code = 'E_NON_FINITE';
}

/** Pixel data has the wrong element type or length for its declared shape. */
export class DataTypeError extends SpectraError {
  readonly code = 'E_DTYPE';
}

/** Wavelengths missing, of the wrong length, or outside what the model card covers. */
export class WavelengthError extends SpectraError {
  readonly code = 'E_WAVELENGTH';
}

/** A file is missing, truncated or not in the format its name or header claims. */
export class FileFormatError extends PathError {
  readonly code = 'E_FILE_FORMAT';
}

/**
 * An output file cannot be written (missing directory, no permission, disk full, file size limit). Nothing is
 * left at `path`: data goes to a temporary sibling that is removed on failure and renamed only when complete.
 */
export class OutputWriteError extends PathError {
  readonly code = 'E_OUTPUT_WRITE';
}

/** A file or folder cannot be read, created or listed (missing, no permission); the message says which and why. */
export class FileAccessError extends PathError {
  readonly code = 'E_FILE_ACCESS';
}

/** A raster file is shorter than its header promises. */
export class TruncatedFileError extends PathError {
  readonly code = 'E_TRUNCATED';
  constructor(
    path: string,
    readonly expectedBytes: number,
    readonly receivedBytes: number,
  ) {
    super(
      path,
      `expected ${expectedBytes} bytes of pixel data but the file holds ${receivedBytes}; ` +
        'the file is truncated (copy it again or fix the header)',
    );
  }
}

/** The ONNX model file is missing, unreadable or not a model onnxruntime can open. */
export class ModelFileError extends PathError {
  readonly code = 'E_MODEL_FILE';
}

/** The model card is missing, malformed, or disagrees with the ONNX graph it describes. */
export class ModelCardError extends PathError {
  readonly code = 'E_MODEL_CARD';
}

/** A required execution provider is not available in the loaded onnxruntime binding. */
export class ProviderUnavailableError extends SpectraError {
  readonly code = 'E_PROVIDER_UNAVAILABLE';
  constructor(
    readonly provider: string,
    readonly reason: string,
  ) {
    super(
      `Execution provider '${provider}' is not available: ${reason}. ` +
        "Allow a fallback (e.g. providers: ['tensorrt', 'cuda', 'cpu']) or point SPECTRA_ORT_BINDING at a binding built with it",
    );
  }
}

/** Input values are far outside the physical 0..1 range the models take (typically raw counts without a value scale). */
export class ValueRangeError extends SpectraError {
  readonly code = 'E_VALUE_RANGE';
  constructor(
    message: string,
    /** Which input ('lrhsi' or 'hrmsi') and the largest value it reached, so a CLI can name its own flag. */
    readonly detail?: { input: string; max: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An input holds pixels equal to its declared no-data value (`meta.dataIgnoreValue`), which the model cannot fuse. */
export class NoDataError extends SpectraError {
  readonly code = 'E_NO_DATA';
}

/**
 * A file-system error in words, without the path (callers put the path they know in front):
 * `ENOENT: the folder or file does not exist`.
 * @param err - Usually a `NodeJS.ErrnoException`.
 */
export function explainFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reason = e.code ? FS_REASONS[e.code] : undefined;
  if (reason) return `${e.code}: ${reason}`;
  return e.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

const FS_REASONS: Readonly<Record<string, string>> = Object.freeze({
  ENOENT: 'the folder or file does not exist',
  ENOTDIR: 'a parent of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EISDIR: 'the path is a folder',
  EFBIG: 'the file exceeds the file size limit',
});
