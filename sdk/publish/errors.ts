import { PathError, SpectraError } from '../core/errors';

/** A cube-protocol message (meta or chunk) is malformed, hostile or inconsistent with its cube. */
export class CubeProtocolError extends SpectraError {
  readonly code = 'E_CUBE_PROTOCOL';
  constructor(
    readonly topic: string,
    message: string,
  ) {
    super(`${topic}: ${message}`);
  }
}

/** A reassembled payload does not hash to the sha256 its meta announced; the cube is dropped, never written. */
export class CubeIntegrityError extends SpectraError {
  readonly code = 'E_CUBE_INTEGRITY';
  constructor(
    readonly cubeKey: string,
    readonly expected: string,
    readonly received: string,
  ) {
    super(`cube ${cubeKey}: payload sha256 is ${received} but the meta announced ${expected}; cube dropped`);
  }
}

/**
 * Chunks of a cube were still missing when its reassembly timeout ran out. `missing` lists at most the
 * first 1000 missing indices (found in O(received + 1000), so a hostile meta announcing millions of chunks
 * never makes the subscriber build a list that large); `missingCount` is exact.
 */
export class IncompleteCubeError extends SpectraError {
  readonly code = 'E_CUBE_INCOMPLETE';
  constructor(
    readonly cubeKey: string,
    readonly missing: readonly number[],
    readonly chunkCount: number,
    readonly missingCount: number = missing.length,
  ) {
    const shown = missing.length > 12 || missingCount > missing.length ? `${missing.slice(0, 12).join(', ')}, …` : missing.join(', ');
    super(`cube ${cubeKey}: ${missingCount} of ${chunkCount} chunks never arrived (${shown}); cube dropped`);
  }
}

/**
 * A cube in progress was dropped, or a message refused, to keep the reassembler inside its hard limits
 * (pending bytes, pending cubes per device, chunks per cube, chunk size floor). The limit is named in
 * `limit`; a legitimate publisher never trips these with the default settings.
 */
export class ReassemblyLimitError extends SpectraError {
  readonly code = 'E_REASSEMBLY_LIMIT';
  constructor(
    readonly cubeKey: string,
    readonly limit: 'maxPendingBytes' | 'maxPendingCubesPerDevice' | 'maxPendingCubes' | 'maxChunkCount' | 'minChunkSize',
    message: string,
  ) {
    super(`cube ${cubeKey}: ${message} (limit ${limit})`);
  }
}

/**
 * A message would exceed the broker's Maximum Packet Size (from CONNACK, or `maxPacketSize` for
 * MQTT 3.1.1 brokers). It is refused before anything is sent: a broker drops an oversized PUBLISH by
 * closing the connection, which mqtt.js turns into a silent reconnect loop (mqtt.js #1005).
 */
export class PacketTooLargeError extends SpectraError {
  readonly code = 'E_PACKET_TOO_LARGE';
  constructor(
    readonly topic: string,
    readonly packetBytes: number,
    readonly maxPacketSize: number,
  ) {
    super(
      `${topic}: a ${packetBytes}-byte packet exceeds the broker's maximum packet size of ${maxPacketSize} bytes; ` +
        'lower chunkSize or raise the broker limit (mosquitto max_packet_size, EMQX mqtt.max_packet_size)',
    );
  }
}

/**
 * A broker URL fit to print or save: user name and password removed (`mqtt://***@host:1883`).
 * @internal
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/i, '$1***@');
}

/** The broker refused or could not be reached: bad credentials, TLS failure, unreachable host. */
export class BrokerConnectionError extends SpectraError {
  readonly code = 'E_BROKER_CONNECT';
  /** The broker URL with any credentials removed (errors end up in logs and run.json). */
  readonly url: string;
  constructor(
    url: string,
    message: string,
    readonly reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(`${redactUrl(url)}: ${message}`, options);
    this.url = redactUrl(url);
  }
}

/** The on-disk outbox cannot be used: directory not writable, a stored cube unreadable. */
export class OutboxError extends PathError {
  readonly code = 'E_OUTBOX';
  /** The system error behind it, when there is one (`ENOSPC`, `EACCES`…). */
  readonly errno: string | undefined;
  constructor(path: string, message: string, options?: { cause?: unknown; errno?: string }) {
    super(path, message, options);
    this.errno = options?.errno;
  }
}
