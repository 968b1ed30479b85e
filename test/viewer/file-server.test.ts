// The file viewer's server without a browser: typed errors before anything listens (missing file, shape mismatch,
// through the CLI too), planes served one at a time as float32, and the same security defaults as the live viewer.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import type { Cube } from '../../sdk/cube/cube';
import { createCube } from '../../sdk/cube/create';
import { readEnvi, writeEnvi } from '../../sdk/cube/envi';
import { writeNpy } from '../../sdk/cube/npy';
import { FileFormatError } from '../../sdk/core/errors';
import { ShapeMismatchError } from '../../viewer/errors';
import { FileViewServer } from '../../viewer/file-server';
import { ROOT, tempDir } from '../sdk/helpers';

function rampCube(bands: number, height: number, width: number): Cube {
  const data = Float32Array.from({ length: bands * height * width }, (_, i) => i / 7);
  return createCube({ bands, height, width, data, wavelengths: Array.from({ length: bands }, (_, b) => 500 + 10 * b) });
}

/** Runs the CLI; resolves with its exit code and output, or rejects if it is still running after `ms` (a server that started). */
function spectra(args: string[], ms: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'spectra.js'), ...args], { cwd: ROOT });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`spectra ${args.join(' ')} still running after ${ms} ms: ${stdout}${stderr}`));
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('file viewer: a missing or bad file is a typed error naming the path, before anything listens', async (t) => {
  const dir = tempDir('spectra-view-');
  const missing = join(dir, 'nope.hdr');
  const err = await FileViewServer.start({ file: missing, port: 0, log: () => undefined }).catch((e: unknown) => e);
  t.type(err, FileFormatError);
  t.equal((err as FileFormatError).code, 'E_FILE_FORMAT');
  t.equal((err as FileFormatError).path, missing);
  t.match((err as Error).message, /nope\.hdr: file not found; give spectra view a cube file: an ENVI \.hdr/);
  writeFileSync(join(dir, 'bad.hdr'), 'not a header\n');
  await t.rejects(FileViewServer.start({ file: join(dir, 'bad.hdr'), port: 0 }), { code: 'E_FILE_FORMAT', message: /bad\.hdr: not an ENVI header .*; give spectra view a cube file/ });
  await writeEnvi(join(dir, 'ok.hdr'), rampCube(3, 4, 5));
  await t.rejects(FileViewServer.start({ file: join(dir, 'ok.hdr'), compare: join(dir, 'gone.tif'), port: 0 }), { code: 'E_FILE_FORMAT', message: /gone\.tif: file not found/ }, 'the reference is checked too');
});

t.test('file viewer --compare: a shape mismatch names both files and both shapes', async (t) => {
  const dir = tempDir('spectra-view-');
  await writeEnvi(join(dir, 'fused.hdr'), rampCube(3, 4, 5));
  await writeEnvi(join(dir, 'truth.hdr'), rampCube(3, 4, 6));
  const err = await FileViewServer.start({ file: join(dir, 'fused.hdr'), compare: join(dir, 'truth.hdr'), port: 0 }).catch((e: unknown) => e);
  t.type(err, ShapeMismatchError);
  t.equal((err as ShapeMismatchError).code, 'E_SHAPE_MISMATCH');
  t.match((err as Error).message, /Expected .*truth\.hdr to have the shape of .*fused\.hdr \(3 × 4 × 5 bands × height × width\) but it is 3 × 4 × 6/);
});

t.test('spectra view FILE: the CLI prints the typed error and exits before serving', async (t) => {
  const dir = tempDir('spectra-view-');
  const missing = await spectra(['view', join(dir, 'missing.hdr'), '--port', '0'], 60_000);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /FileFormatError \[E_FILE_FORMAT\]: .*missing\.hdr: file not found; give spectra view a cube file/);
  t.equal(missing.stdout, '', 'no server was started');
  const live = await spectra(['view', join(dir, 'missing.hdr'), '--broker', 'mqtt://127.0.0.1:1'], 60_000);
  t.equal(live.code, 1);
  t.match(live.stderr, /--broker applies to the live viewer only/);
});

