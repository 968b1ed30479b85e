import { type Logger, namespacedLogger } from '../core/log';

/** A logger bound to one namespace (`spectra:mqtt`, `spectra:capture:<source>`). @internal */
export interface NamespacedLog {
  readonly namespace: string;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Binds the SDK's {@link Logger} (the one `options.log` replaces everywhere) to a namespace; without
 * one, lines go to stderr the way the runtime's do (`DEBUG=spectra:*` shows info lines).
 * @internal
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
