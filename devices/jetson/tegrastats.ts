import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { TegrastatsParseError } from './errors';
import type { JetsonReadings } from '../../sdk/pipeline/status';

/** One power rail: instantaneous and running-average draw in milliwatts. */
export interface PowerRail {
  currentMw: number;
  averageMw: number;
}

/** One CPU core: load in percent and clock in MHz, or `null` for a core that is powered down (`off`). */
export type CpuCore = { loadPercent: number; frequencyMhz?: number } | null;

/** What one tegrastats line says, in plain units. Fields a board does not report are absent. */
export interface TegrastatsSample {
  /** `MM-DD-YYYY HH:MM:SS` prefix some JetPack releases print, as written. */
  timestamp?: string;
  ram?: { usedMb: number; totalMb: number };
  swap?: { usedMb: number; totalMb: number; cachedMb?: number };
  cpu?: CpuCore[];
  /** Memory controller load in percent (EMC_FREQ). */
  emcPercent?: number;
  /** iGPU (GR3D) load in percent. */
  gpuPercent?: number;
  /** Sensor name -> degrees Celsius (`cpu`, `gpu`, `tj`, `soc0`, `AO`, `Tdiode`…). Invalid sensors (-256C) are left out. */
  temperaturesC: Record<string, number>;
  /** Rail name -> draw (`VDD_IN`, `VDD_CPU_GPU_CV`, `VDD_SOC`; Xavier on JetPack 4: `GPU`, `CPU`, `SOC`…). */
  power: Record<string, PowerRail>;
  /** Total board input: `VDD_IN` (Orin, Xavier NX on JetPack 5) or the sum of all rails when there is none. */
  totalPowerMw?: number;
  /** Hottest valid sensor. */
  maxTemperatureC?: number;
}

// tegrastats reports a sensor it cannot read as -256C.
const INVALID_TEMPERATURE_C = -256;
// Xavier images print PMIC@100C as a constant placeholder, so it must not drive the hottest-sensor figure.
const PLACEHOLDER_SENSORS = new Set(['PMIC']);

