/**
 * The Jetson service: profile -> checks -> model on the best provider -> capture -> fuse -> durable publish,
 * with the status topic (fps, latency percentiles, outbox, tegrastats) and the systemd watchdog.
 * `--check` only validates the profile against the machine and prints the provider verdict.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { MqttClient } from 'mqtt';
import { SOURCE_NAMES, isSourceName, openSource } from '../../sdk/capture/registry';
import { probeOptionForwarding } from './binding-probe';
import { checkDeployment, type DeploymentCheck } from './deployment-check';
import { ProfileError } from './errors';
import { type DeviceProfile, loadProfile } from './profile';
import { runPipeline } from '../../sdk/pipeline/pipeline';
import { StatusReporter, StatusTracker } from '../../sdk/pipeline/status';
import { SystemdNotifier } from './systemd';
import { TegrastatsMonitor, jetsonReadings } from './tegrastats';
import { applyPower, checkPower, readPowerMode } from './power';
import { SpectraError } from '../../sdk/core/errors';
import { type BrokerOptions, connectClient } from '../../sdk/publish/broker-connection';
import { createLogger } from '../../sdk/core/log';
import { CubePublisher } from '../../sdk/publish/publisher';
import { loadBinding } from '../../sdk/runtime/binding';
import { FusionModel } from '../../sdk/runtime/fusion-model';

const log = createLogger('spectra:service');

/** A frame stuck in fuse or publish for this long means the pipeline hangs; the watchdog then lets systemd restart us. */
const STALL_MS = 60_000;

/**
 * Runs the service.
 * @param argv - `--profile <file> [--check | --apply-power]`.
 * @returns The process exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { profile: { type: 'string' }, check: { type: 'boolean', default: false }, 'apply-power': { type: 'boolean', default: false } },
  });
  if (values.profile === undefined) throw new TypeError('usage: spectra-service.js --profile /etc/spectra/profile.json [--check]');
  let profile: DeviceProfile;
  try {
    profile = loadProfile(values.profile);
  } catch (err) {
    if (err instanceof ProfileError) {
      process.stderr.write(`spectra-service: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (values['apply-power']) {
    // Run as root by the unit (ExecStartPre=+), before the service itself starts as its own user.
    try {
      for (const line of applyPower(profile.power)) process.stdout.write(`power: ${line}\n`);
      return 0;
    } catch (err) {
      process.stderr.write(`spectra-service: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const check = checkDeployment(profile);
  check.warnings.push(...checkPower(profile.power, readPowerMode()));
  if (!isSourceName(profile.capture.adapter)) {
    check.errors.push(`capture.adapter: unknown adapter '${profile.capture.adapter}'; known: ${SOURCE_NAMES.join(', ')}`);
  }
  if (values.check && check.binding) await probeForwarding(profile, check);
  report(profile, check);
  if (check.errors.length > 0) return 1;
  if (values.check) return 0;
  try {
    await run(profile);
    return 0;
  } catch (err) {
    if (!(err instanceof SpectraError)) throw err;
    process.stderr.write(`spectra-service: ${err.name} [${err.code}]: ${err.message}\n`);
    return 1;
  }
}

/** Tests what the binding declares (package.json marker) against what it does with an option no provider knows. */
async function probeForwarding(profile: DeviceProfile, check: DeploymentCheck): Promise<void> {
  const binding = loadBinding(profile.binding ?? (process.env.SPECTRA_ORT_BINDING || undefined));
  const probe = await probeOptionForwarding(binding.module, 'cuda');
  const declared = binding.honoursProviderOptions.includes('cuda');
  if (probe.verdict === 'drops' && declared) {
    check.errors.push(`binding: declares that it forwards provider options but ignored an unknown cuda option (${probe.detail}); rebuild it with devices/jetson/build-onnxruntime.sh`);
  } else if (probe.verdict === 'forwards' && !declared) {
    check.warnings.push(
      'binding: forwards provider options but does not declare it, so the runtime will not send them; add "spectraEdge": {"honoursProviderOptions": ["tensorrt", "cuda"]} to its package.json',
    );
  } else if (probe.verdict === 'unavailable') {
    check.warnings.push(`binding probe skipped: ${probe.detail}`);
  }
}

