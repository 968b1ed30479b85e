#!/usr/bin/env node
'use strict';
// The CLI is TypeScript run through ts-node (transpile only), so a checkout works without a build step.
require('ts-node').register({ transpileOnly: true, project: require('path').join(__dirname, '..', 'tsconfig.json') });
require('../cli/main.ts').main(process.argv).catch((err) => {
  process.stderr.write(`spectra: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
