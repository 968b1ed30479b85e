'use strict';
// Loads an entry point compiled (dist/, built by `prepare`, `npm run build` and scripts/setup.sh): starting it costs
// a fraction of compiling the TypeScript through ts-node on every call. In a checkout whose dist/ is missing or
// older than the sources, it falls back to ts-node (a dev dependency), so an edit never runs stale.
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const SOURCE_DIRS = ['sdk', 'cli', 'quantize', 'devices', 'viewer'];

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function isCurrent(compiled, source) {
  if (!existsSync(compiled)) return false;
  // An installed package ships no TypeScript sources: dist/ is all there is.
  if (!existsSync(source)) return true;
  const built = statSync(compiled).mtimeMs;
  return SOURCE_DIRS.every((dir) => !existsSync(join(root, dir)) || newestSource(join(root, dir)) <= built);
}

/**
 * @param {string} relative - Entry without extension, relative to the package root, e.g. 'cli/main'.
 * @returns The entry's exports.
 */
function loadEntry(relative) {
  const compiled = join(root, 'dist', `${relative}.js`);
  const source = join(root, `${relative}.ts`);
  if (isCurrent(compiled, source)) return require(compiled);
  require('ts-node').register({ transpileOnly: true, project: join(root, 'tsconfig.json') });
  return require(source);
}

module.exports = { loadEntry };
