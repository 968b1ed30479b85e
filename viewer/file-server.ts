import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import type { ReadCubeOptions } from '../sdk/cube/read-cube';
import { createLogger, type Logger, type NamespacedLog } from '../sdk/core/log';
import { isLoopback } from '../sdk/publish/embedded-broker';
import { type CubeFile, absDifferencePlane, assertSameShape, bandPlane, openCubeFile, spectralAnglePlane, spectrumAt } from './cube-file';
import { findViewerDir, json, listen, pixelIndex, sameOrigin, sendFile } from './http';

/** Options of {@link FileViewServer.start}. */
export interface FileViewServerOptions {
  /** The cube to show (ENVI `.hdr`, GeoTIFF, `.npy`: whatever `readCube` reads). */
  file: string;
  /** A reference of the same shape (e.g. ground truth): enables |a−b| and spectral-angle views. */
  compare?: string;
  /** How to read files that carry no layout or wavelengths (`.npy`). */
  read?: ReadCubeOptions;
  /** HTTP port of the page; 0 picks a free one. @defaultValue 8080 */
  port?: number;
  /** Address to listen on. Beyond loopback it needs `allowRemote: true`. @defaultValue '127.0.0.1' */
  host?: string;
  /** Allow a non-loopback `host` (logged as a warning). @defaultValue false */
  allowRemote?: boolean;
  /** Origins (`http://host:port`) whose pages may call the API besides this server's own page. */
  allowedOrigins?: readonly string[];
  /** Folder holding file.html and file-viewer.js. @defaultValue the `viewer/` folder this server belongs to */
  staticDir?: string;
  /** Replaces the `spectra:view` logger. */
  log?: Logger;
}

const DEFAULTS = Object.freeze({ port: 8080, host: '127.0.0.1' });

/**
 * The file viewer's server (`spectra view FILE [--compare REF]`): opens the cubes before it listens, serves the page,
 * and answers the page one float32 plane at a time (`GET /api/plane`), so a cube of any size never goes to the
 * browser whole. The page builds band, true/false colour, difference and spectral-angle views from those planes.
 * @example
 * const view = await FileViewServer.start({ file: 'fused.hdr', compare: 'truth.hdr', port: 0 });
 * console.log(`open ${view.url}`);
 */
export class FileViewServer {
  private angle: Float32Array | undefined;
  private closed = false;

  private constructor(
    private readonly http: Server,
    private readonly host: string,
    /** The cube shown. */
    readonly file: CubeFile,
    /** The reference it is compared with, if any. */
    readonly reference: CubeFile | undefined,
  ) {}

  /** The page's URL. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${(this.http.address() as AddressInfo).port}/`;
  }

  /**
   * Opens the cube (and the reference), then starts the HTTP server.
   * @param options - See {@link FileViewServerOptions}.
   * @returns The running server.
   * @throws {@link FileFormatError} naming a file that is missing or unreadable (before anything listens).
   * @throws {@link ShapeMismatchError} naming both files when the reference's shape differs.
   * @throws RangeError when `host` is not loopback and `allowRemote` is not set.
   */
  static async start(options: FileViewServerOptions): Promise<FileViewServer> {
    const opts = { ...DEFAULTS, ...options };
    const log = createLogger('spectra:view', opts.log);
    if (!isLoopback(opts.host)) {
      if (opts.allowRemote !== true) {
        throw new RangeError(`Expected a loopback --host but received '${opts.host}'; pass --allow-remote (allowRemote: true) to serve the viewer beyond this machine`);
      }
      log.warn(`the viewer listens on ${opts.host}, beyond this machine: anyone who reaches it can read ${opts.file}`);
    }
    const file = await openCubeFile(opts.file, opts.read);
    const reference = opts.compare === undefined ? undefined : await openCubeFile(opts.compare, opts.read);
    if (reference) {
      assertSameShape(file, reference);
      // Same shape but another band grid compares unlike bands; files without wavelengths (band indices) say nothing.
      const known = (f: CubeFile): boolean => f.cube.meta?.wavelengthsFromHeader !== false;
      const off = file.cube.wavelengths.findIndex((w, b) => Math.abs(w - reference.cube.wavelengths[b]) > 0.5);
      if (known(file) && known(reference) && off >= 0) {
        log.warn(`band ${off} is at ${file.cube.wavelengths[off]} nm in ${file.path} but ${reference.cube.wavelengths[off]} nm in ${reference.path}: the difference views compare unlike bands`);
      }
    }
    const http = createServer();
    const view = new FileViewServer(http, opts.host, file, reference);
    view.attach(opts.staticDir ?? findViewerDir(), log, opts.allowedOrigins ?? [], !isLoopback(opts.host));
    await listen(http, opts.port, opts.host, 'the viewer page (--port)');
    log.info(`viewer of ${file.path} on ${view.url}`);
    return view;
  }

