// The live viewer in real headless Chromium: page loads, a cube arrives over the embedded broker, clicking a
// pixel draws that pixel's spectrum, and the plotted values are the cube's values.
import { existsSync } from 'node:fs';
import t from 'tap';
import type { Cube } from '../../sdk/cube/cube';
import { StatusTracker } from '../../sdk/pipeline/status';
import { ViewServer } from '../../viewer/server';
import { EmbeddedBroker } from '../../sdk/publish/embedded-broker';
import { CubePublisher } from '../../sdk/publish/publisher';

const CHROMIUM = process.env.SPECTRA_CHROMIUM ?? '/usr/bin/chromium';

function syntheticCube(seed: number): Cube {
  const [bands, height, width] = [12, 24, 40];
  const data = new Float32Array(bands * height * width);
  for (let b = 0; b < bands; b++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(b * height + y) * width + x] = (Math.sin(seed + b * 0.7 + x * 0.3) * Math.cos(y * 0.2) + 1) / 2;
  return { bands, height, width, data, wavelengths: Array.from({ length: bands }, (_, b) => 420 + 25 * b) };
}

function spectrumOf(cube: Cube, x: number, y: number): number[] {
  const plane = cube.width * cube.height;
  return Array.from({ length: cube.bands }, (_, b) => cube.data[b * plane + y * cube.width + x]);
}

