import type { Cube } from '../cube/cube';

/**
 * A seeded normal generator (mulberry32 + Box-Muller): the same seed gives the same noise on every
 * platform. It is not NumPy's generator, so host and device noise agree in distribution, not sample by sample.
 * @internal
 */
export function gaussianRng(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
}

/**
 * Adds white Gaussian noise at a target SNR, as the host's `spectra_distill.degrade.noise.add_awgn`:
 * signal power `P = mean(x^2)` over the whole cube, `sigma = sqrt(P / 10^(snr/10))`.
 * @param cube - Clean cube (not modified).
 * @param snrDb - Target SNR in dB.
 * @param random - Standard normal generator (see {@link gaussianRng}).
 * @returns A noisy copy and the sigma used.
 */
export function addAwgn(cube: Cube, snrDb: number, random: () => number): { cube: Cube; sigma: number } {
  let power = 0;
  for (let i = 0; i < cube.data.length; i++) power += cube.data[i] * cube.data[i];
  power /= cube.data.length;
  const sigma = Math.sqrt(power / 10 ** (snrDb / 10));
  const data = new Float32Array(cube.data.length);
  for (let i = 0; i < data.length; i++) data[i] = cube.data[i] + sigma * random();
  return { cube: { ...cube, data }, sigma };
}
