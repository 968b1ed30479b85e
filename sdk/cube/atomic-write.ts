import { open, rename, rm } from 'node:fs/promises';
import { OutputWriteError, explainFsError } from '../core/errors';

/**
 * Writes a file so that readers never see a partial one: data goes to a temporary sibling,
 * is flushed, then renamed over the target (rename is atomic within a filesystem).
 * @throws {@link OutputWriteError} naming `path` (never the temporary sibling) when any step fails.
 * @internal
 */
export async function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  try {
    await writeThroughTemporary(path, chunks);
  } catch (err) {
    // The system message names the temporary sibling, which means nothing to the caller: name the target.
    throw new OutputWriteError(path, `cannot write the file (${explainFsError(err)})`, { cause: err });
  }
}

async function writeThroughTemporary(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    for (const chunk of chunks) await fh.write(chunk);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
