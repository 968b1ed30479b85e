import { Command, InvalidArgumentError } from 'commander';
import { redactUrl } from '../../sdk/publish/broker-connection';
import { passwordFrom } from './subscribe';
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
}

/** Adds `spectra view`. */
export function register(program: Command): void {
  program
    .command('view')
    .description(
      'Serve the live viewer: latest quicklook per device, the spectrum under the cursor, latency and fps. ' +
        'Starts an embedded MQTT broker when --broker is not given.',
    )
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
    .action(async (opts: ViewOptions) => {
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
