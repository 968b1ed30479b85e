/**
 * The CLI's words for what the SDK's messages call options: an SDK user sets `lrhsi.meta.valueScale`, a CLI user
 * passes `--value-scale`. Applied only when the CLI prints an error, so the SDK's messages stay about its API.
 */
import { extname, resolve, sep } from 'node:path';
import type { Command } from 'commander';

const FLAG_WORDS: readonly [RegExp, string][] = [
  [/\b(?:lrhsi|hrmsi)\.meta\.valueScale\b/g, '--value-scale'],
  [/pass \{ resample: true \}/g, 'pass --resample'],
  [/\boptions\.(tile|overlap|batch|providers)\b/g, '--$1'],
  [/providers: \['tensorrt', 'cuda', 'cpu'\]/g, '--providers tensorrt,cuda,cpu'],
  [/set them to the model's grid/g, "pass --lrhsi-wavelengths with the model's grid"],
  [/give wavelengths in nm/g, 'give them with --lrhsi-wavelengths (nm)'],
  [/\blower chunkSize\b/g, 'lower --chunk-size'],
];

/**
 * Rewrites SDK option names in an error message into the flags that set them.
 * @param message - An SDK error message.
 */
export function withFlagNames(message: string): string {
  return FLAG_WORDS.reduce((m, [pattern, flag]) => m.replace(pattern, flag), message);
}

/**
 * The flag of `command` whose value is `path` or a folder holding it, so an error about a file can say which
 * flag to change (`--out`), defaults included.
 * @param command - The command that ran.
 * @param path - The file or folder an error names.
 * @returns e.g. `--out`, or undefined when no flag gave that path.
 */
export function flagForPath(command: Command, path: string): string | undefined {
  const target = resolve(path);
  let best: { flag: string; length: number } | undefined;
  for (const option of command.options) {
    const value: unknown = command.getOptionValue(option.attributeName());
    if (typeof value !== 'string' || value === '') continue;
    const given = resolve(value);
    // The path itself, a file in that folder, or a sibling written with it (fused.hdr gives fused.img).
    const stem = (p: string): string => p.slice(0, p.length - extname(p).length);
    const holds = target === given || target.startsWith(given.endsWith(sep) ? given : given + sep) || (extname(given) !== '' && stem(target) === stem(given));
    if (holds && (best === undefined || given.length > best.length)) best = { flag: option.long ?? option.flags, length: given.length };
  }
  return best?.flag;
}
