import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { BrokerConnectionError, redactUrl } from './errors';

export { redactUrl };

/** TLS material for `mqtts://` / `wss://` brokers. Strings are file paths; Buffers are PEM contents. */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Check the broker's certificate against `ca` (or the system store). @defaultValue true */
  rejectUnauthorized?: boolean;
  /** Name to check the certificate against when it differs from the URL host. */
  servername?: string;
}

/** Connection settings shared by the publisher and the subscriber. */
export interface BrokerOptions {
  /** `mqtt://host:1883`, `mqtts://host:8883`, `ws://host:8080/mqtt`, `wss://…`. */
  broker: string;
  clientId?: string;
  /** MQTT 5 (maximum packet size, content types, shared subscriptions) or 3.1.1 for brokers without 5 (aedes). @defaultValue 5 */
  protocolVersion?: 4 | 5;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  /** How long the first CONNACK may take. @defaultValue 10000 */
  connectTimeoutMs?: number;
  /** @defaultValue 30 */
  keepaliveSeconds?: number;
}

async function pem(value: string | Buffer | undefined, what: string, url: string): Promise<Buffer | undefined> {
  if (value === undefined || Buffer.isBuffer(value)) return value;
  try {
    return await readFile(value);
  } catch (err) {
    throw new BrokerConnectionError(url, `cannot read the TLS ${what} file '${value}'`, undefined, { cause: err });
  }
}

/**
 * Builds mqtt.js options from {@link BrokerOptions}; reconnection is left to the caller (reconnectPeriod 0)
 * so it can back off exponentially instead of mqtt.js's fixed period.
 * @internal
 */
export async function clientOptions(o: BrokerOptions, extra: IClientOptions): Promise<IClientOptions> {
  const tls = o.tls ?? {};
  const [ca, cert, key] = await Promise.all([pem(tls.ca, 'CA', o.broker), pem(tls.cert, 'certificate', o.broker), pem(tls.key, 'key', o.broker)]);
  return {
    protocolVersion: o.protocolVersion ?? 5,
    keepalive: o.keepaliveSeconds ?? 30,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    reconnectPeriod: 0,
    ...(o.clientId !== undefined ? { clientId: o.clientId } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...extra,
  };
}

const REFUSED: Record<number, string> = {
  // MQTT 3.1.1 CONNACK return codes
  1: 'the broker does not speak this MQTT version (try protocolVersion 4)',
  2: 'the broker rejected the client id',
  3: 'the broker is unavailable',
  4: 'the broker refused the user name or password',
  5: 'the client is not authorised to connect',
  // MQTT 5 reason codes
  132: 'the broker does not speak this MQTT version (try protocolVersion 4)',
  133: 'the broker rejected the client id',
  134: 'the broker refused the user name or password',
  135: 'the client is not authorised to connect',
  136: 'the broker is unavailable',
  137: 'the broker is busy',
  138: 'the client is banned',
  140: 'the broker refused the authentication method',
};

/**
 * Turns an mqtt.js / socket / TLS error into a {@link BrokerConnectionError} that says what to fix.
 * @internal
 */
export function explainConnectError(url: string, err: unknown): BrokerConnectionError {
  if (err instanceof BrokerConnectionError) return err;
  const e = err as { code?: unknown; message?: string };
  const message = e?.message ?? String(err);
  if (typeof e?.code === 'number' && REFUSED[e.code] !== undefined) {
    return new BrokerConnectionError(url, `connection refused: ${REFUSED[e.code]} (reason code ${e.code})`, e.code, { cause: err });
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/i.test(code) || /certificate|ssl|tls|handshake/i.test(message)) {
    return new BrokerConnectionError(
      url,
      `TLS handshake failed (${code || message}); check the CA, client certificate and key, and that the broker name matches its certificate`,
      undefined,
      { cause: err },
    );
  }
  if (code === 'ECONNREFUSED') return new BrokerConnectionError(url, 'connection refused; is a broker listening on this host and port?', undefined, { cause: err });
  if (code === 'ENOTFOUND') return new BrokerConnectionError(url, 'host name does not resolve', undefined, { cause: err });
  return new BrokerConnectionError(url, `cannot connect: ${message}`, undefined, { cause: err });
}

/**
 * Opens a client and waits for the first CONNACK.
 * @param attach - Called with the client before it connects: a resumed session's queued messages can arrive
 *   in the same read as the CONNACK, before any later `on('message')` would be attached.
 * @returns The connected client and its CONNACK (for the broker's Maximum Packet Size and Receive Maximum).
 * @throws {@link BrokerConnectionError} on refusal, TLS failure, unreachable broker or timeout.
 * @internal
 */
export async function connectClient(
  o: BrokerOptions,
  extra: IClientOptions,
  attach?: (client: MqttClient) => void,
): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  const opts = await clientOptions(o, extra);
  const timeoutMs = o.connectTimeoutMs ?? 10_000;
  let client: MqttClient;
  try {
    client = mqtt.connect(o.broker, opts);
    attach?.(client);
  } catch (err) {
    throw explainConnectError(o.broker, err);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new BrokerConnectionError(o.broker, `no CONNACK within ${timeoutMs} ms`)), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      client.removeListener('connect', onConnect);
      client.removeListener('error', fail);
      client.removeListener('close', onClose);
    };
    const fail = (err: unknown): void => {
      cleanup();
      client.end(true);
      reject(explainConnectError(o.broker, err));
    };
    const onClose = (): void => fail(new BrokerConnectionError(o.broker, 'the connection closed before CONNACK (wrong port, or a TLS listener reached without TLS?)'));
    const onConnect = (connack: IConnackPacket): void => {
      cleanup();
      resolve({ client, connack });
    };
    client.once('connect', onConnect);
    client.once('error', fail);
    client.once('close', onClose);
  });
}

/**
 * Ends a client without ever hanging. mqtt.js's graceful `end()` waits for every message it still tracks,
 * which never completes when they belong to a connection that died, and once it is waiting a forced `end(true)`
 * is ignored (the client is already "disconnecting"), so its socket would keep the process alive (issue 17:
 * `spectra run` hung after broker restarts, or exited half-way through `finally`). Here the wait for
 * acknowledgements is ours and bounded by `ms`; then the client ends, and a socket still open after a further
 * grace is destroyed.
 * @param client - The client.
 * @param ms - How long to wait for outstanding acknowledgements (receipts, status) first. @defaultValue 2000
 * @internal
 */
export async function endClient(client: MqttClient, ms = 2000): Promise<void> {
  const outstanding = (): boolean => Object.keys((client as unknown as { outgoing?: object }).outgoing ?? {}).length > 0;
  if (client.connected && ms > 0 && outstanding()) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.removeListener('outgoingEmpty', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      client.once('outgoingEmpty', done);
    });
  }
  // Graceful (a DISCONNECT packet, no last will) only when nothing is outstanding; else mqtt.js would wait again.
  const graceful = client.connected && !outstanding();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve) => client.end(!graceful, {}, () => resolve())),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000);
    }),
  ]);
  clearTimeout(timer);
  const stream = client.stream as unknown as { destroyed?: boolean; destroy?: () => void } | undefined;
  if (stream && stream.destroyed === false) stream.destroy?.();
}

/**
 * Splits credentials out of a broker URL, so they travel as connect options and never appear in a
 * banner, an error or run.json; options given explicitly win over the URL's.
 * @internal
 */
export function credentialsFromUrl(url: string): { url: string; username?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url };
  }
  if (parsed.username === '' && parsed.password === '') return { url };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString().replace(/\/$/, url.endsWith('/') ? '/' : ''), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}