  /** Stops the HTTP server. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private attach(staticDir: string, log: NamespacedLog, allowedOrigins: readonly string[], remote: boolean): void {
    this.http.on('request', (req, res) => {
      const refusal = refuse(req, allowedOrigins, remote);
      if (refusal !== undefined) {
        log.warn(refusal);
        return json(res, 403, { error: refusal });
      }
      this.route(req, res, staticDir).catch((err: Error) => {
        log.error(`${req.url}: ${err.message}`);
        if (!res.headersSent) json(res, 500, { error: err.message });
      });
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse, staticDir: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET') return json(res, 405, { error: `${req.method} is not supported; only GET` });
    if (url.pathname === '/' || url.pathname === '/index.html') return sendFile(res, join(staticDir, 'file.html'));
    if (url.pathname === '/file-viewer.js') return sendFile(res, join(staticDir, 'file-viewer.js'));
    if (url.pathname === '/api/cube') return json(res, 200, this.describe());
    if (url.pathname === '/api/spectrum') return this.spectrum(res, url.searchParams);
    if (url.pathname === '/api/plane') return this.plane(res, url.searchParams);
    return json(res, 404, { error: `no such path: ${url.pathname}` });
  }

  private describe(): Record<string, unknown> {
    const { cube, path, bandValid } = this.file;
    const ref = this.reference;
    return {
      name: basename(path),
      path,
      shape: [cube.bands, cube.height, cube.width],
      wavelengths: [...cube.wavelengths],
      // Without wavelengths in the file the readers number the bands; the page then labels them as indices.
      wavelengthsKnown: cube.meta?.wavelengthsFromHeader !== false,
      bandValid,
      // Planes are sent as the host's float32, little endian on every platform Node runs on.
      planeEncoding: 'float32le',
      compare: ref ? { name: basename(ref.path), path: ref.path, bandValid: ref.bandValid } : null,
    };
  }

  private spectrum(res: ServerResponse, q: URLSearchParams): void {
    const { cube } = this.file;
    const x = pixelIndex(q.get('x'), cube.width);
    const y = pixelIndex(q.get('y'), cube.height);
    if (typeof x === 'string') return json(res, 400, { error: `x: ${x}` });
    if (typeof y === 'string') return json(res, 400, { error: `y: ${y}` });
    return json(res, 200, {
      x,
      y,
      wavelengths: [...cube.wavelengths],
      values: spectrumAt(this.file, x, y),
      compare: this.reference ? spectrumAt(this.reference, x, y) : null,
    });
  }

  private plane(res: ServerResponse, q: URLSearchParams): void {
    const source = q.get('source') ?? 'cube';
    const { cube } = this.file;
    if (source !== 'cube' && source !== 'compare' && source !== 'diff' && source !== 'angle') {
      return json(res, 400, { error: `source: expected cube, compare, diff or angle but received '${source}'` });
    }
    const ref = this.reference;
    if (source !== 'cube' && ref === undefined) return json(res, 400, { error: `source: '${source}' needs a reference (spectra view FILE --compare REF)` });
    let plane: Float32Array;
    if (source === 'angle') {
      this.angle ??= spectralAnglePlane(cube, ref!.cube, this.file.bandValid.map((v, b) => v && ref!.bandValid[b]));
      plane = this.angle;
    } else {
      const band = pixelIndex(q.get('band'), cube.bands);
      if (typeof band === 'string') return json(res, 400, { error: `band: ${band}` });
      plane = source === 'cube' ? bandPlane(cube, band) : source === 'compare' ? bandPlane(ref!.cube, band) : absDifferencePlane(cube, ref!.cube, band);
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(plane.byteLength),
      'x-plane-shape': `${cube.height},${cube.width}`,
      'cache-control': 'no-store',
    });
    res.end(Buffer.from(plane.buffer, plane.byteOffset, plane.byteLength));
  }
}

/**
 * Why a request must not be answered, or undefined. The page holds file contents, so besides the live viewer's
 * rule (pages of other origins are refused: browsers send `Origin` on cross-origin requests) a loopback server
 * answers only to loopback `Host` names: a DNS-rebinding page has its own name in `Host`.
 */
function refuse(req: IncomingMessage, allowedOrigins: readonly string[], remote: boolean): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, req.headers.host) && !allowedOrigins.includes(origin)) {
    return `refused ${req.url ?? '/'} from origin ${origin} (--allow-origin adds one)`;
  }
  if (!remote) {
    let hostname = '';
    try {
      hostname = new URL(`http://${req.headers.host ?? ''}`).hostname.replace(/^\[|\]$/g, '');
    } catch {
      // An unparsable Host is refused below.
    }
    if (!isLoopback(hostname)) return `refused ${req.url ?? '/'} for host '${req.headers.host ?? ''}': a loopback viewer answers loopback names only`;
  }
  return undefined;
}
