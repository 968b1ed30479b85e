import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Cube } from '../sdk/cube/cube';
import { quicklook } from '../sdk/cube/quicklook';
import { type BrokerOptions, connectClient } from '../sdk/publish/broker-connection';
import { EmbeddedBroker, isLoopback } from '../sdk/publish/embedded-broker';
import { createLogger, type Logger, type NamespacedLog } from '../sdk/core/log';
import type { CubeMessageMeta } from '../sdk/publish/protocol';
import { CubeSubscriber } from '../sdk/publish/subscriber';
import { findViewerDir, json, listen, pixelIndex, portInUse, sameOrigin, sendFile } from './http';

/** Options of {@link ViewServer.start}. */
export interface ViewServerOptions {
  /**
   * Broker the cubes arrive on: `mqtt://` (browsers reach it through the server's `/mqtt` WebSocket bridge)
   * or `ws://`/`wss://` (browsers connect to it directly). An embedded broker is started when omitted.
   */
  broker?: string;
  /** MQTT version for an external broker. @defaultValue 5 (4 for the embedded aedes broker) */
  protocolVersion?: 4 | 5;
  username?: string;
  password?: string;
  tls?: BrokerOptions['tls'];
  /** HTTP port of the page; 0 picks a free one. @defaultValue 8080 */
  port?: number;
  /**
   * Address the page and the embedded broker listen on. Beyond loopback it needs `allowRemote: true`, and the
   * embedded broker then requires `username`/`password` from every client. @defaultValue '127.0.0.1'
   */
  host?: string;
  /** Allow a non-loopback `host` (logged as a warning). @defaultValue false */
  allowRemote?: boolean;
  /**
   * Origins (`http://host:port`) whose pages may open the `/mqtt` WebSocket bridge besides this server's own.
   * Any other Origin is refused, so a foreign web page cannot subscribe to `#` or publish through the bridge.
   */
  allowedOrigins?: readonly string[];
  /** TCP port of the embedded broker (publishers connect here); 0 picks a free one. @defaultValue 1883 */
  mqttPort?: number;
  /** Publish a quicklook PNG on `spectra/<device>/quicklook` for every cube received. @defaultValue true */
  publishQuicklooks?: boolean;
  /** Folder holding index.html and viewer.js. @defaultValue the `viewer/` folder this server belongs to */
  staticDir?: string;
  /** Replaces the `spectra:view` logger (and the subscriber's). */
  log?: Logger;
}

/** What the server keeps about a device: its latest reassembled cube. */
export interface DeviceView {
  meta: CubeMessageMeta;
  cube: Cube;
  /** When the last chunk arrived (ms since epoch). */
  receivedAt: number;
  /** Cubes received from this device since start. */
  count: number;
}

const DEFAULTS = Object.freeze({ port: 8080, host: '127.0.0.1', mqttPort: 1883, publishQuicklooks: true });

/**
 * The live viewer's server (`spectra view`): serves the page, keeps the latest reassembled cube per device
 * (subscriber library), answers `GET /api/<device>/spectrum?x=&y=` with one pixel's spectrum so browsers never
 * pull whole cubes (multi-MB MQTT-over-WebSocket messages are slow or fail: mqtt.js #655, #980), publishes
 * quicklooks, and gives the page an MQTT-over-WebSocket path to the broker.
 * @example
 * const view = await ViewServer.start({ port: 8080 });
 * console.log(`open ${view.url}; publish to ${view.brokerUrl}`);
 */
