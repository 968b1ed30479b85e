/**
 * The package as a consumer gets it: packs the tarball, installs it into a temporary project offline (its lockfile
 * is ours with the tarball added, so every dependency comes from the npm cache by integrity), imports it from ESM
 * and CommonJS, type-checks a strict consumer, runs `spectra --version` and opens the shipped model on the CPU binding.
 *
 * No environment variable is involved: every child process gets an environment scrubbed of onnxruntime-node's
 * install switches (ONNXRUNTIME_NODE_INSTALL, ONNXRUNTIME_NODE_INSTALL_CUDA and their npm_config_ forms), so a
 * developer or CI shell that exports one cannot make this pass. The consumer's only line about onnxruntime-node is
 * the `allowScripts` entry README.md tells it to write (see the comment at that line for why a package cannot do
 * this for its consumers).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
/** The environment without onnxruntime-node's install switches (its script/install-utils.js reads exactly these). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_config_)?onnxruntime_node_install/i.test(k)));
const run = (cmd: string, args: string[], cwd: string): string => execFileSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

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
  // What a consumer writes once (README.md, "The SDK in ten lines"). onnxruntime-node@1.30's postinstall fetches the
  // CUDA/TensorRT providers from NuGet on every linux/x64 install (no CUDA detection), and an unreachable feed fails
  // the whole `npm install`. npm (11.x) runs a dependency's install scripts unless the *root* project's allowScripts
  // denies them; it reads no script policy, config or environment from a dependency, and an optional dependency whose
  // script fails is removed, CPU binding and all. The CPU binding ships inside onnxruntime-node, so denying the
  // script loses nothing on CPU.
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
  const spectra = join(app, 'node_modules', '.bin', 'spectra');
  t.equal(run(process.execPath, [spectra, '--version'], app).trim(), pkg.version, 'spectra --version');

  // The default experience is a working CPU runtime: the postinstall did not run (no CUDA providers were fetched),
  // and the shipped student opens with the default provider order, falling back to the CPU binding.
  const ortBin = join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);
  t.notOk(existsSync(join(ortBin, 'libonnxruntime_providers_cuda.so')), 'onnxruntime-node postinstall did not fetch CUDA providers');
  const shipped = join(app, 'node_modules', pkg.name, 'models', 'student-cave31-rgb-x4.onnx');
  const info = JSON.parse(run(process.execPath, [spectra, 'info', '--model', shipped, '--json'], app)) as { providers: { granted: string; binding: { path: string } } };
  t.equal(info.providers.granted, 'cpu', 'spectra info: the shipped model runs on the CPU binding');
  t.equal(info.providers.binding.path, 'onnxruntime-node', 'the stock binding, installed as a dependency');
});
