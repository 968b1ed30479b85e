import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { type BrokerOptions, redactUrl } from '../../sdk/publish/broker-connection';
import { CubeSubscriber } from '../../sdk/publish/subscriber';
import { integer } from '../arguments';

/** Broker flags shared by `spectra subscribe` and `spectra run`. */
export interface BrokerCliOptions {
  username?: string;
  password?: string;
  passwordFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  mqttVersion: '4' | '5';
}

/**
 * Adds the broker flags (credentials, TLS files, MQTT version) to a command.
 * @internal
 */
export function addBrokerFlags(cmd: Command): Command {
  return cmd
    .option('--username <name>', 'broker user name')
    .option('--password <secret>', 'broker password; visible in `ps`, so prefer SPECTRA_BROKER_PASSWORD or --password-file')
    .option('--password-file <path>', 'read the broker password from this file (first line)')
    .option('--ca <pem>', 'CA certificate file for mqtts:// / wss://')
    .option('--cert <pem>', 'client certificate file')
    .option('--key <pem>', 'client private key file')
    .option('--insecure', 'do not verify the broker certificate (testing only)', false)
    .addOption(new Option('--mqtt-version <v>', 'MQTT protocol version (4 = 3.1.1, for brokers without MQTT 5)').choices(['4', '5']).default('5'));
}

/**
 * Turns the broker flags into {@link BrokerOptions} (without the URL).
 * @internal
 */
export function brokerOptionsFrom(o: BrokerCliOptions): Omit<BrokerOptions, 'broker'> {
  const password = passwordFrom(o);
  const tls = {
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
    ...(o.insecure ? { rejectUnauthorized: false } : {}),
  };
  return {
    protocolVersion: o.mqttVersion === '4' ? 4 : 5,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

/**
 * The broker password: `--password`, else `--password-file` (first line), else `SPECTRA_BROKER_PASSWORD`.
 * Never printed; banners show broker URLs through {@link redactUrl}.
 * @internal
 */
export function passwordFrom(o: Pick<BrokerCliOptions, 'password' | 'passwordFile'>): string | undefined {
  if (o.password !== undefined) return o.password;
  if (o.passwordFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.passwordFile, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read --password-file '${o.passwordFile}': ${(err as Error).message}`);
    }
    return text.split(/\r?\n/)[0];
  }
  return process.env.SPECTRA_BROKER_PASSWORD || undefined;
}

interface SubscribeCliOptions extends BrokerCliOptions {
  broker: string;
  out: string;
  share?: string;
  device: string;
  count?: number;
  timeoutMs: number;
  quicklook: boolean;
  clientId?: string;
  group?: string;
  qos: '0' | '1';
  receipts: boolean;
  waitForBroker: boolean;
}

/** Adds `spectra subscribe`. */
export function register(program: Command): void {
  const cmd = program
    .command('subscribe')
    .description('Receive cubes published with the cube protocol (docs/cube-protocol.md); write ENVI + meta + quicklook per cube')
    .requiredOption('--broker <url>', 'mqtt://host:1883, mqtts://host:8883, ws://host:8083/mqtt')
    .requiredOption('--out <dir>', 'folder for <device>_<sequence>_<cubeId>.hdr/.img/.json/.png')
    .option('--share <group>', 'join an MQTT 5 shared-subscription group: cubes are split across members, each cube whole to one member (even shares, nothing forwarded, when the device uses pull delivery; docs/cube-protocol.md §6.2)')
    .option('--device <id>', 'only this device', '+')
    .option('--count <n>', 'exit after this many cubes', integer(1))
    .option('--timeout-ms <ms>', 'drop a cube whose chunks are still missing after this long', integer(1), 30_000)
    .option('--no-quicklook', 'do not write quicklook PNGs')
    .option('--client-id <id>', 'MQTT client id; keep it stable so the broker keeps this subscriber\'s session and queued cubes across restarts (default: derived from host, --out, --device, --share)')
    .option('--group <name>', 'consumer group named in receipts and resend requests (default: --share, else "default")')
    .addOption(new Option('--qos <n>', 'subscription QoS').choices(['0', '1']).default('1'))
    .option('--no-receipts', 'do not send v2 receipts or resend requests')
    .option('--no-wait-for-broker', 'start even when the broker is unreachable and connect in the background');
  addBrokerFlags(cmd).action(async (opts: SubscribeCliOptions) => {
    const sub = await CubeSubscriber.connect({
      ...brokerOptionsFrom(opts),
      broker: opts.broker,
      out: opts.out,
      device: opts.device,
      timeoutMs: opts.timeoutMs,
      quicklook: opts.quicklook,
      qos: opts.qos === '0' ? 0 : 1,
      receipts: opts.receipts,
      waitForBroker: opts.waitForBroker,
      ...(opts.clientId !== undefined ? { clientId: opts.clientId } : {}),
      ...(opts.group !== undefined ? { group: opts.group } : {}),
      ...(opts.share !== undefined ? { share: opts.share } : {}),
    });
    process.stderr.write(`spectra subscribe: listening on ${redactUrl(opts.broker)} as ${sub.clientId}${opts.share ? ` (share group ${opts.share})` : ''}; Ctrl-C to stop\n`);
    let received = 0;
    await new Promise<void>((resolve) => {
      sub.on('cube', ({ meta, files }) => {
        received++;
        const mb = (meta.payloadBytes / 1e6).toFixed(1);
        const age = Date.now() - Date.parse(meta.capturedAt);
        const q = meta.quality?.psnr !== undefined ? `, PSNR ${meta.quality.psnr.toFixed(2)} dB` : '';
        process.stdout.write(`cube ${meta.device}/${meta.sequence}: ${meta.shape.join('x')} float32, ${mb} MB, ${age} ms after capture${q} -> ${files?.header}\n`);
        if (opts.count !== undefined && received >= opts.count) resolve();
      });
      sub.on('cube-error', (err) => process.stderr.write(`spectra subscribe: ${err.message}\n`));
      sub.on('missing', (device, sequence, reason) => process.stderr.write(`spectra subscribe: MISSING cube ${device}/${sequence} (${reason})\n`));
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    const s = sub.stats;
    const missing = sub.missing();
    await sub.close();
    const lost = Object.entries(missing).map(([device, seqs]) => `${device}: ${seqs.join(', ')}`);
    process.stderr.write(
      `spectra subscribe: ${s.written} cube(s) written, ${s.duplicateCubes} duplicate(s) ignored, ${s.rejected + s.incomplete + s.evicted} dropped` +
        (lost.length > 0 ? `; MISSING sequence(s) ${lost.join('; ')}` : '') +
        '\n',
    );
    // A missing cube is a failed delivery, whatever else went well.
    if (lost.length > 0) process.exitCode = 4;
  });
}
