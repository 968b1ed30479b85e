import { InvalidArgumentError } from 'commander';

/**
 * Parses a `--…-wavelengths` flag: `450,460,470` or `400:700:10` (start:stop:step, inclusive), in nm.
 * @param value - The flag's value.
 * @returns The wavelengths.
 * @throws InvalidArgumentError when the list is empty or holds a non-positive number.
 */
export function wavelengthList(value: string): number[] {
  const range = /^([\d.]+):([\d.]+):([\d.]+)$/.exec(value);
  const list = range
    ? Array.from({ length: Math.floor((Number(range[2]) - Number(range[1])) / Number(range[3]) + 1e-9) + 1 }, (_, i) => Number(range[1]) + i * Number(range[3]))
    : value.split(',').map(Number);
  if (list.length === 0 || list.some((w) => !Number.isFinite(w) || w <= 0)) {
    throw new InvalidArgumentError(`expected wavelengths in nm as 'a,b,c' or 'start:stop:step', got '${value}'`);
  }
  return list;
}