function report(profile: DeviceProfile, check: DeploymentCheck): void {
  const lines = [`profile   ${profile.device}: ${profile.model}`];
  if (check.binding) lines.push(`binding   ${check.binding.path}@${check.binding.version}`);
  for (const d of check.providers?.decisions ?? []) lines.push(`provider  ${d.name}: ${d.outcome}, ${d.reason}`);
  for (const w of check.warnings) lines.push(`WARNING   ${w}`);
  for (const e of check.errors) lines.push(`ERROR     ${e}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function brokerOptions(profile: DeviceProfile): BrokerOptions {
  const b = profile.broker;
  const password = b.password ?? (b.passwordFile !== undefined ? readFileSync(b.passwordFile, 'utf8').split('\n')[0] : undefined);
  const tls = { ...(b.ca ? { ca: b.ca } : {}), ...(b.cert ? { cert: b.cert } : {}), ...(b.key ? { key: b.key } : {}) };
  return {
    broker: b.url,
    ...(b.protocolVersion !== undefined ? { protocolVersion: b.protocolVersion } : {}),
    ...(b.username !== undefined ? { username: b.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

async function run(profile: DeviceProfile): Promise<void> {
  const notifier = SystemdNotifier.fromEnv({ log: (m) => log.warn(m) });
  const broker = brokerOptions(profile);
  const clientId = `spectra-${profile.device}`;
  // Acquired one by one, released in reverse in `finally`, also when a later step fails.
  const release: (() => Promise<unknown> | void)[] = [];
  try {
    // The first TensorRT engine build happens here and can take minutes; systemd's TimeoutStartSec covers it.
    const model = await FusionModel.load(profile.model, { providers: profile.providers, ...(profile.binding ? { binding: profile.binding } : {}) });
    release.push(() => model.release());
    const publisher = await CubePublisher.connect({
      ...broker,
      clientId,
      device: profile.device,
      outbox: profile.outbox.path,
      outboxMaxBytes: profile.outbox.maxBytes,
    });
    release.push(() => publisher.close({ drainMs: 5000 }));
    // Status goes on its own connection: the publisher's socket is busy with multi-MB cubes and the status must not queue behind them.
    const { client: statusClient }: { client: MqttClient } = await connectClient({ ...broker, clientId: `${clientId}-status` }, { clientId: `${clientId}-status`, reconnectPeriod: 5000 });
    release.push(() => statusClient.endAsync());
    const tracker = new StatusTracker(profile.device);
    const tegrastats = profile.status.tegrastats ? TegrastatsMonitor.start({ log: (m) => log.info(m) }) : undefined;
    // Read once: the mode only changes by an operator's nvpmodel call, which restarts nothing here.
    const powerMode = readPowerMode();
    if (powerMode) log.info(`power mode ${powerMode.id} (${powerMode.name})`);
    if (tegrastats) release.push(() => tegrastats.stop());
    const reporter = StatusReporter.start(tracker, {
      intervalMs: profile.status.intervalSeconds * 1000,
      publish: (topic, body) => statusClient.publishAsync(topic, body, { qos: 1, retain: true }),
      extras: () => {
        const m = publisher.metrics();
        const sample = tegrastats?.latest();
        const jetson = sample ? { ...jetsonReadings(sample), ...(powerMode ? { powerMode } : {}) } : undefined;
        return { outbox: { depth: m.outboxCubes, bytes: m.outboxBytes }, provider: model.providers.granted, ...(jetson ? { jetson } : {}) };
      },
      log: (m) => log.warn(m),
    });
    release.push(() => reporter.stop());

    // The adapters validate their own options (TypeError/RangeError naming the option).
    const source = openSource(profile.capture.adapter, profile.capture.options, { card: model.card });
    const stop = (): void => void source.close();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    let busySince: number | undefined;
    // Healthy while waiting for the camera (an idle scene is not a fault) or while a frame is young.
    notifier.startWatchdog(() => busySince === undefined || Date.now() - busySince < STALL_MS);
    await notifier.ready(`fusing on ${model.providers.granted}`);
    log.info(`running: ${profile.device} on ${model.providers.granted}, capture '${source.name}', broker ${broker.broker}`);
    // The outbox keeps what is not yet acknowledged for the next start, so the loop itself waits for nothing at the end.
    await runPipeline({
      model,
      source,
      broker: publisher,
      frames: Infinity,
      drainMs: 0,
      onFrameStart: () => {
        busySince = Date.now();
      },
      onFrame: (report) => {
        tracker.recordFrame(report.latencyMs, report);
        busySince = undefined;
      },
    });
  } finally {
    for (const step of [() => notifier.stopping(), ...release.reverse()]) {
      try {
        await step();
      } catch (err) {
        log.warn(`shutdown: ${(err as Error).message}`);
      }
    }
  }
}
