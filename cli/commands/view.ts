import { Command, InvalidArgumentError, Option } from 'commander';
import { redactUrl } from '../../sdk/publish/broker-connection';
import type { NpyLayout } from '../../sdk/cube/npy';
import { passwordFrom } from './subscribe';
import { wavelengthList } from '../wavelengths';
import { FileViewServer } from '../../viewer/file-server';
import { ViewServer } from '../../viewer/server';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port 0-65535 but received '${value}'`);
  return n;
}

function brokerUrl(value: string): string {
  if (!/^(mqtts?|wss?):\/\/[^/\s]+/.test(value)) {
    throw new InvalidArgumentError(`expected an mqtt://, mqtts://, ws:// or wss:// URL but received '${value}'`);
  }
  return value;
}

interface ViewOptions {
  broker?: string;
  port: number;
  host: string;
  mqttPort: number;
  mqttVersion: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  allowRemote?: boolean;
  allowOrigin: string[];
  compare?: string;
  wavelengths?: number[];
  npyLayout: NpyLayout;
}

/** Options that only the live viewer uses: given with a FILE they would be silently ignored, so they are refused. */
const LIVE_ONLY = ['broker', 'mqttPort', 'mqttVersion', 'username', 'password', 'passwordFile', 'ca', 'cert', 'key', 'insecure'] as const;
/** Options that only the file viewer uses. */
const FILE_ONLY = ['compare', 'wavelengths', 'npyLayout'] as const;

const flag = (name: string): string => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Adds `spectra view`. */
export function register(program: Command): void {
  program
    .command('view')
    .description(
      'Serve the live viewer: latest quicklook per device, the spectrum under the cursor, latency and fps. ' +
        'Starts an embedded MQTT broker when --broker is not given. With FILE, serve a viewer of that cube instead: ' +
        'band slider, true/false colour, stretch, pinned spectra, PNG/CSV export, and |a-b| / spectral angle against REFERENCE.',
    )
    .argument('[file]', 'a cube to open instead of the live stream: ENVI .hdr, GeoTIFF .tif or .npy')
    .argument('[reference]', 'a cube of the same shape to compare FILE with (same as --compare)')
    .option('--compare <file>', 'reference cube for the difference and spectral-angle views (e.g. ground truth)')
    .option('--wavelengths <nm>', "band centres for files without them (.npy): 'a,b,c' or 'start:stop:step'", wavelengthList)
    .addOption(new Option('--npy-layout <layout>', 'axis order of 3-D .npy files').choices(['chw', 'hwc']).default('chw'))
    .option('--broker <url>', 'broker to watch (mqtt:// is bridged to the page over /mqtt; ws:// is used by the page directly)', brokerUrl)
    .option('--port <n>', 'HTTP port of the page (0: any free port)', port, 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--mqtt-port <n>', 'TCP port of the embedded broker (0: any free port)', port, 1883)
    .option('--mqtt-version <v>', 'MQTT version for --broker: 5 or 4 (3.1.1)', '5')
    .option('--username <name>', 'broker user name')
    .option('--password <secret>', 'broker password; visible in `ps`, so prefer SPECTRA_BROKER_PASSWORD or --password-file')
    .option('--password-file <path>', 'read the broker password from this file (first line)')
    .option('--ca <pem>', 'CA certificate file for mqtts:// / wss://')
    .option('--cert <pem>', 'client certificate file')
    .option('--key <pem>', 'client private key file')
    .option('--insecure', 'do not verify the broker certificate (testing only)')
    .option('--allow-remote', 'allow --host beyond loopback (the embedded broker then requires --username and a password)')
    .option('--allow-origin <origin>', 'also accept /mqtt WebSockets from pages of this origin (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(async (file: string | undefined, reference: string | undefined, opts: ViewOptions, command: Command) => {
      const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli' || command.getOptionValueSource(name) === 'env';
      if (file !== undefined) return viewFile(file, reference, opts, LIVE_ONLY.filter(given));
      const fileOnly = FILE_ONLY.filter(given);
      if (fileOnly.length > 0) throw new InvalidArgumentError(`${fileOnly.map(flag).join(', ')} applies to a FILE only; give the cube to open (spectra view FILE)`);
      if (opts.mqttVersion !== '5' && opts.mqttVersion !== '4') throw new InvalidArgumentError(`--mqtt-version must be 4 or 5, not '${opts.mqttVersion}'`);
      const password = passwordFrom(opts);
      const tls = {
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.cert ? { cert: opts.cert } : {}),
        ...(opts.key ? { key: opts.key } : {}),
        ...(opts.insecure ? { rejectUnauthorized: false } : {}),
      };
      const view = await ViewServer.start({
        ...(opts.broker !== undefined ? { broker: opts.broker, protocolVersion: Number(opts.mqttVersion) as 4 | 5 } : {}),
        port: opts.port,
        host: opts.host,
        mqttPort: opts.mqttPort,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(Object.keys(tls).length > 0 ? { tls } : {}),
        ...(opts.allowRemote ? { allowRemote: true } : {}),
        allowedOrigins: opts.allowOrigin,
      });
      process.stdout.write(`spectra view: open ${view.url}\n`);
      process.stdout.write(`spectra view: cubes from ${redactUrl(view.brokerUrl)}${opts.broker === undefined ? ' (embedded broker; publish here)' : ''}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await view.close();
    });
}

/** `spectra view FILE [REFERENCE]`: opens the cubes (a bad file fails here, before anything listens), then serves them. */
async function viewFile(file: string, positionalReference: string | undefined, opts: ViewOptions, liveOnly: readonly string[]): Promise<void> {
  if (liveOnly.length > 0) throw new InvalidArgumentError(`${liveOnly.map(flag).join(', ')} applies to the live viewer only; drop it or the FILE`);
  if (positionalReference !== undefined && opts.compare !== undefined) {
    throw new InvalidArgumentError(`the reference is given twice ('${positionalReference}' and --compare '${opts.compare}'); give one`);
  }
  const compare = positionalReference ?? opts.compare;
  const view = await FileViewServer.start({
    file,
    ...(compare !== undefined ? { compare } : {}),
    read: { npyLayout: opts.npyLayout, ...(opts.wavelengths ? { wavelengths: opts.wavelengths } : {}) },
    port: opts.port,
    host: opts.host,
    ...(opts.allowRemote ? { allowRemote: true } : {}),
    allowedOrigins: opts.allowOrigin,
  });
  const [bands, height, width] = [view.file.cube.bands, view.file.cube.height, view.file.cube.width];
  process.stdout.write(`spectra view: ${file} (${bands} bands × ${height} × ${width})${compare !== undefined ? ` compared with ${compare}` : ''}\n`);
  process.stdout.write(`spectra view: open ${view.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await view.close();
}
