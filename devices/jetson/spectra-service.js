#!/usr/bin/env node
'use strict';
// Entry of the Jetson service (systemd unit, container): the compiled service when dist/ is current, see bin/entry.js.
require('../../bin/entry.js')
  .loadEntry('devices/jetson/service')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`spectra-service: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
