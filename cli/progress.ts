/** The CLI's progress bars: one look for every command, on stderr, only on a terminal and never with `--quiet`. */
import { type Options } from 'cli-progress';
import type { Command } from 'commander';
import type { GlobalOptions } from './main';

/**
 * Options of a bar that counts `unit`s, with a smoothed ETA. cli-progress fills `{eta_formatted}`; `etaBuffer`
 * is an option (updates the ETA is averaged over), not a placeholder, so a format naming it prints it literally.
 * @param label - What is in progress, e.g. `fusing`.
 * @param unit - What is counted, e.g. `tiles`.
 */
export function barOptions(label: string, unit: string): Options {
  return { format: `${label} [{bar}] {value}/{total} ${unit} | ETA {eta_formatted}`, etaBuffer: 20, hideCursor: true, stream: process.stderr };
}

/**
 * Whether `command` should draw progress bars: stderr is a terminal and `--quiet` is not set.
 * @param command - The running command.
 */
export function showProgress(command: Command): boolean {
  return process.stderr.isTTY === true && !command.optsWithGlobals<GlobalOptions>().quiet;
}
