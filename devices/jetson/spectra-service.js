#!/usr/bin/env node
'use strict';
// Entry of the Jetson service (systemd unit, container): TypeScript through ts-node, like bin/spectra.js.
require('ts-node').register({ transpileOnly: true, project: require('path').join(__dirname, '..', '..', 'tsconfig.json') });
require('./service.ts')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`spectra-service: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
