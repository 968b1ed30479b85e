/**
 * The package as a consumer gets it: packs the tarball, installs it into a temporary project offline (its lockfile
 * is ours with the tarball added, so every dependency comes from the npm cache by integrity), imports it from ESM
 * and CommonJS, type-checks a strict consumer and runs `spectra --version`.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const run = (cmd: string, args: string[], cwd: string): string => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

interface Lock {
  packages: Record<string, { dev?: boolean; bin?: Record<string, string>; version?: string; resolved?: string; integrity?: string; dependencies?: Record<string, string> }>;
}

t.test('package: the tarball installs offline and works from ESM, CommonJS, tsc --strict and the CLI', async (t) => {
  if (!existsSync(join(ROOT, 'dist', 'sdk', 'index.js'))) run('npx', ['tsc', '-p', 'tsconfig.build.json'], ROOT);
  const dir = mkdtempSync(join(tmpdir(), 'spectra-package-'));
  const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)) as { filename: string; entryCount: number; size: number }[];
  const tarball = join(dir, packed[0].filename);
  t.ok(packed[0].entryCount < 300, `${packed[0].entryCount} files`);
  t.ok(packed[0].size < 4e6, `${(packed[0].size / 1e6).toFixed(1)} MB`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string>; bin: Record<string, string> };
  const ours = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
  const app = join(dir, 'app');
  run('mkdir', ['-p', app], dir);
  const packages: Lock['packages'] = {
    '': { dependencies: { [pkg.name]: `file:${tarball}` } },
    [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: `file:${tarball}`, dependencies: pkg.dependencies, bin: pkg.bin },
  };
  for (const [path, entry] of Object.entries(ours.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  // What a consumer writes once: onnxruntime-node's postinstall would fetch CUDA providers; the CPU binding ships in it.
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { [pkg.name]: `file:${tarball}` }, allowScripts: { 'onnxruntime-node': false } }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);

  writeFileSync(join(app, 'esm.mjs'), "import { FusionModel, readCube } from 'spectra-edge';\nimport { decodeMeta } from 'spectra-edge/protocol';\nimport { quantizeModel } from 'spectra-edge/quantize';\nconsole.log([FusionModel, readCube, decodeMeta, quantizeModel].map((f) => typeof f).join(','));\n");
  t.equal(run(process.execPath, ['esm.mjs'], app).trim(), 'function,function,function,function', 'ESM named imports');
  writeFileSync(join(app, 'cjs.cjs'), "const { FusionModel, ERROR_CODES } = require('spectra-edge');\nconsole.log(typeof FusionModel.load, Object.keys(ERROR_CODES).length > 10);\n");
  t.equal(run(process.execPath, ['cjs.cjs'], app).trim(), 'function true', 'CommonJS require');

  writeFileSync(
    join(app, 'consumer.ts'),
    "import { FusionModel, type FusedCube, SpectraError } from 'spectra-edge';\nimport { type CubeMessageMeta } from 'spectra-edge/protocol';\n" +
      "export async function fuseOnce(path: string): Promise<FusedCube | string> {\n  const model = await FusionModel.load(path);\n  try {\n    return model.card.name;\n  } catch (err) {\n    return err instanceof SpectraError ? err.code : 'other';\n  } finally {\n    await model.release();\n  }\n}\nexport const device = (m: CubeMessageMeta): string => m.device;\n",
  );
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', noEmit: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] }, files: ['consumer.ts'] }));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  t.doesNotThrow(() => run(process.execPath, [tsc, '-p', 'tsconfig.json'], app), 'tsc --strict on a consumer');
  t.equal(run(process.execPath, [join(app, 'node_modules', '.bin', 'spectra'), '--version'], app).trim(), pkg.version, 'spectra --version');
});
