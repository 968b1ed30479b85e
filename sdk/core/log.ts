/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives the SDK's log lines; replace it through `options.log` to route them elsewhere. */
export type Logger = (level: LogLevel, message: string) => void;

const RANK: Readonly<Record<LogLevel | 'silent', number>> = Object.freeze({ debug: 0, info: 1, warn: 2, error: 3, silent: 4 });

// Process-wide, because the default logger belongs to the process (stderr), not to one SDK object.
let threshold: LogLevel | 'silent' | undefined;

/**
 * Sets the least severe level the default loggers write, for every namespace (what `spectra --log-level`
 * does). Without a call, `warn` and `error` are written and `info` only for namespaces named in `DEBUG`.
 * @param level - `'silent'` writes nothing.
 */
export function setLogLevel(level: LogLevel | 'silent'): void {
  if (!Object.hasOwn(RANK, level)) throw new RangeError(`Expected a log level (${Object.keys(RANK).join(', ')}) but received '${level}'`);
  threshold = level;
}

/**
 * The default logger: lines at or above the level from {@link setLogLevel} go to stderr prefixed with the
 * namespace; without it, `warn` and `error` always, `info` when `DEBUG` names the namespace (`DEBUG=spectra:*`).
 * @param namespace - e.g. `spectra:runtime`.
 * @returns A {@link Logger}.
 */
export function namespacedLogger(namespace: string): Logger {
  const debug = process.env.DEBUG ?? '';
  const verbose = debug.split(',').some((p) => p === namespace || (p.endsWith('*') && namespace.startsWith(p.slice(0, -1))));
  return (level, message) => {
    const shown = threshold !== undefined ? RANK[level] >= RANK[threshold] : level === 'warn' || level === 'error' || (level === 'info' && verbose);
    if (shown) process.stderr.write(`${namespace} ${level}: ${message}\n`);
  };
}

/** A logger bound to one namespace (`spectra:mqtt`, `spectra:capture:<source>`). */
export interface NamespacedLog {
  readonly namespace: string;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Binds a {@link Logger} (the one `options.log` replaces everywhere) to a namespace; without one, lines go
 * to {@link namespacedLogger}.
 * @param namespace - e.g. `spectra:mqtt`.
 * @param log - Replaces the default logger.
 */
export function createLogger(namespace: string, log: Logger = namespacedLogger(namespace)): NamespacedLog {
  return {
    namespace,
    debug: (m) => log('debug', m),
    info: (m) => log('info', m),
    warn: (m) => log('warn', m),
    error: (m) => log('error', m),
  };
}
