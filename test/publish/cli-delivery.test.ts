/**
 * `spectra subscribe` and `spectra run` as processes against a real mosquitto (issue 17): they survive a
 * broker outage, exit non-zero and name the missing sequences whenever a cube is missing, start without a
 * broker under --no-wait-for-broker, never hang on a pipeline error, and never print credentials.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CubePublisher } from '../../sdk/publish/publisher';
import { CUBE_PROTOCOL, lostTopic } from '../../sdk/publish/protocol';
import { mosquittoMissing, startMosquitto } from '../helpers/mosquitto';
import { patternCube, tempDir, until } from './helpers';

const skip = mosquittoMissing();
const ROOT = resolve(__dirname, '..', '..');
const TINY = join(ROOT, 'test', 'fixtures', 'tiny', 'tiny-student.onnx');
const quiet = (): void => {};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Cli {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function spectra(args: string[], env: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'spectra.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => text, exited };
}

t.test('spectra subscribe: survives a broker outage, stores what comes after, exits 0 on Ctrl-C', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const out = tempDir();
  const cli = spectra(['subscribe', '--broker', broker.url, '--out', out, '--device', 'cam-x', '--client-id', 'cli-sub-x', '--no-quicklook']);
  t.teardown(() => cli.child.kill('SIGKILL'));
  await until(() => /listening on .* as cli-sub-x/.test(cli.out()), 60_000, 'the subscriber to listen');
  await broker.stop();
  await sleep(2000);
  t.equal(cli.child.exitCode, null, 'still running two seconds into the outage');
  await broker.start();
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'cam-x', receiptGroup: 'default', receiptTimeoutMs: 1000, chunkSize: 4096, log: quiet });
  for (const i of [0, 1]) await pub.publish(patternCube(2, 16, 16, i), { sequence: i });
  t.ok(await pub.drain(20_000), 'receipts from the CLI subscriber drained the outbox');
  await until(() => (cli.out().match(/^cube cam-x\//gm) ?? []).length >= 2, 10_000, 'two cubes printed');
  await pub.close();
  cli.child.kill('SIGINT');
  t.equal(await cli.exited, 0);
  t.match(cli.out(), /2 cube\(s\) written, 0 duplicate\(s\) ignored, 0 dropped\n/);
});

t.test('spectra subscribe: a cube the device announces lost makes it exit 4 naming the sequence', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const cli = spectra(['subscribe', '--broker', broker.url, '--out', tempDir(), '--device', 'cam-y', '--no-quicklook']);
  t.teardown(() => cli.child.kill('SIGKILL'));
  await until(() => /listening on/.test(cli.out()), 60_000, 'the subscriber to listen');
  const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  await raw.publishAsync(lostTopic('cam-y'), JSON.stringify({ protocol: CUBE_PROTOCOL, sequences: [3, 4], reason: 'evicted' }), { qos: 1 });
  await raw.endAsync();
  await until(() => /MISSING cube cam-y\/4/.test(cli.out()), 10_000, 'the missing report');
  cli.child.kill('SIGINT');
  t.equal(await cli.exited, 4, 'exit code 4: cubes missing');
  t.match(cli.out(), /MISSING sequence\(s\) cam-y: 3, 4/);
});

t.test('spectra run: three broker restarts mid-run, every cube received once, exit 0, no credentials printed or saved', { skip }, async (t) => {
  const broker = await startMosquitto({ credentials: { username: 'cam', password: 's3cret-pw' } });
  t.teardown(() => broker.dispose());
  const out = tempDir();
  const url = broker.url.replace('mqtt://', 'mqtt://cam:s3cret-pw@');
  const frames = 30;
  const cli = spectra([
    'run', '--model', TINY, '--scene', 'generated', '--size', '32x32', '--frames', String(frames), '--fps', '10',
    '--broker', url, '--device', 'cam-run', '--out', out, '--outbox', join(tempDir(), 'outbox'),
  ]);
  t.teardown(() => cli.child.kill('SIGKILL'));
  await until(() => /frame 2:/.test(cli.out()), 90_000, 'frames flowing');
  for (let i = 0; i < 3; i++) {
    await broker.stop('SIGKILL');
    await sleep(300);
    await broker.start();
    await sleep(700);
  }
  t.equal(await cli.exited, 0, cli.out().slice(-2000));
  t.match(cli.out(), new RegExp(`subscriber received ${frames}/${frames} cube`));
  t.notMatch(cli.out(), /MISSING/);
  t.notMatch(cli.out(), /s3cret-pw/, 'the password never printed');
  const run = readFileSync(join(out, 'run.json'), 'utf8');
  t.notMatch(run, /s3cret-pw/, 'nor saved in run.json');
  const job = JSON.parse(run) as { subscriber: { received: number; missing: number[] }; publisher: { lost: number } };
  t.equal(job.subscriber.received, frames);
  t.same(job.subscriber.missing, []);
  t.equal(job.publisher.lost, 0);
});

t.test('spectra run --no-wait-for-broker: starts during an outage and delivers once the broker appears', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  await broker.stop();
  const out = tempDir();
  const cli = spectra(['run', '--model', TINY, '--scene', 'generated', '--size', '32x32', '--frames', '3', '--broker', broker.url, '--no-wait-for-broker', '--device', 'cam-w', '--out', out]);
  t.teardown(() => cli.child.kill('SIGKILL'));
  await until(() => /frame 2:/.test(cli.out()), 90_000, 'frames fused while the broker is down');
  await broker.start();
  t.equal(await cli.exited, 0, cli.out().slice(-2000));
  t.match(cli.out(), /subscriber received 3\/3 cube/);
});

t.test('spectra run: a full disk under --outbox ends the run promptly with ENOSPC named, never hangs', { skip: skip || tmpfsMissing() }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const disk = tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96k', 'tmpfs', disk], { stdio: 'ignore' });
  t.teardown(() => execFileSync('umount', ['-l', disk], { stdio: 'ignore' }));
  const cli = spectra(['run', '--model', TINY, '--scene', 'generated', '--size', '64x64', '--frames', '20', '--broker', broker.url, '--device', 'cam-f', '--out', tempDir(), '--outbox', join(disk, 'outbox')]);
  t.teardown(() => cli.child.kill('SIGKILL'));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([cli.exited, new Promise((r) => (timer = setTimeout(() => r('hung'), 120_000)))]);
  clearTimeout(timer);
  t.equal(code, 2, cli.out().slice(-2000));
  t.match(cli.out(), /OutboxError \[E_OUTBOX\]: .*outbox.*the disk is full \(ENOSPC\)/);
});

function tmpfsMissing(): string | false {
  try {
    const dir = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return false;
  } catch {
    return 'cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN)';
  }
}

t.test('spectra run --delivery pull: two spectra subscribe --share members pull every cube once between them', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const members = ['a', 'b'].map((m) => {
    const out = tempDir();
    const cli = spectra(['subscribe', '--broker', broker.url, '--out', out, '--device', 'cam-p', '--share', 'fleet', '--client-id', `member-${m}`, '--no-quicklook']);
    t.teardown(() => cli.child.kill('SIGKILL'));
    return cli;
  });
  for (const m of members) await until(() => /listening on .* \(share group fleet\)/.test(m.out()), 60_000, 'a member to listen');
  const run = spectra(['run', '--model', TINY, '--broker', broker.url, '--device', 'cam-p', '--frames', '6', '--no-subscribe', '--receipt-group', 'fleet', '--delivery', 'pull', '--scene', 'generated', '--size', '32x32']);
  t.teardown(() => run.child.kill('SIGKILL'));
  t.equal(await run.exited, 0, run.out());
  const stored = (): number[] => members.map((m) => (m.out().match(/^cube cam-p\//gm) ?? []).length);
  await until(() => stored().reduce((a, b) => a + b, 0) >= 6, 20_000, 'six cubes stored');
  const sequences = members.flatMap((m) => [...m.out().matchAll(/^cube cam-p\/(\d+)/gm)].map((x) => Number(x[1])));
  t.same([...sequences].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5], `every cube once across the members (${stored().join(' + ')})`);
  t.ok(stored().every((n) => n > 0), 'both members got cubes');
});

t.test('spectra run: --receipt-group and --delivery pull without their companions are usage errors that say what to add', async (t) => {
  const pull = spectra(['run', '--delivery', 'pull']);
  t.equal(await pull.exited, 1);
  t.match(pull.out(), /--delivery pull needs --receipt-group <name> and --no-subscribe/);
  const group = spectra(['run', '--receipt-group', 'fleet']);
  t.equal(await group.exited, 1);
  t.match(group.out(), /--receipt-group names outside consumers: add --no-subscribe/);
});
