/**
 * SDK benchmark (`npm run bench`): fusion throughput, tiling cost, threads, batching and peak memory on CPU,
 * in memory (`fuse`) and streamed to disk (`fuseToFile`, the path `spectra fuse --tile N --out X.hdr` takes).
 *
 * Every configuration runs in its own child process so peak RSS (getrusage maxrss) belongs to that
 * configuration alone. Inputs are a real scene: CAVE "cloth" (256 x 256 x 31, ../shared/data/cave_kbr)
 * mirror-tiled to 512 x 512, put on the model's band grid and degraded with the model card's PSF and SRF
 * (the host's Wald protocol, reproduced by sdk/spectral). The 2048 x 2048 scene mirror-tiles those inputs.
 *
 * Usage: npm run bench [-- --repeats 5 --out results/bench/sdk.json --model models/x.onnx --also other.onnx]
 * Writes results/bench/sdk.json and prints a table. A benchmark, not a test: it asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SingleBar, Presets } from 'cli-progress';
import * as ort from 'onnxruntime-node';
import type { Cube } from '../sdk/cube/cube';
import { readNpy, writeNpy } from '../sdk/cube/npy';
import { FusionModel } from '../sdk/runtime/fusion-model';
import { readModelCard } from '../sdk/core/model-card';
import { resampleCube } from '../sdk/spectral/resample';
import { spatialDegrade } from '../sdk/spectral/psf';
import { projectSrf } from '../sdk/spectral/srf';
import { psnr } from '../sdk/metrics/full-reference';
import { DEFAULT_LOAD_OPTIONS } from '../sdk/runtime/options';

const ROOT = resolve(__dirname, '..');
const SCENE = resolve(ROOT, '..', 'shared', 'data', 'cave_kbr', 'cave_cloth_256x256x31_uint16.npy');
const CONV = { channels: 64, size: 256 };

/** One thing to time inside a child: a bare session.run, a fuse() call, a streamed fuseToFile() call, or the reference conv. */
interface Variant {
  name: string;
  kind: 'bare' | 'fuse' | 'fuse-file' | 'conv';
  tile?: number;
  overlap?: number;
  batch?: number;
  quality?: boolean;
  /** Write the last output here (.npy), for the whole-vs-tiled comparison; for 'fuse-file', the ENVI header to stream to. */
  save?: string;
}

/** One child process: its variants are run round-robin, so load from other jobs on the machine hits them alike. */
interface Job {
  name: string;
  model: string;
  lr: string;
  hr: string;
  size: number;
  threads: number;
  repeats: number;
  conv?: string;
  variants: Variant[];
}

interface VariantResult {
  name: string;
  job: string;
  size: number;
  threads: number;
  /** Median of the timed runs. */
  ms: number;
  /** Fastest run: the least disturbed by other jobs on a shared machine; ratios use it. */
  bestMs: number;
  runsMs: number[];
  /** Time inside session.run of each timed fuse() run (same order as runsMs). */
  inferRunsMs?: number[];
  tiles?: number;
  inferMs?: number;
  overheadMs?: number;
  qualityMs?: number;
  macs?: number;
}

interface JobResult {
  name: string;
  peakRssMb: number;
  variants: VariantResult[];
}

