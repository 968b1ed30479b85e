/**
 * The Jetson container's runtime stage holds node, the ORT build, compiled JS and production dependencies only
 * (issue: the runtime stage was the full l4t-jetpack image running TypeScript it could not compile). The image
 * cannot be built here (no arm64/Jetson builder), so the Dockerfile's stages are checked as written.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const DOCKERFILE = join(__dirname, '../../devices/jetson/Dockerfile');

interface Stage {
  from: string;
  name: string;
  lines: string[];
}

/** Instructions per stage, continuation lines joined, comments dropped. */
function stages(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const line of logical) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1], name: from[2] ?? '', lines: [] });
    else if (out.length === 0 && /^ARG\s+/i.test(line)) {
      const [k, v = ''] = line.replace(/^ARG\s+/i, '').split('=');
      args.set(k, v);
    } else out.at(-1)?.lines.push(line);
  }
  return { args, stages: out };
}

const parsed = stages(readFileSync(DOCKERFILE, 'utf8'));
const runtime = parsed.stages.at(-1) as Stage;
const app = parsed.stages.find((s) => s.name === 'app');

t.test('the last stage is the runtime, on a runtime base image, not the l4t-jetpack development image', async (t) => {
  t.equal(runtime.name, 'runtime');
  const base = runtime.from.replace(/^\$\{(\w+)\}$/, (_, k: string) => parsed.args.get(k) ?? k);
  t.notMatch(base, /l4t-jetpack/, `runtime base ${base}`);
  t.match(base, /runtime/);
});

t.test('the runtime stage copies node, the ORT build and the compiled app, and no sources', async (t) => {
  const copies = runtime.lines.filter((l) => /^COPY\s/i.test(l));
  t.ok(copies.length > 0);
  t.ok(copies.every((l) => /--from=/.test(l)), `only COPY --from build stages: ${copies.join(' | ')}`);
  t.ok(copies.some((l) => /--from=node\s+\S*bin\/node\b/.test(l)), 'the node binary');
  t.ok(copies.some((l) => /--from=ort\s+\/opt\/spectra\/ort\b/.test(l)), 'the ORT build');
  t.ok(copies.some((l) => /--from=app\s+\/opt\/spectra\/app\b/.test(l)), 'the compiled app');
  t.notOk(runtime.lines.some((l) => /\bnpm\b|\bts-node\b|\btsc\b/.test(l)), 'nothing is installed or compiled at runtime');
  t.match(runtime.lines.find((l) => l.startsWith('ENTRYPOINT')) ?? '', /node", "\/opt\/spectra\/app\/devices\/jetson\/spectra-service\.js"/);
});

t.test('the app stage compiles, drops dev dependencies and removes the TypeScript', async (t) => {
  t.ok(app, 'an app stage');
  const runs = (app as Stage).lines.filter((l) => l.startsWith('RUN')).join(' ');
  t.match(runs, /npm ci --ignore-scripts/, "onnxruntime-node's desktop CUDA download is skipped");
  t.match(runs, /npm run build/);
  t.match(runs, /npm prune --omit=dev/);
  t.match(runs, /rm -rf sdk cli quantize/);
  t.match(runs, /-name '\*\.ts' -delete/);
  const build = readFileSync(join(__dirname, '../../tsconfig.build.json'), 'utf8');
  t.match(build, /devices\/\*\*\/\*\.ts/, 'the service is part of the compiled build');
});
