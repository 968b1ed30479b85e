import { timingSafeEqual } from 'node:crypto';
import { type Server as HttpServer, createServer as createHttpServer } from 'node:http';
import { type AddressInfo, type Server as NetServer, createServer as createNetServer } from 'node:net';
import type { Aedes } from 'aedes' with { 'resolution-mode': 'import' };
import { WebSocketServer, createWebSocketStream } from 'ws';
import { type Logger, type NamespacedLog, createLogger } from '../core/log';

/** Options for {@link EmbeddedBroker.start}. */
export interface EmbeddedBrokerOptions {
  /**
   * Address to listen on. Anything but loopback needs `allowRemote: true` and `credentials`: without them any
   * host on the network could read every cube and publish as any device. @defaultValue '127.0.0.1'
   */
  host?: string;
  /** Allow a non-loopback `host` (logged as a warning). @defaultValue false */
  allowRemote?: boolean;
  /** Require this user name and password from every client (required beyond loopback). */
  credentials?: { username: string; password: string };
  /** MQTT over TCP port; 0 picks a free one. @defaultValue 1883 */
  port?: number;
  /** MQTT over WebSocket port (path `/mqtt`), for browsers; 0 picks a free one, null disables it. @defaultValue 8083 */
  wsPort?: number | null;
  log?: Logger;
}

/**
 * An in-process MQTT broker (aedes) so `spectra run` works without installing one. aedes speaks
 * MQTT 3.1.1 only, so clients of this broker use `protocolVersion: 4` (no CONNACK packet limit, no
 * shared subscriptions); use mosquitto or EMQX for those. It keeps everything in memory.
 * @example
 * const broker = await EmbeddedBroker.start({ port: 0 });
 * const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam', protocolVersion: 4 });
 */
export class EmbeddedBroker {
  private constructor(
    private readonly aedes: Aedes,
    private readonly tcp: NetServer,
    private readonly http: HttpServer | undefined,
    private readonly wss: WebSocketServer | undefined,
    /** `mqtt://host:port`. */
    readonly url: string,
    /** `ws://host:port/mqtt`, when enabled. */
    readonly wsUrl: string | undefined,
    private readonly log: NamespacedLog,
  ) {}

  /**
   * Starts the broker and its listeners.
   * @param options - See {@link EmbeddedBrokerOptions}.
   * @returns The running broker.
   * @throws Error when a port is taken (EADDRINUSE).
   */
  static async start(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
    const host = options.host ?? '127.0.0.1';
    const log = createLogger('spectra:broker', options.log);
    if (!isLoopback(host)) {
      if (options.allowRemote !== true) {
        throw new RangeError(`Expected a loopback host for the embedded broker but received '${host}'; pass allowRemote: true (spectra view --allow-remote) and credentials to listen beyond this machine`);
      }
      if (options.credentials === undefined) {
        throw new RangeError(`The embedded broker on '${host}' would accept anyone on the network; give it credentials (--username with SPECTRA_BROKER_PASSWORD or --password-file)`);
      }
      log.warn(`embedded broker listens on ${host}, beyond this machine; clients must authenticate`);
    }
    // aedes is an ES module; a dynamic import loads it from this CommonJS build.
    const { Aedes } = await import('aedes');
    const creds = options.credentials;
    const aedes = await Aedes.createBroker(
      creds === undefined
        ? {}
        : {
            authenticate: (_client, username, password, done) => {
              // Compared in constant time so the check does not leak how much of a guess was right.
              const ok = username !== undefined && password !== undefined && sameSecret(username, creds.username) && sameSecret(Buffer.from(password).toString('utf8'), creds.password);
              done(ok ? null : Object.assign(new Error('bad user name or password'), { returnCode: 4 }), ok);
            },
          },
    );
    const tcp = createNetServer((socket) => aedes.handle(socket));
    const port = await listen(tcp, options.port ?? 1883, host);
    let http: HttpServer | undefined;
    let wss: WebSocketServer | undefined;
    let wsUrl: string | undefined;
    if (options.wsPort !== null) {
      http = createHttpServer();
      wss = new WebSocketServer({ server: http, path: '/mqtt' });
      wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws) as never, req as never));
      const wsPort = await listen(http, options.wsPort ?? 8083, host);
      wsUrl = `ws://${host}:${wsPort}/mqtt`;
    }
    const url = `mqtt://${host}:${port}`;
    log.info(`embedded broker on ${url}${wsUrl ? ` and ${wsUrl}` : ''}`);
    aedes.on('clientError', (client, err) => log.debug(`client ${client?.id}: ${err.message}`));
    return new EmbeddedBroker(aedes, tcp, http, wss, url, wsUrl, log);
  }

  /** Closes listeners and the broker. */
  async close(): Promise<void> {
    this.wss?.clients.forEach((c) => c.terminate());
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.http?.closeAllConnections();
    await new Promise<void>((r) => this.aedes.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
    this.log.info('embedded broker stopped');
  }
}

/** Whether an address only reaches this machine. @internal */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
