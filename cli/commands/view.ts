import { Command, InvalidArgumentError } from 'commander';
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
    .option('--password <secret>', 'broker password (prefer SPECTRA_BROKER_PASSWORD)')
    .action(async (opts: ViewOptions) => {
      if (opts.mqttVersion !== '5' && opts.mqttVersion !== '4') throw new InvalidArgumentError(`--mqtt-version must be 4 or 5, not '${opts.mqttVersion}'`);
      const password = opts.password ?? process.env.SPECTRA_BROKER_PASSWORD;
      const view = await ViewServer.start({
        ...(opts.broker !== undefined ? { broker: opts.broker, protocolVersion: Number(opts.mqttVersion) as 4 | 5 } : {}),
        port: opts.port,
        host: opts.host,
        mqttPort: opts.mqttPort,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(password !== undefined ? { password } : {}),
      });
      process.stdout.write(`spectra view: open ${view.url}\n`);
      process.stdout.write(`spectra view: cubes from ${view.brokerUrl}${opts.broker === undefined ? ' (embedded broker; publish here)' : ''}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await view.close();
    });
}
