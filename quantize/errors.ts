/**
 * Errors of `spectra quantize`. Each names the file it is about, so a CLI user knows what to fix.
 */
import { type ErrorCode, PathError, SpectraError } from '../sdk/core/errors';

/** The model file is missing, not ONNX, or uses a feature the quantizer does not handle. */
export class QuantizeModelError extends PathError {
  readonly code: ErrorCode = 'E_QUANTIZE_MODEL';
}

/** The model has no `<name>.card.json` next to it (the card carries bands, SRF and PSF needed to calibrate). */
export class ModelCardMissingError extends SpectraError {
  readonly code = 'E_MODEL_CARD_MISSING';
  constructor(
    readonly modelPath: string,
    readonly cardPath: string,
  ) {
    super(`${modelPath}: no model card; expected ${cardPath} (written by spectra-distill export)`);
  }
}

/** The graph contains an operator the quantizer cannot type or convert. */
export class UnsupportedOperatorError extends SpectraError {
  readonly code = 'E_UNSUPPORTED_OP';
  constructor(
    readonly path: string,
    readonly opType: string,
    readonly nodeName: string,
  ) {
    super(`${path}: unsupported operator ${opType} (node '${nodeName}'); the quantizer handles the operators of exported students`);
  }
}

/** A produced or input graph fails a structural check (order, undefined inputs, dangling outputs). */
export class GraphCheckError extends SpectraError {
  readonly code = 'E_GRAPH_CHECK';
  constructor(
    readonly path: string,
    readonly problems: readonly string[],
  ) {
    super(`${path}: graph check failed: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`);
  }
}

/** A calibration directory or file is missing, empty or unreadable. */
export class CalibrationDataError extends PathError {
  readonly code: ErrorCode = 'E_CALIB_DATA';
}

/** The calibration directory holds no usable sample. */
export class EmptyCalibrationError extends CalibrationDataError {
  override readonly code = 'E_CALIB_EMPTY';
  constructor(path: string, detail: string) {
    super(path, `empty calibration set: ${detail}`);
  }
}

/** A calibration cube has a different band count than the model card. */
export class CalibrationBandCountError extends CalibrationDataError {
  override readonly code = 'E_CALIB_BAND_COUNT';
  constructor(
    path: string,
    readonly input: 'lrhsi' | 'hrmsi' | 'hrhsi' | 'scene',
    readonly expected: number,
    readonly received: number,
  ) {
    super(path, `expected ${expected} bands for ${input} (from the model card) but the file has ${received}`);
  }
}

/** Calibration and evaluation samples share pixels of one scene (the bounds would be measured on seen data). */
export class SplitOverlapError extends CalibrationDataError {
  override readonly code = 'E_SPLIT_OVERLAP';
  constructor(
    path: string,
    readonly scene: string,
    readonly calibrationWindow: readonly number[],
    readonly evaluationWindow: readonly number[],
  ) {
    super(
      path,
      `calibration window [${calibrationWindow.join(', ')}] and evaluation window [${evaluationWindow.join(', ')}] of scene '${scene}' overlap; calibrate on training regions, evaluate on held-out ones`,
    );
  }
}

/** The host-side pair simulation (`spectra-distill split-pairs`) is missing or failed. */
export class SplitPairsError extends CalibrationDataError {
  override readonly code = 'E_SPLIT_PAIRS';
}

/** `spectra adapt`: the model's weights are missing or altered, the output exists, or the host's fine-tuning failed. */
export class AdaptError extends PathError {
  readonly code = 'E_ADAPT';
}
