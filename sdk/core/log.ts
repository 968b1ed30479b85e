/** Severity of a runtime log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives the SDK's log lines; replace it through `options.log` to route them elsewhere. */
export type Logger = (level: LogLevel, message: string) => void;

/**
 * The default logger: `warn` and `error` go to stderr prefixed with the namespace, `info` only when
 * `DEBUG` names it (e.g. `DEBUG=spectra:*`), `debug` never.
 * @param namespace - e.g. `spectra:runtime`.
 * @returns A {@link Logger}.
 */
export function namespacedLogger(namespace: string): Logger {
  const debug = process.env.DEBUG ?? '';
  const verbose = debug.split(',').some((p) => p === namespace || (p.endsWith('*') && namespace.startsWith(p.slice(0, -1))));
  return (level, message) => {
    if (level === 'warn' || level === 'error' || (level === 'info' && verbose)) {
      process.stderr.write(`${namespace} ${level}: ${message}\n`);
    }
  };
}
