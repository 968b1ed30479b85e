/**
 * Startup cost of the CLI: wall time and peak RSS of `spectra info` (load the model, list providers, print), run
 * from an installed package (or this checkout's compiled dist/). Target on the dev machine: <= 0.6 s, <= 130 MB.
 *
 * Usage: npx ts-node bench/startup-bench.ts [--package <installed package dir>] [--repeats 5]
 * Writes results/bench/startup.json. A benchmark, not a test: it asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const pkg = resolve(arg('package') ?? ROOT);
const repeats = Number(arg('repeats') ?? 5);
const model = join(pkg, 'models', 'student-cave31-rgb-x4.onnx');
const runs: { wallS: number; peakRssMb: number }[] = [];
for (let i = 0; i < repeats; i++) {
  // GNU time reports the child's peak RSS (%M, KB), which Node cannot read for a finished child.
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, join(pkg, 'bin', 'spectra.js'), 'info', '--model', model], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`spectra info failed: ${r.stderr}`);
  const [wall, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  runs.push({ wallS: wall, peakRssMb: Math.round(kb / 1024) });
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {
  command: 'spectra info --model models/student-cave31-rgb-x4.onnx',
  package: pkg === ROOT ? 'checkout (dist/)' : 'installed tarball',
  node: process.version,
  runs,
  medianWallS: median(runs.map((r) => r.wallS)),
  medianPeakRssMb: median(runs.map((r) => r.peakRssMb)),
  target: { wallS: 0.6, peakRssMb: 130 },
};
mkdirSync(join(ROOT, 'results', 'bench'), { recursive: true });
writeFileSync(join(ROOT, 'results', 'bench', 'startup.json'), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(`spectra info: median ${result.medianWallS} s, ${result.medianPeakRssMb} MB peak RSS over ${repeats} runs (${result.package})\n`);
