import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { SpectraError } from '../sdk/core/errors';

/** A CLI subcommand module in `cli/commands/`: it adds itself to the program. */
export interface CommandModule {
  register(program: Command): void;
}

/** Builds the `spectra` program from every module in `cli/commands/`, so each part owns its own command file. */
export function buildProgram(): Command {
  const program = new Command('spectra')
    .description('Spectra Edge: hyperspectral fusion on the camera')
    .showHelpAfterError()
    .exitOverride();
  const dir = join(__dirname, 'commands');
  for (const file of readdirSync(dir).sort()) {
    if (!/\.(ts|js)$/.test(file) || file.endsWith('.d.ts')) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(join(dir, file)) as CommandModule;
    mod.register(program);
  }
  return program;
}

/** Runs the CLI; errors become one clear line on stderr and a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      process.exitCode = e.exitCode ?? 1;
      return;
    }
    if (err instanceof SpectraError) {
      process.stderr.write(`spectra: ${err.name} [${err.code}]: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
