import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TegrastatsParseError } from '../../devices/jetson/errors';
import { parseTegrastatsLine, TegrastatsMonitor } from '../../devices/jetson/tegrastats';

const lines = (name: string): string[] =>
  readFileSync(join(__dirname, 'fixtures', name), 'utf8').split('\n').filter((l) => l.trim() !== '');

t.test('parses: Orin Nano (JetPack 6) idle line', async (t) => {
  const s = parseTegrastatsLine(lines('tegrastats-orin.txt')[0]);
  t.same(s.ram, { usedMb: 2448, totalMb: 7620 });
  t.same(s.swap, { usedMb: 0, totalMb: 3810, cachedMb: 0 });
  t.equal(s.cpu?.length, 6);
  t.same(s.cpu?.[0], { loadPercent: 12, frequencyMhz: 1510 });
  t.equal(s.cpu?.[4], null, 'an off core is null');
  t.equal(s.gpuPercent, 0);
  t.same(s.temperaturesC, { cpu: 46.5, soc2: 45.8, soc0: 46.1, gpu: 45.2, tj: 46.5, soc1: 45.3 });
  t.same(s.power.VDD_IN, { currentMw: 4952, averageMw: 4952 });
  t.same(Object.keys(s.power), ['VDD_IN', 'VDD_CPU_GPU_CV', 'VDD_SOC']);
  t.equal(s.totalPowerMw, 4952, 'VDD_IN is the board input');
  t.equal(s.maxTemperatureC, 46.5);
});

t.test('parses: Orin under load, current and average power differ', async (t) => {
  const s = parseTegrastatsLine(lines('tegrastats-orin.txt')[1]);
  t.equal(s.gpuPercent, 87);
  t.equal(s.emcPercent, 21);
  t.same(s.power.VDD_CPU_GPU_CV, { currentMw: 4712, averageMw: 2632 });
  t.equal(s.maxTemperatureC, 54.3);
});

t.test('parses: AGX Orin with timestamp, GR3D frequency list and invalid sensors', async (t) => {
  const s = parseTegrastatsLine(lines('tegrastats-orin.txt')[2]);
  t.equal(s.timestamp, '11-27-2026 03:10:22');
  t.equal(s.cpu?.length, 12);
  t.equal(s.gpuPercent, 64);
  t.notOk('CV0' in s.temperaturesC, '-256C (unreadable sensor) is left out');
  t.equal(s.temperaturesC.tj, 50.1);
  t.equal(s.temperaturesC.Tboard, 38);
  t.notOk('APE' in s.power, 'APE 174 is a clock, not a rail');
  t.notOk('VIC_FREQ' in s.power);
  t.same(s.power.NC, { currentMw: 0, averageMw: 0 });
  // No VDD_IN on AGX Orin: the total is the sum of the rails.
  t.equal(s.totalPowerMw, 6395 + 1980 + 3841 + 0 + 503 + 0);
});

t.test('parses: AGX Xavier (JetPack 4) rails without mW units', async (t) => {
  const s = parseTegrastatsLine(lines('tegrastats-xavier.txt')[0]);
  t.same(s.ram, { usedMb: 2317, totalMb: 31918 });
  t.equal(s.cpu?.filter((c) => c === null).length, 4);
  t.same(s.cpu?.[0], { loadPercent: 1, frequencyMhz: 1190 });
  t.equal(s.gpuPercent, 0);
  t.same(s.power.GPU, { currentMw: 0, averageMw: 0 });
  t.same(s.power.CPU, { currentMw: 310, averageMw: 310 });
  t.same(s.power.SYS5V, { currentMw: 1613, averageMw: 1613 });
  t.equal(s.totalPowerMw, 0 + 310 + 1241 + 0 + 155 + 1613);
  t.equal(s.temperaturesC.PMIC, 100);
  t.equal(s.maxTemperatureC, 39, 'the constant PMIC@100C placeholder does not count as hottest');
  t.equal(s.temperaturesC.thermal, 36.8);
});

t.test('parses: Xavier NX (JetPack 5)', async (t) => {
  const s = parseTegrastatsLine(lines('tegrastats-xavier.txt')[1]);
  t.equal(s.totalPowerMw, 7312);
  t.equal(s.gpuPercent, 71);
  t.equal(s.temperaturesC.thermal, 43.15);
  t.equal(s.maxTemperatureC, 45);
});

t.test('rejects: a line that is not tegrastats output', async (t) => {
  t.throws(() => parseTegrastatsLine('bash: tegrastats: command not found'), TegrastatsParseError);
  t.throws(() => parseTegrastatsLine('garbage'), { code: 'E_TEGRASTATS', name: 'TegrastatsParseError' });
  t.throws(() => parseTegrastatsLine(''), { message: /Expected a tegrastats line/ });
});

t.test('monitor: keeps the latest sample from a running tegrastats, skips junk lines', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tegrastats-'));
  const fake = join(dir, 'tegrastats');
  const recorded = join(__dirname, 'fixtures', 'tegrastats-orin.txt');
  // Prints a junk line, then the recorded Orin lines one per interval, like tegrastats --interval.
  writeFileSync(fake, `#!/bin/sh\n[ "$1" = --interval ] || exit 2\necho 'starting up'\nwhile IFS= read -r l; do echo "$l"; sleep 0.05; done < '${recorded}'\nsleep 5\n`);
  chmodSync(fake, 0o755);
  const logs: string[] = [];
  const monitor = TegrastatsMonitor.start({ command: fake, intervalMs: 50, log: (m) => logs.push(m) });
  t.teardown(() => monitor.stop());
  const deadline = Date.now() + 5000;
  while (monitor.latest()?.timestamp === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(monitor.latest()?.timestamp, '11-27-2026 03:10:22', 'the last recorded line is the latest sample');
  t.match(logs, [/Expected a tegrastats line .*starting up/]);
});

t.test('monitor: without tegrastats (any non-Jetson host) there is simply no sample', async (t) => {
  const logs: string[] = [];
  const monitor = TegrastatsMonitor.start({ command: '/nonexistent/tegrastats', log: (m) => logs.push(m) });
  await new Promise((r) => setTimeout(r, 200));
  monitor.stop();
  t.equal(monitor.latest(), undefined);
  t.match(logs.join('\n'), /tegrastats unavailable \(.*ENOENT.*\); status will carry no temperature or power/);
});
