import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SystemdNotifier } from '../../devices/jetson/systemd';

// A stand-in for systemd-notify that appends its arguments to a file.
function fakeNotify(): { command: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'sd-notify-'));
  const log = join(dir, 'calls.txt');
  const command = join(dir, 'systemd-notify');
  writeFileSync(command, `#!/bin/sh\necho "$*" >> '${log}'\n`);
  chmodSync(command, 0o755);
  writeFileSync(log, '');
  return { command, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

t.test('notifier: a no-op outside systemd', async (t) => {
  const fake = fakeNotify();
  const n = SystemdNotifier.fromEnv({ env: {}, command: fake.command });
  t.equal(n.active, false);
  t.equal(n.watchdogMs, undefined);
  await n.ready('up');
  n.startWatchdog(() => true);
  await n.stopping();
  t.same(fake.calls(), []);
});

t.test('notifier: READY, STATUS and watchdog pings only while healthy', async (t) => {
  const fake = fakeNotify();
  const n = SystemdNotifier.fromEnv({ env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '200000' }, command: fake.command });
  t.equal(n.active, true);
  t.equal(n.watchdogMs, 200);
  await n.ready('fusing');
  await n.status('3 frames');
  let healthy = true;
  n.startWatchdog(() => healthy);
  const until = async (pred: () => boolean): Promise<void> => {
    const deadline = Date.now() + 3000;
    while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  await until(() => fake.calls().filter((c) => c === 'WATCHDOG=1').length >= 2);
  healthy = false;
  await new Promise((r) => setTimeout(r, 150));
  const pingsWhenStalled = fake.calls().filter((c) => c === 'WATCHDOG=1').length;
  await new Promise((r) => setTimeout(r, 400));
  t.equal(fake.calls().filter((c) => c === 'WATCHDOG=1').length, pingsWhenStalled, 'no pings while the pipeline is stalled');
  await n.stopping();
  const calls = fake.calls();
  t.equal(calls[0], '--ready --status=fusing');
  t.equal(calls[1], '--status=3 frames');
  t.ok(pingsWhenStalled >= 2);
  t.equal(calls[calls.length - 1], 'STOPPING=1');
});

t.test('notifier: ignores a watchdog meant for another process', async (t) => {
  const n = SystemdNotifier.fromEnv({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid + 1) } });
  t.equal(n.watchdogMs, undefined);
});
