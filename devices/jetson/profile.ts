import type { PowerProfile } from './power';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ProviderRequest } from '../../sdk/runtime/providers';
import { ProfileError } from './errors';

/** Value of `schema` in a deployment profile. */
export const PROFILE_SCHEMA = 'spectra-edge/device-profile@1';

/** Where frames come from; `options` go to the capture adapter unchanged. */
export interface CaptureProfile {
  /** Capture adapter name, e.g. `'directory'`, `'replay'`, `'synthetic'` or a custom one. */
  adapter: string;
  options: Record<string, unknown>;
}

/** The MQTT broker and how to authenticate to it. */
export interface BrokerProfile {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL. */
  url: string;
  /** MQTT 5, or 4 (3.1.1) for brokers without 5 such as aedes. @defaultValue 5 */
  protocolVersion?: 4 | 5;
  clientId?: string;
  username?: string;
  /** Inline password; prefer `passwordFile` so the profile can be world-readable. */
  password?: string;
  /** File holding the password (first line); read at start, never logged. */
  passwordFile?: string;
  /** PEM files for TLS. */
  ca?: string;
  cert?: string;
  key?: string;
}

/** The durable outbox between fusion and the broker. */
export interface OutboxProfile {
  path: string;
  /** Bound on the bytes kept on disk; the oldest cubes are evicted (and counted) beyond it. */
  maxBytes: number;
}

/** The periodic `spectra/<device>/status` report. */
export interface StatusProfile {
  /** @defaultValue 10 */
  intervalSeconds: number;
  /** Sample tegrastats for temperature and power. @defaultValue true */
  tegrastats: boolean;
}

/** A validated deployment profile. Relative paths are resolved against the profile's folder. */
export interface DeviceProfile {
  schema: typeof PROFILE_SCHEMA;
  /** Device id: one MQTT topic level. */
  device: string;
  /** ONNX model; its `.card.json` sits next to it. */
  model: string;
  /** A patched onnxruntime-node package (devices/jetson/build-onnxruntime.sh); the npm one when absent. */
  binding?: string;
  /** Execution providers in order of preference, with their options (the SDK's `providers` load option). */
  providers: ProviderRequest[];
  capture: CaptureProfile;
  broker: BrokerProfile;
  outbox: OutboxProfile;
  status: StatusProfile;
  /** Power mode and clocks the service sets before it starts (see devices/jetson/power.ts). */
  power?: PowerProfile;
}

/** Defaults of the optional profile sections, frozen. */
export const PROFILE_DEFAULTS = Object.freeze({
  providers: Object.freeze(['tensorrt', 'cuda', 'cpu'] as const),
  status: Object.freeze({ intervalSeconds: 10, tegrastats: true }),
  outboxMaxBytes: 1024 ** 3,
});

const TOP_LEVEL = ['schema', 'device', 'model', 'binding', 'providers', 'capture', 'broker', 'outbox', 'status', 'power'];
const TENSORRT_KEYS = ['name', 'deviceId', 'fp16', 'int8', 'engineCacheDir', 'timingCacheDir', 'workspaceBytes'];
const CUDA_KEYS = ['name', 'deviceId', 'memLimitBytes'];
const BROKER_KEYS = ['url', 'protocolVersion', 'clientId', 'username', 'password', 'passwordFile', 'ca', 'cert', 'key'];

/**
 * Reads and validates a deployment profile (JSON).
 * @param path - The profile file.
 * @returns The profile with defaults filled in and relative paths made absolute.
 * @throws {@link ProfileError} naming the file and the field when the file is missing, not JSON or invalid.
 * @example
 * const profile = loadProfile('/etc/spectra/profile.json');
 * const model = await FusionModel.load(profile.model, { providers: profile.providers, binding: profile.binding });
 */
export function loadProfile(path: string): DeviceProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ProfileError(path, '', `cannot read the profile (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(path, '', `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateProfile(raw, path, dirname(resolve(path)));
}

/**
 * Validates a parsed profile object.
 * @param raw - The parsed JSON.
 * @param path - Named in errors.
 * @param baseDir - Relative paths are resolved against it. @defaultValue the current directory
 * @returns The typed profile.
 * @throws {@link ProfileError} naming the first wrong field, what it expects and what it got.
 */
