/**
 * Typed errors. Every data or model problem a caller can act on is a {@link SpectraError}
 * subclass with a stable `code`; wrong argument types are plain `TypeError`/`RangeError`.
 * Parts of the SDK (runtime, cube I/O, quantize, publish, capture) add their own subclasses
 * next to the code that throws them and re-export them from `sdk/index.ts`.
 */

/** Base class of every Spectra Edge error. `code` is stable across releases; match on it, not on the message. */
export abstract class SpectraError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
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
export class FileFormatError extends SpectraError {
  readonly code = 'E_FILE_FORMAT';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/**
 * An output file cannot be written (missing directory, no permission, disk full, file size limit). Nothing is
 * left at `path`: data goes to a temporary sibling that is removed on failure and renamed only when complete.
 */
export class OutputWriteError extends SpectraError {
  readonly code = 'E_OUTPUT_WRITE';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** A raster file is shorter than its header promises. */
export class TruncatedFileError extends SpectraError {
  readonly code = 'E_TRUNCATED';
  constructor(
    readonly path: string,
    readonly expectedBytes: number,
    readonly receivedBytes: number,
  ) {
    super(
      `${path}: expected ${expectedBytes} bytes of pixel data but the file holds ${receivedBytes}; ` +
        'the file is truncated (copy it again or fix the header)',
    );
  }
}

/** The ONNX model file is missing, unreadable or not a model onnxruntime can open. */
export class ModelFileError extends SpectraError {
  readonly code = 'E_MODEL_FILE';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** The model card is missing, malformed, or disagrees with the ONNX graph it describes. */
export class ModelCardError extends SpectraError {
  readonly code = 'E_MODEL_CARD';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
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
