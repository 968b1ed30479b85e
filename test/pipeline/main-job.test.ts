import t from 'tap';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Cube } from '../../sdk/cube/cube';
import { readEnvi } from '../../sdk/cube/envi';
import { SyntheticSource } from '../../sdk/capture/synthetic';
import { runMainJob } from '../../sdk/pipeline/main-job';
import type { ReceivedCube } from '../../sdk/publish/subscriber';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import { sameBytes, tempDir } from '../publish/helpers';

const TINY = resolve(__dirname, '..', 'fixtures', 'tiny', 'tiny-student.onnx');
const quiet = (): void => {};

t.test('runMainJob: the built-in subscriber writes every published cube bit-exact, with quicklooks', async (t) => {
  const model = await FusionModel.load(TINY);
  t.teardown(() => model.release());
  // Keep what the pipeline publishes: the cubes straight out of the model.
  const published = new Map<number, Cube>();
  const fuse = model.fuse.bind(model);
  let next = 0;
  model.fuse = async (...args) => {
    const cube = await fuse(...args);
    published.set(next++, cube);
    return cube;
  };
  const out = tempDir('spectra-main-job-');
  const received: ReceivedCube[] = [];
  const result = await runMainJob({
    model,
    source: new SyntheticSource({ card: model.card, scene: 'generated', size: [32, 32], maxFrames: 2, log: quiet }),
    frames: 2,
    device: 'main-job',
    out,
    onCube: (c) => received.push(c),
    log: quiet,
  });
  t.equal(result.frames.length, 2);
  t.ok(result.drained);
  t.same(result.subscriber, { expected: 2, received: 2, missing: [], errors: 0, out });
  t.equal(received.length, 2);
  t.equal(result.status?.frames, 2, 'status payload fed from the per-frame reports');
  t.equal(result.status?.latencyMs?.count, 2);

  const files = readdirSync(out);
  const headers = files.filter((n) => n.endsWith('.hdr')).sort();
  t.equal(headers.length, 2, 'two ENVI cubes');
  t.equal(files.filter((n) => n.endsWith('.png')).length, 2, 'two quicklooks');
  t.ok(files.includes('run.json'));
  for (const [i, name] of headers.entries()) {
    t.match(name, new RegExp(`^main-job_00000${i}_`));
    const written = await readEnvi(join(out, name));
    const sent = published.get(i)!;
    t.same([written.bands, written.height, written.width], [sent.bands, sent.height, sent.width]);
    t.ok(sameBytes(written.data, sent.data), `cube ${i} on disk equals the published fused cube`);
  }
});