export function validateProfile(raw: unknown, path = '<inline>', baseDir = process.cwd()): DeviceProfile {
  const v = new Validator(path, baseDir);
  const root = v.object(raw, '');
  v.onlyKeys(root, TOP_LEVEL, '');
  if (root.schema !== PROFILE_SCHEMA) v.fail('schema', `expected '${PROFILE_SCHEMA}'`, root.schema);
  const device = v.string(root.device, 'device');
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(device)) {
    v.fail('device', 'expected 1-64 characters of [A-Za-z0-9_.:-] (one MQTT topic level)', device);
  }
  const profile: DeviceProfile = {
    schema: PROFILE_SCHEMA,
    device,
    model: v.path(root.model, 'model'),
    providers: v.providers(root.providers),
    capture: v.capture(root.capture),
    broker: v.broker(root.broker),
    outbox: v.outbox(root.outbox),
    status: v.status(root.status),
  };
  if (root.binding !== undefined) profile.binding = v.path(root.binding, 'binding');
  if (root.power !== undefined) profile.power = v.power(root.power);
  return profile;
}

class Validator {
  constructor(
    private readonly file: string,
    private readonly baseDir: string,
  ) {}

  fail(field: string, expected: string, received: unknown): never {
    throw new ProfileError(this.file, field, `${expected} but received ${describe(received)}`);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'expected an object', value);
    return value as Record<string, unknown>;
  }

  onlyKeys(obj: Record<string, unknown>, known: readonly string[], field: string): void {
    for (const key of Object.keys(obj)) {
      // A misspelt option (`fp_16`) would otherwise be ignored silently, which is the very bug this profile exists to avoid.
      if (!known.includes(key)) {
        throw new ProfileError(this.file, field ? `${field}.${key}` : key, `unknown field; known: ${known.join(', ')}`);
      }
    }
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string' || value.length === 0) this.fail(field, 'expected a non-empty string', value);
    return value as string;
  }

  path(value: unknown, field: string): string {
    const s = this.string(value, field);
    return isAbsolute(s) ? s : resolve(this.baseDir, s);
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') this.fail(field, 'expected true or false', value);
    return value as boolean;
  }

  integer(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(field, 'expected an integer', value);
    const n = value as number;
    if (n < min || n > max) this.fail(field, `expected an integer in [${min}, ${max}]`, n);
    return n;
  }

  providers(value: unknown): ProviderRequest[] {
    if (value === undefined) return [...PROFILE_DEFAULTS.providers];
    if (!Array.isArray(value) || value.length === 0) this.fail('providers', 'expected a non-empty array', value);
    const seen = new Set<string>();
    const out = (value as unknown[]).map((entry, i): ProviderRequest => {
      const field = `providers[${i}]`;
      const p = typeof entry === 'string' ? this.providerName(entry, field) : this.providerObject(entry, field);
      const name = typeof p === 'string' ? p : p.name;
      if (seen.has(name)) this.fail(field, `expected each provider once; '${name}' is listed twice`, entry);
      seen.add(name);
      return p;
    });
    return out;
  }

  private providerName(value: string, field: string): ProviderRequest {
    if (value !== 'tensorrt' && value !== 'cuda' && value !== 'cpu') this.fail(field, "expected 'tensorrt', 'cuda' or 'cpu'", value);
    return value as 'tensorrt' | 'cuda' | 'cpu';
  }

  private providerObject(entry: unknown, field: string): ProviderRequest {
    const o = this.object(entry, field);
    const name = this.providerName(o.name as string, `${field}.name`);
    if (name === 'cpu') {
      this.onlyKeys(o, ['name'], field);
      return { name: 'cpu' };
    }
    const deviceId = o.deviceId === undefined ? undefined : this.integer(o.deviceId, `${field}.deviceId`, 0, 15);
    if (name === 'cuda') {
      this.onlyKeys(o, CUDA_KEYS, field);
      const cuda: ProviderRequest = { name: 'cuda' };
      if (deviceId !== undefined) cuda.deviceId = deviceId;
      if (o.memLimitBytes !== undefined) cuda.memLimitBytes = this.integer(o.memLimitBytes, `${field}.memLimitBytes`, 1);
      return cuda;
    }
    this.onlyKeys(o, TENSORRT_KEYS, field);
    const trt: ProviderRequest = { name: 'tensorrt' };
    if (deviceId !== undefined) trt.deviceId = deviceId;
    if (o.fp16 !== undefined) trt.fp16 = this.boolean(o.fp16, `${field}.fp16`);
    if (o.int8 !== undefined) trt.int8 = this.boolean(o.int8, `${field}.int8`);
    if (o.engineCacheDir !== undefined) trt.engineCacheDir = this.path(o.engineCacheDir, `${field}.engineCacheDir`);
    if (o.timingCacheDir !== undefined) trt.timingCacheDir = this.path(o.timingCacheDir, `${field}.timingCacheDir`);
    // TensorRT needs at least a few MiB of builder workspace; below 16 MiB it is almost certainly a unit mistake.
    if (o.workspaceBytes !== undefined) trt.workspaceBytes = this.integer(o.workspaceBytes, `${field}.workspaceBytes`, 16 * 1024 ** 2);
    return trt;
  }

  capture(value: unknown): CaptureProfile {
    const o = this.object(value, 'capture');
    this.onlyKeys(o, ['adapter', 'options'], 'capture');
    const adapter = this.string(o.adapter, 'capture.adapter');
    const options = o.options === undefined ? {} : this.object(o.options, 'capture.options');
    return { adapter, options };
  }

  broker(value: unknown): BrokerProfile {
    const o = this.object(value, 'broker');
    this.onlyKeys(o, BROKER_KEYS, 'broker');
    const url = this.string(o.url, 'broker.url');
    if (!/^(mqtts?|wss?):\/\/[^/\s]+/.test(url)) this.fail('broker.url', 'expected an mqtt://, mqtts://, ws:// or wss:// URL', url);
    if (o.password !== undefined && o.passwordFile !== undefined) {
      this.fail('broker.password', 'expected either password or passwordFile, not both', '"both"');
    }
    const broker: BrokerProfile = { url };
    if (o.protocolVersion !== undefined) {
      if (o.protocolVersion !== 4 && o.protocolVersion !== 5) this.fail('broker.protocolVersion', 'expected 4 (MQTT 3.1.1) or 5', o.protocolVersion);
      broker.protocolVersion = o.protocolVersion as 4 | 5;
    }
    for (const key of ['clientId', 'username', 'password'] as const) {
      if (o[key] !== undefined) broker[key] = this.string(o[key], `broker.${key}`);
    }
    for (const key of ['passwordFile', 'ca', 'cert', 'key'] as const) {
      if (o[key] !== undefined) broker[key] = this.path(o[key], `broker.${key}`);
    }
    if ((broker.cert === undefined) !== (broker.key === undefined)) {
      this.fail(broker.cert === undefined ? 'broker.cert' : 'broker.key', 'expected cert and key together (client TLS)', undefined);
    }
    return broker;
  }

  outbox(value: unknown): OutboxProfile {
    const o = this.object(value, 'outbox');
    this.onlyKeys(o, ['path', 'maxBytes'], 'outbox');
    return {
      path: this.path(o.path, 'outbox.path'),
      // One 512x512x31 float32 cube is 32.5 MB; an outbox that cannot hold one would evict everything it gets.
      maxBytes: o.maxBytes === undefined ? PROFILE_DEFAULTS.outboxMaxBytes : this.integer(o.maxBytes, 'outbox.maxBytes', 1024 ** 2),
    };
  }

  power(value: unknown): PowerProfile {
    const o = this.object(value, 'power');
    this.onlyKeys(o, ['nvpmodel', 'jetsonClocks'], 'power');
    return {
      ...(o.nvpmodel !== undefined ? { nvpmodel: this.integer(o.nvpmodel, 'power.nvpmodel', 0, 99) } : {}),
      ...(o.jetsonClocks !== undefined ? { jetsonClocks: this.boolean(o.jetsonClocks, 'power.jetsonClocks') } : {}),
    };
  }

  status(value: unknown): StatusProfile {
    if (value === undefined) return { ...PROFILE_DEFAULTS.status };
    const o = this.object(value, 'status');
    this.onlyKeys(o, ['intervalSeconds', 'tegrastats'], 'status');
    return {
      intervalSeconds:
        o.intervalSeconds === undefined ? PROFILE_DEFAULTS.status.intervalSeconds : this.integer(o.intervalSeconds, 'status.intervalSeconds', 1, 3600),
      tegrastats: o.tegrastats === undefined ? PROFILE_DEFAULTS.status.tegrastats : this.boolean(o.tegrastats, 'status.tegrastats'),
    };
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (typeof value === 'string') return `'${value}'`;
  return JSON.stringify(value) ?? String(value);
}
