/**
 * Memory over a long `spectra run` (issue 17: RSS growth <= 20 % over 600 frames): the main job as a user runs it
 * (shipped CAVE student, synthetic camera, embedded broker, built-in subscriber writing every cube), its resident
 * set sampled from /proc every 250 ms. Growth is the last 10 % of frames against frames 50-100 (after the
 * allocators, session arenas and the broker's buffers have settled), medians of the samples in each window.
 *
 * Usage: npx ts-node bench/soak-bench.ts [--frames 600] [--size 64x64]
 * Writes results/bench/soak.json. A benchmark, not a test: it asserts nothing.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';

const ROOT = resolve(__dirname, '..');
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const frames = Number(arg('frames', '600'));
const size = arg('size', '64x64');
const model = join(ROOT, 'models', 'student-cave31-rgb-x4.onnx');

function rssMb(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'spectra-soak-'));
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'spectra.js'), 'run', '--model', model, '--frames', String(frames), '--size', size, '--out', out, '--log-level', 'error'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const samples: { frame: number; rssMb: number }[] = [];
  let frame = 0;
  let text = '';
  const bar = new SingleBar({ format: 'soak [{bar}] {value}/{total} frames | RSS {rss} MB', hideCursor: true }, Presets.shades_classic);
  bar.start(frames, 0, { rss: '-' });
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    const seen = [...text.matchAll(/^frame (\d+):/gm)].map((m) => Number(m[1]));
    if (seen.length > 0) frame = Math.max(frame, seen[seen.length - 1] + 1);
    text = text.slice(text.lastIndexOf('\n') + 1);
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setInterval(() => {
    const rss = rssMb(child.pid as number);
    if (rss === undefined) return;
    samples.push({ frame, rssMb: rss });
    bar.update(frame, { rss: rss.toFixed(0) });
  }, 250);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearInterval(timer);
  bar.stop();
  rmSync(out, { recursive: true, force: true });
  if (code !== 0) throw new Error(`spectra run exited ${code}: ${err.slice(-2000)}`);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const window = (lo: number, hi: number): number[] => samples.filter((s) => s.frame >= lo && s.frame < hi).map((s) => s.rssMb);
  const settled = median(window(50, 100));
  const end = median(window(Math.floor(frames * 0.9), frames + 1));
  const result = {
    command: `spectra run --model models/student-cave31-rgb-x4.onnx --frames ${frames} --size ${size}`,
    node: process.version,
    samples: samples.length,
    rssMb: { settledFrames50to100: Math.round(settled), lastTenthOfFrames: Math.round(end), peak: Math.round(Math.max(...samples.map((s) => s.rssMb))) },
    growthPercent: Math.round(((end - settled) / settled) * 1000) / 10,
    target: { growthPercent: 20 },
    trace: samples.filter((_, i) => i % 8 === 0).map((s) => [s.frame, Math.round(s.rssMb)]),
  };
  mkdirSync(join(ROOT, 'results', 'bench'), { recursive: true });
  writeFileSync(join(ROOT, 'results', 'bench', 'soak.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`spectra run, ${frames} frames at ${size}: RSS ${result.rssMb.settledFrames50to100} MB (frames 50-100) -> ${result.rssMb.lastTenthOfFrames} MB (last 10 %), growth ${result.growthPercent} % (target <= 20 %), peak ${result.rssMb.peak} MB\nwrote results/bench/soak.json\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
