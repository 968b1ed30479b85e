#!/usr/bin/env node
'use strict';
// The `spectra` command: the compiled CLI when dist/ is current, see entry.js.
require('./entry.js')
  .loadEntry('cli/main')
  .main(process.argv)
  .catch((err) => {
    process.stderr.write(`spectra: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = process.exitCode || 1;
  });