t.test('file viewer API: one float32 plane per request, spectra with nulls at invalid bands, npy with given wavelengths', async (t) => {
  const dir = tempDir('spectra-view-');
  const cube = rampCube(4, 3, 5);
  await writeEnvi(join(dir, 'c.hdr'), { ...cube, meta: { bandValid: [true, false, true, true] } });
  const read = await readEnvi(join(dir, 'c.hdr'));
  const shifted = createCube({ ...cube, data: cube.data.map((v) => v + 1) });
  await writeNpy(join(dir, 'ref.npy'), shifted);
  const view = await FileViewServer.start({ file: join(dir, 'c.hdr'), compare: join(dir, 'ref.npy'), read: { wavelengths: cube.wavelengths }, port: 0, log: () => undefined });
  t.teardown(() => view.close());
  const get = (path: string): Promise<Response> => fetch(new URL(path, view.url));
  const meta = (await (await get('/api/cube')).json()) as Record<string, unknown>;
  t.match(meta, { shape: [4, 3, 5], wavelengths: cube.wavelengths, bandValid: [true, false, true, true], wavelengthsKnown: true, compare: { name: 'ref.npy' } });

  const res = await get('/api/plane?band=2');
  t.equal(res.headers.get('content-type'), 'application/octet-stream');
  t.equal(res.headers.get('content-length'), String(3 * 5 * 4), 'one band plane, not the cube');
  t.same(Array.from(new Float32Array(await res.arrayBuffer())), Array.from(read.data.subarray(2 * 15, 3 * 15)));
  const ref = new Float32Array(await (await get('/api/plane?source=compare&band=0')).arrayBuffer());
  t.same(Array.from(ref), Array.from(shifted.data.subarray(0, 15)));
  const diff = new Float32Array(await (await get('/api/plane?source=diff&band=3')).arrayBuffer());
  t.same(Array.from(diff), Array.from(cube.data.subarray(45, 60), (v, i) => Math.fround(Math.abs(v - shifted.data[45 + i]))));
  const angle = new Float32Array(await (await get('/api/plane?source=angle')).arrayBuffer());
  t.equal(angle.length, 15);
  t.ok(angle.every((v) => v > 0 && v < 90), 'a +1 shift tilts every spectrum');

  const s = (await (await get('/api/spectrum?x=4&y=2')).json()) as { values: (number | null)[]; compare: number[] };
  const at = (c: Cube, b: number): number => c.data[(b * 3 + 2) * 5 + 4];
  t.same(s.values, [at(cube, 0), null, at(cube, 2), at(cube, 3)]);
  t.same(s.compare, [0, 1, 2, 3].map((b) => at(shifted, b)), 'the .npy reference has no band mask: every band');
  t.match([(await get('/api/plane?band=4')).status, await (await get('/api/plane?band=4')).json()], [400, { error: /^band: expected an integer in \[0, 3\]/ }]);
  t.match(await (await get('/api/plane?source=x')).json(), { error: /source: expected cube, compare, diff or angle/ });
  t.match(await (await get('/api/spectrum?x=5&y=0')).json(), { error: /^x: expected an integer in \[0, 4\]/ });
});

t.test('file viewer security: loopback only unless allowed, foreign origins and DNS-rebound hosts refused', async (t) => {
  const dir = tempDir('spectra-view-');
  await writeEnvi(join(dir, 'c.hdr'), rampCube(2, 2, 2));
  await t.rejects(FileViewServer.start({ file: join(dir, 'c.hdr'), host: '0.0.0.0', port: 0 }), RangeError);
  const view = await FileViewServer.start({ file: join(dir, 'c.hdr'), port: 0, allowedOrigins: ['http://lab.example:9000'], log: () => undefined });
  t.teardown(() => view.close());
  const status = (headers: Record<string, string>): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(new URL('/api/cube', view.url), { headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  const own = new URL(view.url).host;
  t.equal(await status({}), 200, 'the page itself (no Origin on same-origin GETs)');
  t.equal(await status({ origin: `http://${own}` }), 200);
  t.equal(await status({ origin: 'http://lab.example:9000' }), 200, '--allow-origin');
  t.equal(await status({ origin: 'http://evil.example' }), 403, 'a foreign page');
  t.equal(await status({ host: `evil.example:${new URL(view.url).port}` }), 403, 'a DNS-rebound name');
  t.equal(await status({ host: `localhost:${new URL(view.url).port}` }), 200);
});