const noBrowser = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM}; run scripts/install-test-services.sh (or set SPECTRA_CHROMIUM)`;

t.test('viewer: a cube arrives, a click plots the spectrum of that pixel', { skip: noBrowser }, async (t) => {
  const { chromium } = await import('playwright-core');
  const view = await ViewServer.start({ port: 0, mqttPort: 0, log: () => undefined });
  t.teardown(() => view.close());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(view.url);
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: 15_000 });

  const publisher = await CubePublisher.connect({ broker: view.brokerUrl, device: 'cam-7', protocolVersion: 4, log: () => undefined });
  t.teardown(() => publisher.close());
  const first = syntheticCube(1);
  const capturedAt = new Date(Date.now() - 50);
  await publisher.publish(first, { sequence: 1, capturedAt, model: { id: 'test-student', precision: 'fp32' } });

  const card = page.locator('section.device[data-device="cam-7"][data-sequence="1"]');
  await card.waitFor({ timeout: 15_000 });
  t.equal(await card.locator('.shape').textContent(), '12 bands × 24 × 40');
  t.equal(await card.locator('.model').textContent(), 'test-student (fp32)');
  t.match(await card.locator('.latency').textContent(), /^\d+ ms capture→viewer/);
  const natural = await card.locator('img.quicklook').evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]);
  t.same(natural, [40, 24], 'the quicklook has the cube size');

  // Click the centre of cube pixel (31, 17) on the displayed (scaled) quicklook.
  const [px, py] = [31, 17];
  const box = (await card.locator('img.quicklook').boundingBox())!;
  await page.mouse.click(box.x + ((px + 0.5) / 40) * box.width, box.y + ((py + 0.5) / 24) * box.height);
  const canvas = card.locator(`canvas.spectrum[data-x="${px}"][data-y="${py}"][data-sequence="1"]`);
  await canvas.waitFor({ timeout: 10_000 });
  const plotted = JSON.parse((await canvas.getAttribute('data-values'))!) as number[];
  t.same(plotted, spectrumOf(first, px, py), 'the plotted spectrum is the cube pixel, bit for bit');
  t.same(JSON.parse((await canvas.getAttribute('data-wavelengths'))!), first.wavelengths);
  t.match(await card.locator('.readout').textContent(), /pixel \(31, 17\) of #1: 12 bands/);

  // A newer cube replaces the old one and the pinned pixel follows it.
  const second = syntheticCube(2);
  await publisher.publish(second, { sequence: 2, capturedAt: new Date() });
  const device = page.locator('section.device[data-device="cam-7"]');
  const updated = device.locator(`canvas.spectrum[data-x="${px}"][data-y="${py}"][data-sequence="2"]`);
  await updated.waitFor({ timeout: 15_000 });
  t.same(JSON.parse((await updated.getAttribute('data-values'))!), spectrumOf(second, px, py), 'the pinned pixel shows the new cube');
  t.match(await device.locator('.fps').textContent(), /^\d+\.\d\d$/, 'fps is shown once two quicklooks arrived');
  // The device's own status report (StatusTracker payload) shows next to the quicklook.
  const tracker = new StatusTracker('cam-7', { now: () => 1000 });
  tracker.recordFrame(40);
  tracker.recordFrame(60);
  const status = tracker.report({ outbox: { depth: 2, bytes: 1 }, provider: 'cpu' });
  const mqtt = (await import('mqtt')).default;
  const client = await mqtt.connectAsync(view.brokerUrl, { protocolVersion: 4 });
  await client.publishAsync('spectra/cam-7/status', JSON.stringify(status), { retain: true });
  await client.endAsync();
  await page.waitForFunction(() => /latency p50 40 \/ p90 60 \/ p99 60 ms, outbox 2/.test(document.querySelector('[data-device="cam-7"] .device-status')?.textContent ?? ''), undefined, { timeout: 10_000 });
  t.equal(await device.getAttribute('data-state'), 'online');
  t.same(pageErrors, [], 'no uncaught errors in the page');
});

t.test('viewer API: names the bad parameter and the unknown device', async (t) => {
  const view = await ViewServer.start({ port: 0, mqttPort: 0, log: () => undefined });
  t.teardown(() => view.close());
  const publisher = await CubePublisher.connect({ broker: view.brokerUrl, device: 'cam-1', protocolVersion: 4, log: () => undefined });
  t.teardown(() => publisher.close());
  await publisher.publish(syntheticCube(3), { sequence: 5 });
  const deadline = Date.now() + 10_000;
  while (view.latest('cam-1') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const get = async (path: string): Promise<[number, Record<string, unknown>]> => {
    const res = await fetch(new URL(path, view.url));
    return [res.status, (await res.json()) as Record<string, unknown>];
  };
  const [ok, body] = await get('/api/cam-1/spectrum?x=0&y=23');
  t.equal(ok, 200);
  t.same(body.values, spectrumOf(syntheticCube(3), 0, 23));
  t.match(await get('/api/cam-1/spectrum?x=40&y=0'), [400, { error: /^x: expected an integer in \[0, 39\] but received '40'/ }]);
  t.match(await get('/api/cam-1/spectrum?x=1'), [400, { error: /^y: missing/ }]);
  t.match(await get('/api/nope/spectrum?x=1&y=1'), [404, { error: /no cube from device 'nope'/ }]);
  t.match(await get('/api/cam-1/latest'), [200, { sequence: 5, shape: [12, 24, 40] }]);
  const mqttJs = await fetch(new URL('/vendor/mqtt.min.js', view.url));
  t.equal(mqttJs.status, 200, 'mqtt.js browser bundle is served locally, no CDN');
});

t.test('viewer bridge: browsers reach a TCP-only broker through /mqtt and get the quicklook', async (t) => {
  const mqtt = (await import('mqtt')).default;
  const broker = await ViewServer.start({ port: 0, mqttPort: 0, publishQuicklooks: false, log: () => undefined });
  t.teardown(() => broker.close());
  const view = await ViewServer.start({ broker: broker.brokerUrl, protocolVersion: 4, port: 0, log: () => undefined });
  t.teardown(() => view.close());
  t.equal(view.browserBrokerUrl, null, 'the page is told to use the same-origin /mqtt bridge');
  const ws = await mqtt.connectAsync(view.url.replace(/^http/, 'ws') + 'mqtt', { protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => ws.endAsync(true));
  const got = new Promise<Buffer>((resolve) => ws.on('message', (topic, payload) => topic === 'spectra/cam-2/quicklook' && resolve(payload)));
  await ws.subscribeAsync('spectra/+/quicklook');
  const publisher = await CubePublisher.connect({ broker: broker.brokerUrl, device: 'cam-2', protocolVersion: 4, log: () => undefined });
  t.teardown(() => publisher.close());
  await publisher.publish(syntheticCube(4), { sequence: 9 });
  const png = await Promise.race([got, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no quicklook within 15 s')), 15_000))]);
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG arrived over MQTT-over-WebSocket');
  t.equal(view.latest('cam-2')?.meta.sequence, 9);
});

t.test('viewer over a WebSocket broker: the page is told to connect to it directly', async (t) => {
  const broker = await EmbeddedBroker.start({ port: 0, wsPort: 0, log: () => undefined });
  t.teardown(() => broker.close());
  const view = await ViewServer.start({ broker: broker.wsUrl, protocolVersion: 4, port: 0, log: () => undefined });
  t.teardown(() => view.close());
  const config = (await (await fetch(new URL('/api/config', view.url))).json()) as { broker: string | null };
  t.equal(config.broker, broker.wsUrl);
  const publisher = await CubePublisher.connect({ broker: broker.url, device: 'cam-3', protocolVersion: 4, log: () => undefined });
  t.teardown(() => publisher.close());
  await publisher.publish(syntheticCube(5), { sequence: 2 });
  const deadline = Date.now() + 10_000;
  while (view.latest('cam-3') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(Array.from(view.latest('cam-3')!.cube.data.subarray(0, 5)), Array.from(syntheticCube(5).data.subarray(0, 5)), 'the cube came in over ws://');
});
