import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type CameraProfile, applyCameraProfile } from '../camera/profile';
import type { Cube } from '../cube/cube';
import { readEnvi } from '../cube/envi';
import { readPngStack } from '../cube/png-stack';

/** What a file holds, from its name. */
export type CubeRole = 'lrhsi' | 'hrmsi' | 'truth';

/** A cube on disk: an ENVI header (with its data file) or a directory of one PNG per band. */
export interface CubeFile {
  path: string;
  kind: 'envi' | 'png-stack';
  role: CubeRole;
  /** Name without the role suffix; the two halves of a pair share it. */
  key: string;
}

const ROLE = /^(.*?)[_-](lrhsi|hrmsi|truth)(\.hdr)?$/i;

/**
 * Recognises pair files: `<key>_lrhsi.hdr`, `<key>_hrmsi.hdr`, optional `<key>_truth.hdr` (ENVI, data
 * next to the header), or directories `<key>_lrhsi/`, `<key>_hrmsi/` of per-band PNGs. Temporary names
 * (leading dot, `.tmp`, `.part`, `~`) are ignored so writers can write-then-rename.
 * @param name - Directory entry name.
 * @param isDirectory - Whether it is a directory.
 * @returns The classification, or undefined for unrelated or temporary files.
 */
export function classifyName(name: string, isDirectory: boolean): Omit<CubeFile, 'path'> | undefined {
  if (name.startsWith('.') || /(\.tmp|\.part|\.partial|~)$/i.test(name)) return undefined;
  const m = ROLE.exec(name);
  if (m === null || m[1] === '') return undefined;
  if (isDirectory === (m[3] !== undefined)) return undefined;
  return { key: m[1], role: m[2].toLowerCase() as CubeRole, kind: isDirectory ? 'png-stack' : 'envi' };
}

/** Sequence number from the digits at the end of a key (`frame_000042` -> 42), if any. */
export function keySequence(key: string): number | undefined {
  const m = /(\d{1,15})$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

/**
 * A fingerprint of a cube file's current size, to tell when a writer has finished: the header plus every
 * data-file candidate, or every PNG in a stack directory.
 * @internal
 */
export async function fileSignature(file: CubeFile): Promise<string | undefined> {
  try {
    if (file.kind === 'png-stack') {
      const names = (await readdir(file.path)).filter((n) => /\.png$/i.test(n)).sort();
      const sizes = await Promise.all(names.map(async (n) => (await stat(join(file.path, n))).size));
      return names.length === 0 ? undefined : names.map((n, i) => `${n}:${sizes[i]}`).join(',');
    }
    const stem = file.path.replace(/\.hdr$/i, '');
    const parts: string[] = [`hdr:${(await stat(file.path)).size}`];
    for (const suffix of ['', '.img', '.dat', '.raw', '.bsq', '.bil', '.bip']) {
      try {
        parts.push(`${suffix}:${(await stat(stem + suffix)).size}`);
      } catch {
        // This conventional data-file name is not used.
      }
    }
    return parts.length > 1 ? parts.join(',') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a cube file.
 * @param file - The file.
 * @param wavelengths - Band centres for PNG stacks (ENVI headers carry their own).
 * @param camera - The camera's profile, applied to LR-HSI and HR-MSI files (not to ground truth).
 * @throws {@link FileFormatError} / {@link TruncatedFileError} from the readers.
 * @throws {@link CameraProfileError} when the file does not match the camera's description.
 */
export async function readCubeFile(file: CubeFile, wavelengths?: readonly number[], camera?: CameraProfile): Promise<Cube> {
  let cube: Cube;
  if (file.kind === 'envi') cube = await readEnvi(file.path);
  else {
    const names = (await readdir(file.path)).filter((n) => /\.png$/i.test(n)).sort();
    // With a camera profile the band centres come from it, not from the model grid the caller may pass.
    cube = await readPngStack(
      names.map((n) => join(file.path, n)),
      wavelengths && !(camera && file.role === 'lrhsi') ? { wavelengths } : {},
    );
  }
  return camera && file.role !== 'truth' ? applyCameraProfile(cube, camera, file.role) : cube;
}