export class ViewServer {
  private readonly devices = new Map<string, DeviceView>();
  private closed = false;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly subscriber: CubeSubscriber,
    private readonly publisher: MqttClient,
    private readonly embedded: EmbeddedBroker | undefined,
    private readonly host: string,
    /** Where publishers and subscribers connect (the embedded broker's TCP URL, or the broker given). */
    readonly brokerUrl: string,
    /** Where the page connects over MQTT-over-WebSocket; `null` means this server's own `/mqtt`. */
    readonly browserBrokerUrl: string | null,
  ) {}

  /** The page's URL. */
  get url(): string {
    return `http://${this.host}:${(this.http.address() as AddressInfo).port}/`;
  }

  /**
   * Starts the broker (when none is given), the subscriber and the HTTP server.
   * @param options - See {@link ViewServerOptions}.
   * @returns The running server.
   * @throws {@link BrokerConnectionError} when the broker cannot be reached.
   */
  static async start(options: ViewServerOptions = {}): Promise<ViewServer> {
    const opts = { ...DEFAULTS, ...options };
    const log = createLogger('spectra:view', opts.log);
    if (!isLoopback(opts.host)) {
      if (opts.allowRemote !== true) {
        throw new RangeError(`Expected a loopback --host but received '${opts.host}'; pass --allow-remote (allowRemote: true) to serve the viewer beyond this machine`);
      }
      log.warn(`the viewer listens on ${opts.host}, beyond this machine${opts.broker === undefined ? '; its embedded broker requires credentials' : ''}`);
    }
    const staticDir = opts.staticDir ?? findViewerDir();
    let embedded: EmbeddedBroker | undefined;
    let brokerUrl = opts.broker;
    if (brokerUrl === undefined) {
      // No WebSocket listener of its own: the page reaches it through this server's same-origin /mqtt bridge,
      // which also works when the viewer is opened from another machine.
      const remote = !isLoopback(opts.host);
      const credentials = opts.username !== undefined && opts.password !== undefined ? { username: opts.username, password: opts.password } : undefined;
      embedded = await EmbeddedBroker.start({
        host: opts.host,
        port: opts.mqttPort,
        wsPort: null,
        ...(remote ? { allowRemote: true } : {}),
        ...(credentials ? { credentials } : {}),
        ...(opts.log ? { log: opts.log } : {}),
      }).catch(
        (err: NodeJS.ErrnoException) => {
          throw err.code === 'EADDRINUSE' ? portInUse(opts.host, opts.mqttPort, 'the embedded MQTT broker (--mqtt-port; or pass --broker to use the running one)', err) : err;
        },
      );
      brokerUrl = embedded.url;
    }
    const isWs = /^wss?:\/\//.test(brokerUrl);
    const broker: BrokerOptions = {
      broker: brokerUrl,
      protocolVersion: opts.protocolVersion ?? (embedded ? 4 : 5),
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    };
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true });
    // Whatever started before a failure is stopped again, so a failed start never leaves the process hanging.
    const undo: (() => Promise<unknown>)[] = [];
    if (embedded) undo.push(() => embedded.close());
    let view: ViewServer;
    try {
      const subscriber = await CubeSubscriber.connect({ ...broker, quicklook: false, ...(opts.log ? { log: opts.log } : {}) });
      undo.push(() => subscriber.close());
      const clientId = `spectra-view-${Math.random().toString(16).slice(2, 10)}`;
      const { client: publisher } = await connectClient({ ...broker, clientId }, { clientId, clean: true, reconnectPeriod: 1000 });
      undo.push(() => publisher.endAsync(true));
      view = new ViewServer(http, wss, subscriber, publisher, embedded, opts.host, brokerUrl, isWs ? brokerUrl : null);
      view.attach(staticDir, opts.publishQuicklooks, log, opts.allowedOrigins ?? []);
      await listen(http, opts.port, opts.host, 'the viewer page (--port)');
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw err;
    }
    log.info(`viewer on ${view.url}`);
    return view;
  }

  private attach(staticDir: string, publishQuicklooks: boolean, log: NamespacedLog, allowedOrigins: readonly string[]): void {
    this.http.on('request', (req, res) => {
      this.route(req, res, staticDir).catch((err: Error) => {
        log.error(`${req.url}: ${err.message}`);
        if (!res.headersSent) json(res, 500, { error: err.message });
      });
    });
    this.http.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/mqtt' || this.browserBrokerUrl !== null) {
        socket.destroy();
        return;
      }
      // Browsers always send Origin on a WebSocket handshake and let any page open one to any host, so the
      // bridge accepts only this server's own page (same host:port) and origins listed explicitly.
      const origin = req.headers.origin;
      if (origin !== undefined && !sameOrigin(origin, req.headers.host) && !allowedOrigins.includes(origin)) {
        log.warn(`refused a /mqtt WebSocket from origin ${origin}`);
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        bridgeToTcp(stream, this.brokerUrl, log);
      });
    });
    this.subscriber.on('cube', ({ meta, cube }) => {
      const previous = this.devices.get(meta.device);
      this.devices.set(meta.device, { meta, cube, receivedAt: Date.now(), count: (previous?.count ?? 0) + 1 });
      if (publishQuicklooks) {
        quicklook(cube)
          .then(({ png }) => this.publisher.publish(`spectra/${meta.device}/quicklook`, png, { qos: 0, retain: true }))
          .catch((err: Error) => log.warn(`quicklook of ${meta.device}/${meta.sequence}: ${err.message}`));
      }
    });
  }

  /** The latest cube of `device`, if one arrived. */
  latest(device: string): DeviceView | undefined {
    return this.devices.get(device);
  }

  /** Stops everything this server started. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.subscriber.close();
    await this.publisher.endAsync(true);
    await this.embedded?.close();
  }

  private async route(req: IncomingMessage, res: ServerResponse, staticDir: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET') return json(res, 405, { error: `${req.method} is not supported; only GET` });
    if (url.pathname === '/' || url.pathname === '/index.html') return sendFile(res, join(staticDir, 'index.html'));
    if (url.pathname === '/viewer.js' || url.pathname === '/viewer.css') return sendFile(res, join(staticDir, url.pathname.slice(1)));
    if (url.pathname === '/vendor/mqtt.min.js') return sendFile(res, mqttBrowserBundle());
    if (url.pathname === '/api/config') return json(res, 200, { broker: this.browserBrokerUrl, devices: [...this.devices.keys()] });
    const m = /^\/api\/([A-Za-z0-9_.:-]{1,64})\/(latest|spectrum)$/.exec(url.pathname);
    if (m === null) return json(res, 404, { error: `no such path: ${url.pathname}` });
    const view = this.devices.get(m[1]);
    if (view === undefined) return json(res, 404, { error: `no cube from device '${m[1]}' yet` });
    if (m[2] === 'latest') return json(res, 200, describe(view));
    const { cube } = view;
    const x = pixelIndex(url.searchParams.get('x'), cube.width);
    const y = pixelIndex(url.searchParams.get('y'), cube.height);
    if (typeof x === 'string') return json(res, 400, { error: `x: ${x}` });
    if (typeof y === 'string') return json(res, 400, { error: `y: ${y}` });
    const plane = cube.width * cube.height;
    const values = Array.from({ length: cube.bands }, (_, b) => cube.data[b * plane + y * cube.width + x]);
    return json(res, 200, {
      device: view.meta.device,
      sequence: view.meta.sequence,
      x,
      y,
      wavelengths: [...cube.wavelengths],
      values,
    });
  }
}

function describe(view: DeviceView): Record<string, unknown> {
  const { meta } = view;
  return {
    device: meta.device,
    sequence: meta.sequence,
    shape: meta.shape,
    wavelengths: meta.wavelengths,
    model: meta.model ?? null,
    quality: meta.quality ?? null,
    capturedAt: meta.capturedAt,
    fusedAt: meta.fusedAt ?? null,
    receivedAt: new Date(view.receivedAt).toISOString(),
    // Capture to reassembled-on-the-viewer; assumes the device clock is synchronised (NTP/PTP).
    latencyMs: view.receivedAt - Date.parse(meta.capturedAt),
    count: view.count,
  };
}

function mqttBrowserBundle(): string {
  // mqtt's package exports hide dist/, so walk from its entry point (build/index.js) to the package root.
  return join(dirname(dirname(require.resolve('mqtt'))), 'dist', 'mqtt.min.js');
}

/** MQTT over WebSocket is the same byte stream in binary frames, so a browser reaches a TCP-only broker by piping. */
function bridgeToTcp(stream: Duplex, brokerUrl: string, log: NamespacedLog): void {
  const u = new URL(brokerUrl);
  if (u.protocol !== 'mqtt:') {
    log.warn(`the /mqtt bridge speaks plain TCP only; ${brokerUrl} needs the browser to connect over wss:// directly`);
    stream.destroy();
    return;
  }
  const tcp = netConnect(Number(u.port || 1883), u.hostname);
  tcp.on('error', (err) => {
    log.warn(`/mqtt bridge to ${brokerUrl}: ${err.message}`);
    stream.destroy();
  });
  stream.on('close', () => tcp.destroy());
  tcp.on('close', () => stream.destroy());
  stream.pipe(tcp).pipe(stream);
}
