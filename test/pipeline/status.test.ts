import t from 'tap';
import { jetsonReadings, parseTegrastatsLine } from '../../devices/jetson/tegrastats';
import { percentile, StatusReporter, StatusTracker } from '../../sdk/pipeline/status';

t.test('percentile: nearest rank', async (t) => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentile(v, 50), 50);
  t.equal(percentile(v, 90), 90);
  t.equal(percentile(v, 99), 99);
  t.equal(percentile(v, 100), 100);
  t.equal(percentile([7], 99), 7);
  t.throws(() => percentile([], 50), RangeError);
  t.throws(() => percentile(v, 0), RangeError);
});

t.test('status: fps and latency percentiles from a fake clock', async (t) => {
  let now = 1_000_000;
  const tracker = new StatusTracker('cam-1', { now: () => now, latencyWindow: 100 });
  t.equal(tracker.report().latencyMs, null, 'no latency before the first frame');
  t.equal(tracker.report().fps, 0);
  // 41 frames 250 ms apart = 4 fps; latencies 1..41 ms.
  for (let i = 1; i <= 41; i++) {
    tracker.recordFrame(i);
    if (i < 41) now += 250;
  }
  const r = tracker.report({ outbox: { depth: 3, bytes: 1234 }, provider: 'cpu' });
  t.equal(r.schema, 'spectra-edge/status@1');
  t.equal(r.device, 'cam-1');
  t.equal(r.frames, 41);
  t.equal(r.fps, 4);
  t.same(r.latencyMs, { p50: 21, p90: 37, p99: 41, max: 41, count: 41 });
  t.same(r.outbox, { depth: 3, bytes: 1234 });
  t.equal(r.provider, 'cpu');
  t.equal(r.uptimeSeconds, 10);
  t.equal(r.jetson, undefined, 'no tegrastats, no jetson section');
});

t.test('status: the latency window is bounded and keeps the newest frames', async (t) => {
  const tracker = new StatusTracker('cam-1', { latencyWindow: 10 });
  for (let i = 0; i < 1000; i++) tracker.recordFrame(i < 990 ? 1000 : 5);
  const r = tracker.report();
  t.equal(r.latencyMs?.count, 10);
  t.equal(r.latencyMs?.max, 5, 'old slow frames have left the window');
  t.equal(r.frames, 1000);
});

t.test('status: fps only counts the rate window', async (t) => {
  let now = 0;
  const tracker = new StatusTracker('cam-1', { now: () => now, rateWindowSeconds: 10 });
  for (let i = 0; i < 10; i++) {
    tracker.recordFrame(1);
    now += 100; // a 10 fps burst
  }
  now += 60_000;
  for (let i = 0; i < 11; i++) {
    tracker.recordFrame(1);
    now += 1000; // then 1 fps
  }
  t.equal(tracker.report().fps, 1);
});

t.test('status: carries temperature and power from tegrastats', async (t) => {
  const tracker = new StatusTracker('orin');
  const sample = parseTegrastatsLine(
    'RAM 3120/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) CPU [38%@1984,41%@1984] EMC_FREQ 21% GR3D_FREQ 87% cpu@52.1C gpu@54.3C tj@54.3C VDD_IN 11208mW/8080mW VDD_SOC 2874mW/2148mW',
  );
  const r = tracker.report({ jetson: jetsonReadings(sample) });
  t.same(r.jetson, {
    temperatureC: { cpu: 52.1, gpu: 54.3, tj: 54.3 },
    maxTemperatureC: 54.3,
    powerMw: { VDD_IN: 11208, VDD_SOC: 2874 },
    totalPowerMw: 11208,
    gpuPercent: 87,
    ram: { usedMb: 3120, totalMb: 7620 },
  });
});

t.test('stages: the status carries the median of each stage, over the latency window', async (t) => {
  const tracker = new StatusTracker('cam-s', { latencyWindow: 3 });
  t.equal(tracker.report().stagesMsP50, undefined, 'absent before a frame with its parts');
  tracker.recordFrame(100);
  t.equal(tracker.report().stagesMsP50, undefined, 'frames without parts add none');
  // Four frames in a window of three: the first (queue 1000) is out of the window.
  for (const [q, f] of [[1000, 10], [5, 50], [7, 70], [6, 60]]) tracker.recordFrame(q + f + 3, { queueMs: q, fuseMs: f, qualityMs: f / 10, publishMs: 3 });
  t.same(tracker.report().stagesMsP50, { queueMs: 6, fuseMs: 60, qualityMs: 6, publishMs: 3 });
  t.throws(() => tracker.recordFrame(10, { queueMs: -1, fuseMs: 1, qualityMs: 0, publishMs: 0 }), /queueMs/);
});

t.test('rejects: a negative latency', async (t) => {
  t.throws(() => new StatusTracker('x').recordFrame(-1), RangeError);
  t.throws(() => new StatusTracker('x').recordFrame(NaN), RangeError);
});

t.test('reporter: publishes JSON on spectra/<device>/status and survives a failing publish', async (t) => {
  const tracker = new StatusTracker('cam-9');
  tracker.recordFrame(12);
  const sent: [string, unknown][] = [];
  const logs: string[] = [];
  let fail = true;
  const reporter = StatusReporter.start(tracker, {
    intervalMs: 20,
    extras: () => ({ outbox: { depth: 1, bytes: 10 } }),
    publish: async (topic, payload) => {
      if (fail) {
        fail = false;
        throw new Error('broker down');
      }
      sent.push([topic, JSON.parse(payload.toString())]);
    },
    log: (m) => logs.push(m),
  });
  const deadline = Date.now() + 2000;
  while (sent.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  reporter.stop();
  t.match(logs[0], /status publish failed: broker down/);
  t.ok(sent.length >= 2);
  t.equal(sent[0][0], 'spectra/cam-9/status');
  t.match(sent[0][1], { device: 'cam-9', frames: 1, outbox: { depth: 1 }, latencyMs: { p50: 12 } });
});
