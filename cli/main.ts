import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { FileAccessError, PathError, SpectraError, explainFsError } from '../sdk/core/errors';
import { type LogLevel, setLogLevel } from '../sdk/core/log';
import { flagForPath, withFlagNames } from './hints';
import { packageRoot } from './paths';

/** A CLI subcommand module in `cli/commands/`: it adds itself to the program. */
export interface CommandModule {
  register(program: Command): void;
}

/** Options every command takes. */
export interface GlobalOptions {
  logLevel?: LogLevel | 'silent';
  quiet: boolean;
}

const LOG_LEVELS: readonly (LogLevel | 'silent')[] = ['debug', 'info', 'warn', 'error', 'silent'];

/**
 * Builds the `spectra` program from the modules in `cli/commands/`, so each part owns its own command file.
 * @param argv - The command line: when it names a command, only that command's module is loaded, since loading
 *   a module loads its part of the SDK (sharp, mqtt, protobufjs…) and `spectra info` should not pay for `fuse`.
 */
export function buildProgram(argv: readonly string[] = []): Command {
  const program = new Command('spectra')
    .description('Spectra Edge: hyperspectral fusion on the camera')
    .version(packageVersion(), '-V, --version', 'print the spectra-edge version')
    .addOption(new Option('--log-level <level>', 'least severe log line shown (default: warn; DEBUG=spectra:* shows info per namespace)').choices(LOG_LEVELS))
    .option('-q, --quiet', 'errors only: no warnings, no progress bars', false)
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', () => {
      const o = program.opts<GlobalOptions>();
      if (o.quiet) setLogLevel('error');
      else if (o.logLevel) setLogLevel(o.logLevel);
    });
  const dir = join(__dirname, 'commands');
  const files = readdirSync(dir)
    .filter((file) => /\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
    .sort();
  const named = commandName(argv);
  const only = files.filter((file) => file.replace(/\.(ts|js)$/, '') === named);
  for (const file of only.length > 0 ? only : files) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(join(dir, file)) as CommandModule;
    mod.register(program);
  }
  return program;
}

/** The first operand of the command line: the command, skipping global options and their values. */
function commandName(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--log-level') i++;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Runs the CLI; errors become one clear line on stderr and a non-zero exit code. Errors about a file name the
 * flag that gave the path; SDK option names in messages become flags.
 */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram(argv);
  let ran: Command = program;
  program.hook('preAction', (_program, action) => {
    ran = action;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    // Thrown by an action's own checks, not by commander's parser, so nothing has printed it yet.
    if (err instanceof InvalidArgumentError) {
      process.stderr.write(`spectra ${ran.name()}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      process.exitCode = e.exitCode ?? 1;
      return;
    }
    const typed = asSpectraError(err);
    if (typed === undefined) throw err;
    const flag = typed instanceof PathError ? flagForPath(ran, typed.path) : undefined;
    process.stderr.write(`spectra: ${typed.name} [${typed.code}]: ${withFlagNames(typed.message)}${flag ? ` (change ${flag})` : ''}\n`);
    process.exitCode = 2;
  }
}

/** A file-system error that escaped the SDK's own wrapping becomes a typed error naming its path. */
function asSpectraError(err: unknown): SpectraError | undefined {
  if (err instanceof SpectraError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e instanceof Error && typeof e.code === 'string' && typeof e.path === 'string') return new FileAccessError(e.path, explainFsError(e), { cause: err });
  return undefined;
}
