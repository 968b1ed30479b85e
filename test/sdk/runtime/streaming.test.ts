import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvi } from '../../../sdk/cube/envi';
import { writeNpy } from '../../../sdk/cube/npy';
import { quicklook } from '../../../sdk/cube/quicklook';
import { BandCountError, OutputWriteError } from '../../../sdk/core/errors';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { planTiles } from '../../../sdk/runtime/tiling';
import { stripCapacity } from '../../../sdk/runtime/strip-stitcher';
import { ROOT, TINY_MODEL, randomCube, tempDir } from '../helpers';

const WL = [420, 460, 500, 540, 580, 620, 660, 700];
const RGB = [600, 540, 460];
// 160 x 112 HR with 48-px tiles: 5 tile rows (every 28 px) x 3 columns (every 32 px), so rows are flushed in steps.
const lr = randomCube(8, 40, 28, WL, 3);
const hr = randomCube(3, 160, 112, RGB, 4);

/** Index of the first value that differs bit-wise (-1 when none). */
const firstDiff = (a: Float32Array, b: Float32Array): number => (a.length !== b.length ? 0 : a.findIndex((v, i) => !Object.is(v, b[i])));

t.test('fuses: fuseToFile (bsq and bil) equals the in-memory tiled fuse bit for bit, consistency included', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const dir = tempDir();
  const configs = [
    { tile: 48, overlap: 16, interleave: 'bsq' as const },
    { tile: 64, overlap: 8, batch: 5, blend: 'linear' as const, interleave: 'bil' as const },
  ];
  for (const [i, { interleave, ...opts }] of configs.entries()) {
    const mem = await model.fuse(lr, hr, opts);
    const progress: number[] = [];
    const out = await model.fuseToFile(lr, hr, join(dir, `f${i}.hdr`), { ...opts, interleave, onProgress: (d) => progress.push(d) });
    const file = await readEnvi(out.header);
    t.equal(firstDiff(file.data, mem.data), -1, `${JSON.stringify(opts)}: file equals fuse() in every value`);
    t.same([file.bands, file.height, file.width, out.tiles], [8, 160, 112, mem.tiles]);
    t.same(out.quality, mem.quality, 'consistency computed on the passing rows equals the whole-cube check');
    t.equal(progress.at(-1), mem.tiles);
    t.match(readFileSync(out.header, 'latin1'), new RegExp(`interleave = ${interleave}[\\s\\S]*spectra consistency = \\{spatial_psnr_db=${mem.quality?.spatial.psnr.toFixed(3)}`));
  }
  t.same(readdirSync(dir).sort(), ['f0.hdr', 'f0.img', 'f1.hdr', 'f1.img'], 'no temporary files left');
});

t.test('fuses: fuseStream hands each row over once, top to bottom, never more than a strip at a time', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  for (const opts of [{ tile: 48, overlap: 16, batch: 1 }, { tile: 48, overlap: 16, batch: 4 }, { tile: 0, overlap: 32, batch: 1 }]) {
    const mem = await model.fuse(lr, hr, { ...opts, quality: false });
    const got = new Float32Array(mem.data.length);
    const chunks: [number, number][] = [];
    const summary = await model.fuseStream(lr, hr, {
      writeRows: async (y0, rows) => {
        const n = rows.length / (8 * 112);
        chunks.push([y0, n]);
        for (let b = 0; b < 8; b++) got.set(rows.subarray(b * n * 112, (b + 1) * n * 112), (b * 160 + y0) * 112);
        await new Promise((r) => setImmediate(r));
      },
    }, { ...opts, quality: false });
    t.equal(firstDiff(got, mem.data), -1, `${JSON.stringify(opts)}: streamed rows equal fuse()`);
    t.equal(summary.quality, undefined);
    t.equal(chunks.reduce((next, [y0, n]) => (y0 === next ? next + n : NaN), 0), 160, `chunks ${JSON.stringify(chunks)} tile the rows in order`);
    if (opts.tile > 0) {
      const strip = stripCapacity(planTiles(160, 112, opts.tile, opts.overlap, 4), opts.batch);
      t.ok(chunks.every(([, n]) => n <= strip), `no chunk taller than the ${strip}-row strip`);
      t.ok(chunks.length > 1, 'rows leave before the last tile is run');
    }
  }
  // One tile row per batch keeps the strip at the tile height; a batch spanning tile rows needs those rows too.
  t.equal(stripCapacity(planTiles(160, 112, 48, 16, 4), 1), 48);
  t.equal(stripCapacity(planTiles(160, 112, 48, 16, 4), 4), 48 + 28);
});

