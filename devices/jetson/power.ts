/**
 * Jetson power mode and clocks. Latency on a Jetson depends on them as much as on the model: a board left in a
 * low-power nvpmodel mode, or with dynamic clocks, runs the same engine several times slower. The profile states
 * the mode; the service applies it before starting (as root, from the unit's `ExecStartPre=+`), `--check` compares
 * it with the board, and the status topic reports what the board runs.
 */
import { execFileSync } from 'node:child_process';

/** The `power` section of a deployment profile. */
export interface PowerProfile {
  /** nvpmodel mode id to set (`nvpmodel -m <id>`; ids per board in /etc/nvpmodel.conf, e.g. 0 = MAXN on Orin). */
  nvpmodel?: number;
  /** Pin clocks at their maximum for the mode (`jetson_clocks`). @defaultValue false */
  jetsonClocks?: boolean;
}

/** The mode a board runs, as `nvpmodel -q` reports it. */
export interface PowerMode {
  id: number;
  name: string;
}

/** Runs a command and returns its stdout; throws with `code: 'ENOENT'` when the tool is missing. */
export type CommandRunner = (file: string, args: readonly string[]) => string;

const run: CommandRunner = (file, args) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });

/**
 * Parses `nvpmodel -q` output: a `NV Power Mode: <name>` line followed by the mode id on its own line (other
 * lines, e.g. `NVPM WARN …`, are ignored).
 * @param text - The command's stdout.
 * @returns The mode, or undefined when the text has no mode line and id.
 */
export function parseNvpmodelQuery(text: string): PowerMode | undefined {
  const lines = text.split('\n').map((l) => l.trim());
  const at = lines.findIndex((l) => /^NV Power Mode:/i.test(l));
  if (at < 0) return undefined;
  const name = lines[at].replace(/^NV Power Mode:\s*/i, '');
  const id = lines.slice(at + 1).find((l) => /^\d+$/.test(l));
  return id === undefined || name === '' ? undefined : { id: Number(id), name };
}

/**
 * The board's current power mode.
 * @param runner - Runs `nvpmodel -q` (tests pass recorded output).
 * @returns The mode, or undefined off a Jetson (no `nvpmodel`) or when its output cannot be read.
 */
export function readPowerMode(runner: CommandRunner = run): PowerMode | undefined {
  try {
    return parseNvpmodelQuery(runner('nvpmodel', ['-q']));
  } catch {
    return undefined;
  }
}

/**
 * What `--check` says about power: a warning when the board runs another mode than the profile asks for, or
 * when the mode cannot be read although the profile sets one.
 * @param power - The profile's section.
 * @param current - {@link readPowerMode}'s answer.
 * @returns Warnings (empty when consistent or not asked for).
 */
export function checkPower(power: PowerProfile | undefined, current: PowerMode | undefined): string[] {
  if (power?.nvpmodel === undefined) return [];
  if (current === undefined) return [`power: the profile sets nvpmodel ${power.nvpmodel} but 'nvpmodel -q' gave no mode (not a Jetson, or nvpmodel missing)`];
  if (current.id === power.nvpmodel) return [];
  return [
    `power: the board runs nvpmodel ${current.id} (${current.name}), the profile asks for ${power.nvpmodel}; the service sets it at start ` +
      `(ExecStartPre=+ … --apply-power, as root) or run 'sudo nvpmodel -m ${power.nvpmodel}'`,
  ];
}

/**
 * Sets the profile's power mode and clocks. Needs root (the unit runs it with `ExecStartPre=+`).
 * @param power - The profile's section; nothing to do when empty.
 * @param runner - Runs the commands.
 * @returns One line per action taken.
 * @throws Error naming the command and the fix when a command fails.
 */
export function applyPower(power: PowerProfile | undefined, runner: CommandRunner = run): string[] {
  const done: string[] = [];
  const step = (file: string, args: string[]): void => {
    try {
      runner(file, args);
      done.push(`${file} ${args.join(' ')}`.trim());
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      const why = e.code === 'ENOENT' ? `${file} not found (JetPack's nvpmodel / jetson_clocks; not a Jetson?)` : (e.stderr?.trim() || e.message);
      throw new Error(`power: '${file} ${args.join(' ')}' failed: ${why}; it needs root (ExecStartPre=+ in the unit, or sudo)`, { cause: err });
    }
  };
  if (power?.nvpmodel !== undefined) step('nvpmodel', ['-m', String(power.nvpmodel)]);
  if (power?.jetsonClocks) step('jetson_clocks', []);
  return done;
}