const RAM_RE = /\bRAM (\d+)\/(\d+)MB/;
const SWAP_RE = /\bSWAP (\d+)\/(\d+)MB(?: \(cached (\d+)MB\))?/;
const CPU_RE = /\bCPU \[([^\]]*)\]/;
const EMC_RE = /\bEMC_FREQ (\d+)%/;
const GR3D_RE = /\bGR3D_FREQ (\d+)%/;
const TEMP_RE = /\b([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C\b/g;
// Rails print as `NAME 553mW/553mW` on JetPack 5+ and as `NAME 553/553` on JetPack 4 (Xavier).
const RAIL_RE = /\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?\/(\d+)(?:mW)?\b/g;
const TIMESTAMP_RE = /^(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+/;
// Tokens that look like rails but are not: RAM/SWAP totals carry an MB suffix and are matched above.
const NOT_RAILS = new Set(['RAM', 'SWAP', 'IRAM']);

/**
 * Parses one line of `tegrastats` output (Orin and Xavier, JetPack 4 to 6) into numbers.
 * @param line - One line as tegrastats prints it.
 * @returns The sample; unknown fields are ignored so new JetPack releases do not break the status topic.
 * @throws {@link TegrastatsParseError} when the line has neither a RAM nor a CPU field.
 * @example
 * parseTegrastatsLine('RAM 2448/7620MB (lfb 1x4MB) ... cpu@46.5C ... VDD_IN 4952mW/4952mW').totalPowerMw; // 4952
 */
export function parseTegrastatsLine(line: string): TegrastatsSample {
  let rest = line.trim();
  const sample: TegrastatsSample = { temperaturesC: {}, power: {} };
  const ts = TIMESTAMP_RE.exec(rest);
  if (ts) {
    sample.timestamp = ts[1];
    rest = rest.slice(ts[0].length);
  }
  const ram = RAM_RE.exec(rest);
  const cpu = CPU_RE.exec(rest);
  if (!ram && !cpu) throw new TegrastatsParseError(line);
  if (ram) sample.ram = { usedMb: Number(ram[1]), totalMb: Number(ram[2]) };
  const swap = SWAP_RE.exec(rest);
  if (swap) {
    sample.swap = { usedMb: Number(swap[1]), totalMb: Number(swap[2]) };
    if (swap[3] !== undefined) sample.swap.cachedMb = Number(swap[3]);
  }
  if (cpu) sample.cpu = cpu[1].split(',').map(parseCore);
  const emc = EMC_RE.exec(rest);
  if (emc) sample.emcPercent = Number(emc[1]);
  const gr3d = GR3D_RE.exec(rest);
  if (gr3d) sample.gpuPercent = Number(gr3d[1]);

  // Frequencies (`@1510`, `@[305]`) never end in C, so the temperature pattern only meets sensors.
  for (const m of rest.matchAll(TEMP_RE)) {
    const value = Number(m[2]);
    if (value <= INVALID_TEMPERATURE_C) continue;
    sample.temperaturesC[m[1]] = value;
  }
  const withoutBrackets = rest.replace(/\[[^\]]*\]/g, '').replace(/\([^)]*\)/g, '');
  for (const m of withoutBrackets.matchAll(RAIL_RE)) {
    if (NOT_RAILS.has(m[1])) continue;
    sample.power[m[1]] = { currentMw: Number(m[2]), averageMw: Number(m[3]) };
  }
  const rails = Object.entries(sample.power);
  if (sample.power.VDD_IN) sample.totalPowerMw = sample.power.VDD_IN.currentMw;
  else if (rails.length > 0) sample.totalPowerMw = rails.reduce((sum, [, r]) => sum + r.currentMw, 0);
  const temps = Object.entries(sample.temperaturesC)
    .filter(([name]) => !PLACEHOLDER_SENSORS.has(name))
    .map(([, t]) => t);
  if (temps.length > 0) sample.maxTemperatureC = Math.max(...temps);
  return sample;
}

function parseCore(token: string): CpuCore {
  const t = token.trim();
  if (t === 'off') return null;
  const m = /^(\d+)%(?:@(\d+))?$/.exec(t);
  if (!m) return null;
  return m[2] === undefined ? { loadPercent: Number(m[1]) } : { loadPercent: Number(m[1]), frequencyMhz: Number(m[2]) };
}

/** Options of {@link TegrastatsMonitor.start}. */
export interface TegrastatsOptions {
  /** Sampling interval handed to `tegrastats --interval`. @defaultValue 1000 */
  intervalMs?: number;
  /** The executable. @defaultValue 'tegrastats' */
  command?: string;
  /** Receives unparseable lines and a missing executable, once each kind. @defaultValue silent */
  log?: (message: string) => void;
}

/**
 * Runs `tegrastats` in the background and keeps the latest parsed sample. On a machine without tegrastats
 * (any non-Jetson host) {@link TegrastatsMonitor.latest} simply stays `undefined`.
 */
export class TegrastatsMonitor {
  private sample: TegrastatsSample | undefined;
  private constructor(private readonly child: ChildProcess | undefined) {}

  /**
   * Starts sampling.
   * @param options - Interval, executable and logger.
   * @returns A monitor; call {@link TegrastatsMonitor.stop} to end the child process.
   */
  static start(options: TegrastatsOptions = {}): TegrastatsMonitor {
    const log = options.log ?? (() => undefined);
    let child: ChildProcess;
    try {
      child = spawn(options.command ?? 'tegrastats', ['--interval', String(options.intervalMs ?? 1000)], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch (err) {
      log(`tegrastats not started: ${(err as Error).message}`);
      return new TegrastatsMonitor(undefined);
    }
    const monitor = new TegrastatsMonitor(child);
    let warned = false;
    child.on('error', (err) => log(`tegrastats unavailable (${err.message}); status will carry no temperature or power`));
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        try {
          monitor.sample = parseTegrastatsLine(line);
        } catch (err) {
          if (!warned) log((err as Error).message);
          warned = true;
        }
      });
    }
    return monitor;
  }

  /** The most recent sample, if tegrastats has printed one. */
  latest(): TegrastatsSample | undefined {
    return this.sample;
  }

  /** Stops the tegrastats child process. */
  stop(): void {
    if (this.child && this.child.exitCode === null && !this.child.killed) this.child.kill('SIGTERM');
  }
}

/**
 * The `jetson` section of a status payload from a tegrastats sample: temperatures, rail power, GPU load, RAM.
 * @param t - A parsed sample, e.g. {@link TegrastatsMonitor.latest}.
 * @returns Readings for the `jetson` field of a status report's extras.
 */
export function jetsonReadings(t: TegrastatsSample): JetsonReadings {
  const powerMw: Record<string, number> = {};
  for (const [rail, r] of Object.entries(t.power)) powerMw[rail] = r.currentMw;
  const out: JetsonReadings = { temperatureC: { ...t.temperaturesC }, powerMw };
  if (t.maxTemperatureC !== undefined) out.maxTemperatureC = t.maxTemperatureC;
  if (t.totalPowerMw !== undefined) out.totalPowerMw = t.totalPowerMw;
  if (t.gpuPercent !== undefined) out.gpuPercent = t.gpuPercent;
  if (t.ram) out.ram = { ...t.ram };
  return out;
}
