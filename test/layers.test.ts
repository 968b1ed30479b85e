/**
 * The layer order of the TypeScript tree, from the imports themselves, so an import that points up the stack
 * fails here instead of creeping back in: core < cube < spectral, metrics < quality < capture, runtime, publish
 * < pipeline, quantize < the entry points < the Jetson service, the viewer < the CLI. Parts on one level do not
 * import each other.
 */
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');

/** Level of each part; a file may import only from lower levels or from its own part. */
const LEVELS: readonly [part: string, level: number][] = [
  ['sdk/core', 0],
  ['sdk/cube', 1],
  ['sdk/spectral', 2],
  ['sdk/metrics', 2],
  ['sdk/quality', 3],
  ['sdk/camera', 3],
  ['sdk/capture', 4],
  ['sdk/runtime', 4],
  ['sdk/publish', 4],
  ['sdk/pipeline', 5],
  ['quantize', 5],
  ['sdk/index.ts', 6],
  ['sdk/protocol.ts', 6],
  ['quantize/index.ts', 6],
  ['devices/jetson', 7],
  ['viewer', 7],
  ['cli', 8],
];

function partOf(file: string): { part: string; level: number } | undefined {
  // The longest matching prefix wins, so `quantize/index.ts` is an entry point and not part of `quantize`.
  let best: { part: string; level: number } | undefined;
  for (const [part, level] of LEVELS) {
    if ((file === part || file.startsWith(`${part}/`)) && (best === undefined || part.length > best.part.length)) best = { part, level };
  }
  return best;
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) return sources(rel);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Relative module specifiers of a file: static and dynamic imports, re-exports, require(). */
function imports(text: string): string[] {
  const found: string[] = [];
  const re = /(?:from\s+|import\s*\(\s*|require\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) found.push(m[1]);
  return found;
}

function resolveImport(from: string, spec: string): string {
  const target = relative(ROOT, resolve(ROOT, dirname(from), spec)).split('\\').join('/');
  for (const candidate of [`${target}.ts`, `${target}/index.ts`, target]) {
    try {
      if (statSync(join(ROOT, candidate)).isFile()) return candidate;
    } catch {
      // Try the next form.
    }
  }
  return target;
}

const FILES = ['sdk', 'quantize', 'devices/jetson', 'viewer', 'cli'].flatMap(sources);

t.test('layers: every import points down the stack or stays in its part', async (t) => {
  const violations: string[] = [];
  for (const file of FILES) {
    const from = partOf(file);
    if (from === undefined) continue;
    for (const spec of imports(readFileSync(join(ROOT, file), 'utf8'))) {
      const target = resolveImport(file, spec);
      const to = partOf(target);
      if (to === undefined) {
        violations.push(`${file} imports ${target}, which belongs to no layer (tests, bench and examples are not part of the product)`);
      } else if (to.part !== from.part && to.level >= from.level) {
        violations.push(`${file} (${from.part}, level ${from.level}) imports ${target} (${to.part}, level ${to.level})`);
      }
    }
  }
  t.same(violations, [], 'no import points up or sideways');
  t.ok(FILES.length > 80, `checked ${FILES.length} files`);
});

t.test('layers: SDK code never reaches into the repository layout', async (t) => {
  const found: string[] = [];
  // Paths only a checkout has; the CLI and the apps pass such paths in.
  const layout = /['"`][^'"`]*(?:test\/fixtures|fixtures['"`]|shared\/data|['"`]shared['"`]|\.venv|\.\.\/\.\.\/viewer)/;
  for (const file of FILES.filter((f) => f.startsWith('sdk/'))) {
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        if (!/^\s*(?:\*|\/\*)/.test(line) && layout.test(code)) found.push(`${file}:${i + 1}: ${line.trim()}`);
      });
  }
  t.same(found, []);
});

t.test('layers: the partOf table itself (an entry point is not its folder)', async (t) => {
  t.equal(partOf('quantize/index.ts')?.level, 6);
  t.equal(partOf('quantize/qdq.ts')?.level, 5);
  t.equal(partOf('sdk/core/errors.ts')?.level, 0);
  t.equal(partOf('test/layers.test.ts'), undefined);
});