async function child(job: Job): Promise<JobResult> {
  const lr = await readNpy(job.lr);
  const hr = await readNpy(job.hr);
  // The same session settings FusionModel uses by default (no spinning workers), so the comparison isolates the SDK.
  const sessionOptions = {
    intraOpNumThreads: job.threads,
    graphOptimizationLevel: DEFAULT_LOAD_OPTIONS.graphOptimizationLevel,
    executionProviders: ['cpu'],
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  const needs = (k: Variant['kind']) => job.variants.some((v) => v.kind === k);
  const bare = needs('bare') ? await ort.InferenceSession.create(job.model, sessionOptions) : undefined;
  const model = needs('fuse') || needs('fuse-file') ? await FusionModel.load(job.model, { providers: ['cpu'], intraOpThreads: job.threads }) : undefined;
  const conv = needs('conv') && job.conv ? await ort.InferenceSession.create(job.conv, sessionOptions) : undefined;
  const feeds = {
    lrhsi: new ort.Tensor('float32', lr.data, [1, lr.bands, lr.height, lr.width]),
    hrmsi: new ort.Tensor('float32', hr.data, [1, hr.bands, hr.height, hr.width]),
  };
  const x = new ort.Tensor('float32', new Float32Array(CONV.channels * CONV.size * CONV.size).fill(0.5), [1, CONV.channels, CONV.size, CONV.size]);
  const lrc: Cube = model ? { ...lr, wavelengths: model.inputSpec.wavelengths } : lr;
  const runs = job.variants.map(() => [] as number[]);
  const inferRuns = job.variants.map(() => [] as number[]);
  const last: (Partial<VariantResult> | undefined)[] = job.variants.map(() => undefined);
  const once = async (v: Variant, i: number): Promise<number> => {
    const t = performance.now();
    if (v.kind === 'bare') await bare?.run(feeds);
    else if (v.kind === 'conv') await conv?.run({ x });
    else if (model) {
      const options = { tile: v.tile ?? 0, overlap: v.overlap ?? 32, batch: v.batch ?? 1, quality: v.quality ?? false };
      // The streamed run writes ENVI to disk as it goes; the in-memory run holds the whole output.
      const out = v.kind === 'fuse-file' && v.save ? await model.fuseToFile(lrc, hr, v.save, options) : await model.fuse(lrc, hr, options);
      const ms = performance.now() - t;
      last[i] = { tiles: out.tiles, inferMs: out.timing.inferMs, overheadMs: out.timing.totalMs - out.timing.inferMs - out.timing.qualityMs, qualityMs: out.timing.qualityMs };
      // Saving for the whole-vs-tiled comparison is not part of fuse(): it used to be timed (32 MB to disk per
      // run), which is what made 'fuse whole' look 1.23x slower than the bare session.run.
      if (v.kind === 'fuse' && v.save && out.data instanceof Float32Array) await writeNpy(v.save, { ...out, data: out.data });
      return ms;
    }
    return performance.now() - t;
  };
  for (const [i, v] of job.variants.entries()) await once(v, i);
  for (let r = 0; r < job.repeats; r++) {
    for (const [i, v] of job.variants.entries()) {
      runs[i].push(await once(v, i));
      if (last[i]?.inferMs !== undefined) inferRuns[i].push(last[i]?.inferMs as number);
    }
  }
  const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  return {
    name: job.name,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    variants: job.variants.map((v, i) => ({
      name: v.name,
      job: job.name,
      size: v.kind === 'conv' ? CONV.size : job.size,
      threads: job.threads,
      ms: median(runs[i]),
      bestMs: Math.min(...runs[i]),
      runsMs: runs[i],
      ...(inferRuns[i].length ? { inferRunsMs: inferRuns[i] } : {}),
      ...(last[i] ?? {}),
      ...(v.kind === 'conv' ? { macs: CONV.channels * CONV.channels * 9 * CONV.size * CONV.size } : {}),
    })),
  };
}

function pickModel(explicit?: string): { path: string; note: string } {
  if (explicit) return { path: resolve(explicit), note: `model given on the command line: ${explicit}` };
  const dir = join(ROOT, 'models');
  const card = existsSync(dir) ? readdirSync(dir).sort().find((f) => f.endsWith('.card.json') && existsSync(join(dir, f.replace(/\.card\.json$/, '.onnx')))) : undefined;
  if (card) return { path: join(dir, card.replace(/\.card\.json$/, '.onnx')), note: `shipped student models/${card.replace(/\.card\.json$/, '.onnx')}` };
  return {
    path: join(ROOT, 'test', 'fixtures', 'tiny', 'tiny-student.onnx'),
    note: 'NO SHIPPED STUDENT in models/: measured the tiny test fixture (random weights, nf=8), so absolute speeds and MAC/s are not the student\'s',
  };
}

/** Mirror-tiles a cube to `size` x `size` (reflect without repeating the edge), keeping textures continuous. */
function mirrorTile(c: Cube, size: number): Cube {
  const out = new Float32Array(c.bands * size * size);
  const fold = (i: number, n: number): number => {
    const p = 2 * (n - 1);
    const m = i % p;
    return m < n ? m : p - m;
  };
  for (let b = 0; b < c.bands; b++) {
    for (let y = 0; y < size; y++) {
      const sy = fold(y, c.height);
      for (let x = 0; x < size; x++) out[(b * size + y) * size + x] = c.data[(b * c.height + sy) * c.width + fold(x, c.width)];
    }
  }
  return { ...c, height: size, width: size, data: out };
}

async function prepareInputs(modelPath: string, dir: string): Promise<{ files: Record<string, { lr: string; hr: string }>; truth512: Cube; source: string }> {
  const card = await readModelCard(modelPath.replace(/\.onnx$/, '.card.json'));
  const grid = card.hsi.wavelengths_nm;
  let hsi: Cube;
  let source: string;
  if (existsSync(SCENE)) {
    const scene = await readNpy(SCENE, { layout: 'hwc', wavelengths: Array.from({ length: 31 }, (_, i) => 400 + 10 * i) });
    const scaled = { ...scene, data: scene.data.map((v) => v / 65535) };
    const onGrid = grid.every((w) => Number.isInteger((w - 400) / 10) && w >= 400 && w <= 700)
      ? { ...scaled, bands: grid.length, wavelengths: grid, data: pickBands(scaled, grid) }
      : resampleCube(scaled, grid, card.hsi.fwhm_nm ?? undefined, card.hsi.band_valid);
    hsi = mirrorTile(onGrid, 512);
    source = 'CAVE cloth 256x256 (shared/data/cave_kbr), mirror-tiled to 512x512, degraded with the card PSF/SRF';
  } else {
    hsi = { bands: grid.length, height: 512, width: 512, wavelengths: grid, data: Float32Array.from({ length: grid.length * 512 * 512 }, (_, i) => 0.2 + 0.6 * Math.abs(Math.sin(i * 0.001))) };
    source = 'SYNTHETIC (shared data missing)';
  }
  const lr = spatialDegrade(hsi, card.scale, { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma });
  const hr = projectSrf(hsi, card.msi.srf);
  const files: Record<string, { lr: string; hr: string }> = {};
  for (const size of [512, 2048]) {
    const f = { lr: join(dir, `lr-${size}.npy`), hr: join(dir, `hr-${size}.npy`) };
    await writeNpy(f.lr, size === 512 ? lr : mirrorTile(lr, size / card.scale));
    await writeNpy(f.hr, size === 512 ? hr : mirrorTile(hr, size));
    files[size] = f;
  }
  return { files, truth512: hsi, source };
}

function pickBands(c: Cube, grid: readonly number[]): Float32Array {
  const plane = c.height * c.width;
  const out = new Float32Array(grid.length * plane);
  grid.forEach((w, b) => out.set(c.data.subarray(((w - 400) / 10) * plane, ((w - 400) / 10 + 1) * plane), b * plane));
  return out;
}

function buildConv(dir: string): string | undefined {
  const path = join(dir, 'conv3x3.onnx');
  const py = join(ROOT, '.venv', 'bin', 'python');
  const script = `
import torch
m = torch.nn.Conv2d(${CONV.channels}, ${CONV.channels}, 3, padding=1).eval()
torch.onnx.export(m, (torch.rand(1, ${CONV.channels}, ${CONV.size}, ${CONV.size}),), ${JSON.stringify(path)}, input_names=['x'], output_names=['y'], opset_version=17, dynamo=False)
`;
  const r = spawnSync(py, ['-c', script], { encoding: 'utf8' });
  return r.status === 0 && existsSync(path) ? path : undefined;
}

function runChild(job: Job): JobResult {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, '--child', JSON.stringify(job)], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`bench child ${job.name} failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as JobResult;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const repeats = Number(arg('repeats') ?? 5);
  const outPath = resolve(arg('out') ?? join(ROOT, 'results', 'bench', 'sdk.json'));
  const primary = await measure(pickModel(arg('model')), repeats);
  const alsoPath = arg('also');
  // A second model (e.g. an untrained real-size student while none is shipped) is measured the same way.
  const also = alsoPath ? await measure({ path: resolve(alsoPath), note: `additional model given with --also: ${alsoPath}` }, repeats) : undefined;
  const result = { ...primary.result, command: `npm run bench${process.argv.slice(2).length ? ' -- ' + process.argv.slice(2).join(' ') : ''}`, ...(also ? { also: [also.result] } : {}) };
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write([...primary.lines, ...(also ? ['', ...also.lines] : []), '', `wrote ${outPath}`].join('\n') + '\n');
}

async function measure({ path: model, note }: { path: string; note: string }, repeats: number): Promise<{ result: Record<string, unknown>; lines: string[] }> {
  const card = await readModelCard(model.replace(/\.onnx$/, '.card.json'));
  const dir = mkdtempSync(join(tmpdir(), 'spectra-bench-'));
  process.stderr.write(`spectra sdk bench: ${note}\npreparing inputs in ${dir}\n`);
  const { files, truth512, source } = await prepareInputs(model, dir);
  const conv = buildConv(dir);
  const s512 = { model, lr: files[512].lr, hr: files[512].hr, size: 512, repeats, ...(conv ? { conv } : {}) };
  const convVariant: Variant[] = conv ? [{ name: 'onnxruntime 3x3 conv', kind: 'conv' }] : [];
  const jobs: Job[] = [
    {
      ...s512,
      name: 'speed, 2 threads',
      threads: 2,
      variants: [
        { name: 'bare session.run, whole', kind: 'bare' },
        { name: 'fuse whole', kind: 'fuse', save: join(dir, 'whole.npy') },
        { name: 'fuse whole + quality', kind: 'fuse', quality: true },
        // 264/16 is the geometry a user picks for 512: 2 x 2 tiles, 6 % extra pixels (288/32: 13 %)
        { name: 'fuse tiled 264/16, batch 1', kind: 'fuse', tile: 264, overlap: 16, save: join(dir, 'tiled.npy') },
        { name: 'fuse tiled 288/32, batch 1', kind: 'fuse', tile: 288 },
        { name: 'fuse tiled 288/32, batch 4', kind: 'fuse', tile: 288, batch: 4 },
        { name: 'fuse tiled 128/16, batch 1', kind: 'fuse', tile: 128, overlap: 16 },
        { name: 'fuse tiled 128/16, batch 8', kind: 'fuse', tile: 128, overlap: 16, batch: 8 },
        ...convVariant,
      ],
    },
    {
      ...s512,
      name: 'speed, 1 thread',
      threads: 1,
      variants: [
        { name: 'bare session.run, whole', kind: 'bare' },
        { name: 'fuse whole', kind: 'fuse' },
        { name: 'fuse tiled 264/16, batch 1', kind: 'fuse', tile: 264, overlap: 16 },
        { name: 'fuse tiled 288/32, batch 1', kind: 'fuse', tile: 288 },
        ...convVariant,
      ],
    },
    { ...s512, name: 'memory: fuse whole 512', threads: 2, repeats: 1, variants: [{ name: 'fuse whole', kind: 'fuse' }] },
    { ...s512, name: 'memory: fuse tiled 288/32 on 512', threads: 2, repeats: 1, variants: [{ name: 'fuse tiled 288/32, batch 1', kind: 'fuse', tile: 288 }] },
    { ...s512, name: 'memory: fuseToFile tiled 288/32 on 512', threads: 2, repeats: 1, variants: [{ name: 'fuseToFile (streamed) 288/32', kind: 'fuse-file', tile: 288, save: join(dir, 'streamed-512.hdr') }] },
    { ...s512, lr: files[2048].lr, hr: files[2048].hr, size: 2048, name: 'memory: fuse tiled 288/32 on 2048', threads: 2, repeats: 1, variants: [{ name: 'fuse tiled 288/32 (in memory)', kind: 'fuse', tile: 288 }] },
    { ...s512, lr: files[2048].lr, hr: files[2048].hr, size: 2048, name: 'memory: fuseToFile tiled 288/32 on 2048', threads: 2, repeats: 1, variants: [{ name: 'fuseToFile (streamed) 288/32', kind: 'fuse-file', tile: 288, save: join(dir, 'streamed-2048.hdr') }] },
  ];
  const bar = new SingleBar({ format: 'bench [{bar}] {value}/{total} {job}', stream: process.stderr }, Presets.shades_classic);
  bar.start(jobs.length, 0, { job: '' });
  const results: JobResult[] = [];
  for (const job of jobs) {
    bar.update(results.length, { job: job.name });
    results.push(runChild(job));
  }
  bar.update(jobs.length, { job: 'done' });
  bar.stop();

  const B = card.hsi.bands;
  const rows = results.flatMap((j) =>
    j.variants.map((r) => {
      const px = r.size * r.size;
      const isConv = r.name.startsWith('onnxruntime');
      return {
        ...r,
        peakRssMb: j.peakRssMb,
        mpPerS: px / 1e6 / (r.ms / 1000),
        mpBandsPerS: isConv ? undefined : (px * B) / 1e6 / (r.ms / 1000),
        gmacPerS: isConv ? (r.macs as number) / 1e9 / (r.ms / 1000) : card.macs_per_hr_pixel ? (card.macs_per_hr_pixel * px) / 1e9 / (r.ms / 1000) : undefined,
      };
    }),
  );
  const get = (job: string, name: string) => rows.find((r) => r.job === job && r.name === name);
  const ms = (job: string, name: string) => get(job, name)?.bestMs ?? NaN;
  const sdkOverhead = (job: string) => {
    const r = get(job, 'fuse whole');
    return r?.inferMs !== undefined && r.overheadMs !== undefined ? (r.inferMs + r.overheadMs) / r.inferMs : NaN;
  };
  const rss = (job: string) => results.find((r) => r.name === job)?.peakRssMb ?? NaN;
  const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  // Runs of one round are back to back, so their ratio cancels load that drifts between rounds; the median drops outliers.
  const paired = (job: string, a: string, b: string, field: 'runsMs' | 'inferRunsMs' = 'runsMs') => {
    const x = get(job, a)?.[field];
    const y = get(job, b)?.runsMs;
    return x && y && x.length === y.length ? median(x.map((v, i) => v / y[i])) : NaN;
  };
  const whole = await readNpy(join(dir, 'whole.npy'));
  const tiled = await readNpy(join(dir, 'tiled.npy'));
  let maxAbs = 0;
  for (let i = 0; i < whole.data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(whole.data[i] - tiled.data[i]));
  const truth = truth512;
  const wholeC = { ...whole, wavelengths: truth.wavelengths };
  const tiledC = { ...tiled, wavelengths: truth.wavelengths };
  const macRatio = (job: string) => {
    const student = get(job, 'bare session.run, whole')?.gmacPerS;
    const c = get(job, 'onnxruntime 3x3 conv')?.gmacPerS;
    return student !== undefined && c !== undefined ? student / c : null;
  };
  const T2 = 'speed, 2 threads';
  const T1 = 'speed, 1 thread';
  const ratios = {
    fuseVsBareSessionRun: {
      value: paired(T2, 'fuse whole', 'bare session.run, whole'),
      value1Thread: paired(T1, 'fuse whole', 'bare session.run, whole'),
      bestOfN: ms(T2, 'fuse whole') / ms(T2, 'bare session.run, whole'),
      bestOfN1Thread: ms(T1, 'fuse whole') / ms(T1, 'bare session.run, whole'),
      target: '<= 1.10',
      note: 'fuse() without quality vs session.run on the same pre-normalised tensors: median of per-round ratios (round-robin in one process); bestOfN is the old figure, one lucky bare run sways it',
    },
    fuseSessionRunVsBare: {
      value: paired(T2, 'fuse whole', 'bare session.run, whole', 'inferRunsMs'),
      value1Thread: paired(T1, 'fuse whole', 'bare session.run, whole', 'inferRunsMs'),
      note: 'time inside session.run during fuse() vs the bare session.run of the same round: same session options (threads, no spinning, arena, memory pattern), same tensors, no copies',
    },
    fuseVsItsOwnSessionRun: { value: sdkOverhead(T2), value1Thread: sdkOverhead(T1), target: '<= 1.10', note: 'same fuse() call: (total - quality) / time inside session.run; immune to machine load' },
    fuseWithQualityVsBare: { value: ms(T2, 'fuse whole + quality') / ms(T2, 'bare session.run, whole'), note: 'no-reference consistency on every frame included' },
    tiledVsWhole: { value: ms(T2, 'fuse tiled 264/16, batch 1') / ms(T2, 'fuse whole'), value1Thread: ms(T1, 'fuse tiled 264/16, batch 1') / ms(T1, 'fuse whole'), target: '<= 1.15', note: '2 x 2 tiles of 264 (overlap 16) on 512; accuracy in tiledVsWhole512' },
    tiledVsWhole288: { value: ms(T2, 'fuse tiled 288/32, batch 1') / ms(T2, 'fuse whole'), value1Thread: ms(T1, 'fuse tiled 288/32, batch 1') / ms(T1, 'fuse whole'), note: 'tiles <= 288 px with >= 32 px overlap: 2 x 2 tiles of 272 on 512 (13 % extra pixels)' },
    batchedVsSingleTiles288: { value: ms(T2, 'fuse tiled 288/32, batch 4') / ms(T2, 'fuse tiled 288/32, batch 1'), note: '< 1 means batching helps' },
    batchedVsSingleTiles128: { value: ms(T2, 'fuse tiled 128/16, batch 8') / ms(T2, 'fuse tiled 128/16, batch 1'), note: '< 1 means batching helps' },
    twoThreadsVsOne: { value: ms(T2, 'fuse whole') / ms(T1, 'fuse whole'), note: '< 1 means the second thread helps (machine shared with other jobs)' },
    studentMacsVsConvMacs: { value: macRatio(T2), value1Thread: macRatio(T1), target: '>= 0.50', note: `card macs_per_hr_pixel x pixels / bare session.run time, vs one ${CONV.channels}->${CONV.channels} 3x3 conv at ${CONV.size}x${CONV.size}` },
    peakRss2048TiledVs512Tiled: {
      value: rss('memory: fuseToFile tiled 288/32 on 2048') / rss('memory: fuse tiled 288/32 on 512'),
      target: '<= 1.5',
      note: 'streamed fuseToFile on 2048 (only a strip of output resident) vs in-memory tiled fuse on 512',
    },
    peakRss2048StreamedVs512Streamed: { value: rss('memory: fuseToFile tiled 288/32 on 2048') / rss('memory: fuseToFile tiled 288/32 on 512'), target: '<= 1.5' },
    peakRss2048InMemoryTiledVs512Tiled: {
      value: rss('memory: fuse tiled 288/32 on 2048') / rss('memory: fuse tiled 288/32 on 512'),
      note: 'in-memory fuse() returns the whole B x H x W output, so it grows with the scene by design',
    },
    peakRss2048TiledVs512Whole: { value: rss('memory: fuseToFile tiled 288/32 on 2048') / rss('memory: fuse whole 512'), target: '<= 1.5' },
  };
  const ioMb = (n: number) => ((n * n * (B + card.msi.bands) + (n / card.scale) ** 2 * B) * 4) / 2 ** 20;
  const inMb = (n: number) => ((n * n * card.msi.bands + (n / card.scale) ** 2 * B) * 4) / 2 ** 20;
  const result = {
    generated: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, ort: (ort as unknown as { env: { versions?: { common?: string } } }).env.versions?.common ?? '1.30', note: 'CPU shared with other jobs: timings are noisy; medians of the repeats' },
    model: { path: model.replace(ROOT + '/', ''), note, name: card.name, bands: B, msiBands: card.msi.bands, scale: card.scale, macsPerHrPixel: card.macs_per_hr_pixel ?? null },
    scene: { source, hr: [512, 512], lr: [512 / card.scale, 512 / card.scale], largeHr: [2048, 2048] },
    repeats,
    results: rows,
    tiledVsWhole512: {
      maxAbsDiff: maxAbs,
      psnrAgreementDb: psnr(tiledC, wholeC),
      psnrVsTruthWholeDb: psnr(wholeC, truth),
      psnrVsTruthTiledDb: psnr(tiledC, truth),
      psnrDeltaDb: psnr(wholeC, truth) - psnr(tiledC, truth),
      note: '2 x 2 tiles of 264, overlap 16, cosine feathering; the CSA attention pools over all pixels of its input, so tiles see different statistics',
    },
    ratios,
    memory: {
      peakRssMb: Object.fromEntries(results.filter((r) => r.name.startsWith('memory')).map((r) => [r.name, r.peakRssMb])),
      inputOutputBuffersMb: { 512: ioMb(512), 2048: ioMb(2048) },
      inputBuffersMb: { 512: inMb(512), 2048: inMb(2048) },
      peakRssBeyondBuffers2048VsTiled512: (rss('memory: fuse tiled 288/32 on 2048') - ioMb(2048)) / (rss('memory: fuse tiled 288/32 on 512') - ioMb(512)),
      peakRssBeyondInputs2048StreamedVs512Streamed: (rss('memory: fuseToFile tiled 288/32 on 2048') - inMb(2048)) / (rss('memory: fuseToFile tiled 288/32 on 512') - inMb(512)),
      note: 'fuse() returns the whole output (B x H x W float32); fuseToFile() holds a strip of tile height x width x B plus the inputs (LR-HSI and HR-MSI stay in memory); the rest is bounded by the tile',
    },
  };
  rmSync(dir, { recursive: true, force: true });
  const fmt = (v: number | undefined | null, d = 2) => (v === undefined || v === null ? '-' : v.toFixed(d));
  const lines = [
    `model: ${note}`,
    `scene: ${source}`,
    '',
    `${'job'.padEnd(36)} ${'configuration'.padEnd(28)} ${'HR'.padStart(5)} ${'median ms'.padStart(9)} ${'best ms'.padStart(9)} ${'MP/s'.padStart(7)} ${'MPxB/s'.padStart(8)} ${'GMAC/s'.padStart(7)} ${'RSS MB'.padStart(7)}`,
    ...rows.map((r) => `${r.job.padEnd(36)} ${r.name.padEnd(28)} ${String(r.size).padStart(5)} ${fmt(r.ms, 1).padStart(9)} ${fmt(r.bestMs, 1).padStart(9)} ${fmt(r.mpPerS, 3).padStart(7)} ${fmt(r.mpBandsPerS, 2).padStart(8)} ${fmt(r.gmacPerS, 2).padStart(7)} ${fmt(r.peakRssMb, 0).padStart(7)}`),
    '',
    `tiled vs whole (512): max abs ${maxAbs.toExponential(2)}, agreement ${fmt(result.tiledVsWhole512.psnrAgreementDb)} dB, PSNR vs truth whole ${fmt(result.tiledVsWhole512.psnrVsTruthWholeDb, 3)} / tiled ${fmt(result.tiledVsWhole512.psnrVsTruthTiledDb, 3)} dB`,
    ...Object.entries(ratios).map(([k, v]) => `${k.padEnd(30)} ${fmt(v.value as number | null, 3).padStart(7)} ${'value1Thread' in v ? `(1 thread ${fmt(v.value1Thread as number | null, 3)})` : ''.padEnd(16)}  ${'target' in v ? `target ${v.target}` : ''}  ${'note' in v ? v.note : ''}`),
    `peak RSS beyond input/output buffers, 2048 tiled vs 512 tiled (in memory): ${fmt(result.memory.peakRssBeyondBuffers2048VsTiled512, 3)}`,
    `peak RSS beyond input buffers, 2048 vs 512 streamed: ${fmt(result.memory.peakRssBeyondInputs2048StreamedVs512Streamed, 3)}`,
  ];
  return { result, lines };
}

if (process.argv.includes('--child')) {
  child(JSON.parse(process.argv[process.argv.indexOf('--child') + 1]) as Job)
    .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
    .catch((err: unknown) => {
      process.stderr.write(String((err as Error).stack ?? err) + '\n');
      process.exitCode = 1;
    });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`sdk-bench: ${String((err as Error).stack ?? err)}\n`);
    process.exitCode = 1;
  });
}
