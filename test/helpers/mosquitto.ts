/**
 * Spawns a real mosquitto broker for tests: random loopback port(s), a generated config, optional
 * password file, TLS listener (throwaway CA + server + client certificates made with openssl) and
 * packet size limit. Tests call {@link mosquittoMissing} first and skip with its message when it is set.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto', '/opt/homebrew/sbin/mosquitto'];

/** Path of the mosquitto binary, or undefined. */
export function mosquittoBinary(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

/** Skip message when mosquitto is not installed, else false. */
export function mosquittoMissing(): string | false {
  return mosquittoBinary() === undefined
    ? 'mosquitto is not installed; run scripts/install-test-services.sh (apt-get install mosquitto) to run the broker tests'
    : false;
}

/** Broker settings. */
export interface MosquittoOptions {
  /** `max_packet_size` in bytes (announced to MQTT 5 clients in CONNACK). */
  maxPacketSize?: number;
  /** Require this user name / password (anonymous clients refused). */
  credentials?: { username: string; password: string };
  /** Add a TLS listener; `requireClientCert` also demands a client certificate signed by the test CA. */
  tls?: { requireClientCert?: boolean };
  /** `set_tcp_nodelay true`: the broker's small PUBACKs are not held back by Nagle's algorithm. */
  tcpNoDelay?: boolean;
  /** `max_queued_messages`: QoS 1 messages queued per offline or slow client before mosquitto drops them (default 1000). */
  maxQueuedMessages?: number;
  /** Reuse these ports (for a restart on the same address). */
  port?: number;
  tlsPort?: number;
}

/** Paths of the throwaway PKI. */
export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here, to provoke verification failures. */
  otherCa: string;
}

/** A running broker. */
export interface Mosquitto {
  port: number;
  url: string;
  tlsPort?: number;
  tlsUrl?: string;
  pki?: TestPki;
  /** Stops the broker (SIGKILL by default: a crash, not a clean shutdown). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports with the same config. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  dispose(): Promise<void>;
  /** What mosquitto wrote to stderr since it last started (warnings such as dropped messages). */
  readonly log: string;
}

/**
 * Short outages, as the fault scenarios of issue 17 stage them: after each delay (ms) the broker is killed and
 * started again `downMs` later.
 */
export async function restartRepeatedly(broker: Mosquitto, delays: readonly number[] = [600, 800, 800], downMs = 300): Promise<void> {
  for (const at of delays) {
    await new Promise((r) => setTimeout(r, at));
    await broker.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, downMs));
    await broker.start();
  }
}

/** A free TCP port on 127.0.0.1 (free when asked; a tiny race is acceptable in tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let pkiCache: TestPki | undefined;

/** Brokers this process started; killed if the test process ends abruptly (tap kills a test on timeout). */
const running = new Set<ChildProcess>();
let reaperInstalled = false;

function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  const killAll = (): void => {
    for (const c of running) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killAll();
      // Re-raise with the default handler so the process still dies of the signal.
      process.kill(process.pid, signal);
    });
  }
}

/** Makes (once per process) a CA, a server certificate for 127.0.0.1/localhost and a client certificate. */
export function testPki(): TestPki {
  if (pkiCache) return pkiCache;
  const dir = mkdtempSync(join(tmpdir(), 'spectra-pki-'));
  const p = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const ca = (name: string): void => {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`));
  };
  ca('ca');
  ca('other-ca');
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr'));
  ssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p('server.ext'), '-out', p('server.crt'));
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=spectra-test-client', '-keyout', p('client.key'), '-out', p('client.csr'));
  ssl('x509', '-req', '-in', p('client.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-out', p('client.crt'));
  pkiCache = {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    otherCa: p('other-ca.crt'),
  };
  return pkiCache;
}

/**
 * Starts mosquitto with a generated config on 127.0.0.1.
 * @param options - See {@link MosquittoOptions}.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const bin = mosquittoBinary();
  if (bin === undefined) throw new Error(mosquittoMissing() as string);
  const dir = mkdtempSync(join(tmpdir(), 'spectra-mosquitto-'));
  const port = options.port ?? (await freePort());
  const tlsPort = options.tls ? (options.tlsPort ?? (await freePort())) : undefined;
  const pki = options.tls ? testPki() : undefined;
  const lines = ['per_listener_settings false', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning'];
  // Started as root (CI containers), mosquitto drops to user 'mosquitto', which cannot read our 0700 temp dirs.
  if (process.getuid?.() === 0) lines.push('user root');
  if (options.maxPacketSize !== undefined) lines.push(`max_packet_size ${options.maxPacketSize}`);
  if (options.credentials) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '');
    execFileSync('mosquitto_passwd', ['-b', pw, options.credentials.username, options.credentials.password], { stdio: 'ignore' });
    lines.push('allow_anonymous false', `password_file ${pw}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (options.tcpNoDelay) lines.push('set_tcp_nodelay true');
  // mosquitto reports dropped queued messages at notice level.
  if (options.maxQueuedMessages !== undefined) lines.push(`max_queued_messages ${options.maxQueuedMessages}`, 'log_type notice');
  lines.push(`listener ${port} 127.0.0.1`);
  if (tlsPort !== undefined && pki) {
    lines.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`);
    if (options.tls?.requireClientCert) lines.push('require_certificate true');
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async (): Promise<void> => {
    stderr = '';
    installReaper();
    child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    const started = child;
    running.add(started);
    started.once('exit', () => running.delete(started));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitForPort(port, 5000);
      if (tlsPort !== undefined) await waitForPort(tlsPort, 5000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\nmosquitto said: ${stderr}`);
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort !== undefined ? { tlsPort, tlsUrl: `mqtts://127.0.0.1:${tlsPort}`, pki } : {}),
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    get log() {
      return stderr;
    },
  };
}
