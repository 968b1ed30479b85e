/**
 * HTTP pieces both viewers share (the live one in `server.ts`, the file one in `file-server.ts`): JSON answers,
 * static files, listening with a clear port-in-use error, and the Origin check.
 * @internal
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server, ServerResponse } from 'node:http';
import { join } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Whether a page at `origin` was served by this host (`Host` header): the viewer's own page. */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** A pixel index from a query parameter, or what is wrong with it. */
export function pixelIndex(raw: string | null, size: number): number | string {
  if (raw === null) return `missing; expected an integer in [0, ${size - 1}]`;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n >= size) return `expected an integer in [0, ${size - 1}] but received '${raw}'`;
  return n;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

export async function sendFile(res: ServerResponse, path: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch {
    return json(res, 404, { error: `${path} is missing` });
  }
  const ext = path.slice(path.lastIndexOf('.'));
  res.writeHead(200, { 'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
  res.end(body);
}

export function findViewerDir(): string {
  // The page sits beside this file; the compiled server (dist/viewer/) finds it two folders up.
  const candidates = [__dirname, join(__dirname, '..', '..', 'viewer')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0];
}

export function portInUse(host: string, port: number, what: string, cause: Error): Error {
  return new Error(`${host}:${port} is already in use; choose another port for ${what}`, { cause });
}

export async function listen(server: Server, port: number, host: string, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? portInUse(host, port, what, err) : err));
    server.listen(port, host, () => resolve());
  });
}