t.test('rejects: bad input synchronously, a failing sink or an abort by rejecting, an unwritable path with OutputWriteError', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const dir = tempDir();
  t.throws(() => model.fuseToFile(randomCube(7, 40, 28, WL.slice(1), 1), hr, join(dir, 'x.hdr'), { tile: 48 }), BandCountError);
  t.throws(() => model.fuseToFile(lr, hr, join(dir, 'x.npy')), { name: 'TypeError', message: /end in \.hdr/ });
  t.throws(() => model.fuseStream(lr, hr, {} as never), { name: 'TypeError', message: /writeRows/ });
  let calls = 0;
  const progress: number[] = [];
  await t.rejects(
    model.fuseStream(lr, hr, { writeRows: () => { if (++calls === 2) throw new Error('sink full'); } }, { tile: 48, overlap: 16, onProgress: (d) => progress.push(d) }),
    /sink full/,
  );
  t.ok(progress.length < 15, `the run stopped after ${progress.length} of 15 tiles`);
  const stop = new AbortController();
  const cancelled = model.fuseToFile(lr, hr, join(dir, 'c.hdr'), { tile: 48, overlap: 16, signal: stop.signal, onProgress: (d) => d === 2 && stop.abort(new Error('stop now')) });
  await t.rejects(cancelled, /stop now/, 'an aborted run rejects with the reason');
  t.same(readdirSync(dir), [], 'and leaves no temporary file');
  t.throws(() => model.fuse(lr, hr, { signal: {} as AbortSignal }), { name: 'TypeError', message: /AbortSignal/ });
  const err = await model.fuseToFile(lr, hr, join(dir, 'no', 'such', 'x.hdr'), { tile: 48 }).catch((e: unknown) => e);
  t.type(err, OutputWriteError);
  t.match(err, { code: 'E_OUTPUT_WRITE', path: join(dir, 'no', 'such', 'x.img'), message: /cannot create the output data file \(ENOENT/ });
  t.same(readdirSync(dir), []);
});

t.test('cli: tiled spectra fuse streams to ENVI (same data and quicklook); a full disk leaves no file behind', async (t) => {
  const dir = tempDir();
  await writeNpy(join(dir, 'lr.npy'), lr);
  await writeNpy(join(dir, 'hr.npy'), hr);
  const args = ['fuse', '--model', TINY_MODEL, '--lrhsi', join(dir, 'lr.npy'), '--hrmsi', join(dir, 'hr.npy'), '--tile', '48', '--overlap', '16'];
  // bash's `ulimit -f` caps file size (1 KiB blocks); with SIGXFSZ ignored the write fails with EFBIG, as on a full
  // disk. tap's NODE_OPTIONS hook (signal-exit) would turn SIGXFSZ back into a kill, so it is unset; ts-node's
  // v8-compile-cache cannot write its cache under the cap and then mis-loads ESM dependencies, so it is off.
  const run = (extra: string[], limitKb?: number) =>
    spawnSync('bash', ['-c', `${limitKb ? `unset NODE_OPTIONS; trap '' XFSZ; ulimit -f ${limitKb}; ` : ''}exec "$@"`, 'spectra', process.execPath, join(ROOT, 'bin', 'spectra.js'), ...args, ...extra], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, DISABLE_V8_COMPILE_CACHE: '1' },
    });
  const ok = run(['--out', join(dir, 'f.hdr'), '--quicklook', join(dir, 'q.png'), '--json']);
  t.equal(ok.status, 0, ok.stderr);
  t.equal((JSON.parse(ok.stdout) as { tiles: number }).tiles, 15);
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const mem = await model.fuse({ ...lr, meta: { valueScale: 1 } }, hr, { tile: 48, overlap: 16, quality: false });
  t.equal(firstDiff((await readEnvi(join(dir, 'f.hdr'))).data, mem.data), -1, 'the CLI file equals fuse()');
  t.ok(readFileSync(join(dir, 'q.png')).equals((await quicklook(mem)).png), 'the quicklook from three kept bands equals the whole-cube quicklook');
  const full = run(['--out', join(dir, 'full.hdr')], 64);
  t.equal(full.status, 2, `${full.signal ?? ''} ${full.stderr}`);
  t.match(full.stderr, /OutputWriteError \[E_OUTPUT_WRITE\]: .*full\.img: writing rows \d+\.\.\d+ failed \(EFBIG/);
  t.same(readdirSync(dir).filter((f) => f.startsWith('full')), [], 'no data, header or temporary file for the failed run');
});
