/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * A log sink. The SDK never writes to the console directly; callers pass their own sink through
 * `options.log` (to route lines into pino, journald, a test array…) or take {@link createLogger}'s.
 */
export type LogFn = (level: LogLevel, namespace: string, message: string) => void;

/** A logger bound to one namespace such as `spectra:mqtt`. */
export interface Logger {
  readonly namespace: string;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * The default sink: warnings and errors go to stderr; debug and info lines only when the `DEBUG`
 * environment variable names the namespace (`DEBUG=spectra:*` or `DEBUG=spectra:mqtt`), as the
 * `debug` package that mqtt.js uses does, so one switch turns on both.
 * @internal
 */
export const stderrLog: LogFn = (level, namespace, message) => {
  if (level === 'debug' || level === 'info') {
    const pattern = process.env.DEBUG ?? '';
    const on = pattern
      .split(/[\s,]+/)
      .filter(Boolean)
      .some((p) => p === namespace || (p.endsWith('*') && namespace.startsWith(p.slice(0, -1))));
    if (!on) return;
  }
  process.stderr.write(`${new Date().toISOString()} ${namespace} ${level}: ${message}\n`);
};

/**
 * Binds a sink to a namespace.
 * @param namespace - e.g. `spectra:mqtt`, `spectra:capture`.
 * @param log - Sink; {@link stderrLog} when omitted.
 * @returns The logger.
 * @example
 * const lines: string[] = [];
 * const log = createLogger('spectra:mqtt', (level, ns, msg) => lines.push(`${level} ${msg}`));
 */
export function createLogger(namespace: string, log: LogFn = stderrLog): Logger {
  return {
    namespace,
    debug: (m) => log('debug', namespace, m),
    info: (m) => log('info', namespace, m),
    warn: (m) => log('warn', namespace, m),
    error: (m) => log('error', namespace, m),
  };
}
