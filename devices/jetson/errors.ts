import { PathError, SpectraError } from '../../sdk/core/errors';

/** A deployment profile is missing, not JSON, or has a field of the wrong type or out of range. */
export class ProfileError extends PathError {
  readonly code = 'E_PROFILE';
  /**
   * @param path - The profile file (or `'<inline>'` for an object that never came from a file).
   * @param field - Dotted path of the offending field, e.g. `providers[0].workspaceBytes`; empty for the whole file.
   * @param message - What was expected and what arrived.
   */
  constructor(
    path: string,
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(path, `${field ? `${field}: ` : ''}${message}`, options);
  }
}

/** A line that is not tegrastats output at all (unknown fields in a real line are skipped, not errors). */
export class TegrastatsParseError extends SpectraError {
  readonly code = 'E_TEGRASTATS';
  constructor(readonly line: string) {
    super(`Expected a tegrastats line ('RAM u/tMB ... CPU [...] ...') but received '${line.slice(0, 80)}'`);
  }
}
