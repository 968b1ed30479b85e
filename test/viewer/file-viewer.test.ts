// The file viewer (`spectra view FILE --compare REF`) in real headless Chromium, on ENVI cubes written here with known
// values: the band slider changes the drawn plane, colour picks skip invalid bands, pinned spectra and the CSV export
// are the file's values, the PNG export is the canvas, and the difference views measure a known offset.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { Cube } from '../../sdk/cube/cube';
import { createCube } from '../../sdk/cube/create';
import { writeEnvi } from '../../sdk/cube/envi';
import { FileViewServer } from '../../viewer/file-server';
import { tempDir } from '../sdk/helpers';

const CHROMIUM = process.env.SPECTRA_CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM}; run scripts/install-test-services.sh (or set SPECTRA_CHROMIUM)`;
const [BANDS, H, W] = [8, 6, 10];
const INVALID = 3;

/** Each band has its own spatial pattern, so two bands never draw the same image. */
function knownCube(offset = 0): Cube {
  const data = new Float32Array(BANDS * H * W);
  for (let b = 0; b < BANDS; b++)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[(b * H + y) * W + x] = ((x * (b + 1) + y * 3) % 17) / 16 + 0.01 * b + offset;
  const bandValid = Array.from({ length: BANDS }, (_, b) => b !== INVALID);
  return createCube({ bands: BANDS, height: H, width: W, data, wavelengths: Array.from({ length: BANDS }, (_, b) => 450 + 50 * b), meta: { bandValid } });
}

function plane(cube: Cube, band: number): Float32Array {
  return cube.data.subarray(band * H * W, (band + 1) * H * W);
}

/** The grey levels a min/max stretch gives: what the page must draw. */
function minMaxBytes(values: Float32Array): number[] {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(((v - min) / (max - min || 1)) * 255))));
}

async function canvasRgba(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const c = document.getElementById('image') as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });
}

const channel = (rgba: number[], c: number): number[] => rgba.filter((_, i) => i % 4 === c);

async function launch(t: Test): Promise<{ page: Page; errors: string[] }> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return { page, errors };
}

async function open(page: Page, view: FileViewServer): Promise<void> {
  await page.goto(view.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
}

/** Moves the band slider as a user does (an input event) and waits for the new plane to be drawn. */
async function slideTo(page: Page, band: number): Promise<void> {
  await page.locator('#band').evaluate((el: HTMLInputElement, b: number) => {
    el.value = String(b);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, band);
  await page.waitForSelector(`#image[data-state="ready"][data-band="${band}"]`, { timeout: 10_000 });
}

async function clickPixel(page: Page, x: number, y: number): Promise<void> {
  const box = (await page.locator('#image').boundingBox())!;
  // The canvas has a 1 px border; aim at the pixel's centre inside it.
  const inner = { x: box.x + 1, y: box.y + 1, width: box.width - 2, height: box.height - 2 };
  await page.mouse.click(inner.x + ((x + 0.5) / W) * inner.width, inner.y + ((y + 0.5) / H) * inner.height);
}

t.test('file viewer: band slider, colour picks, stretch, pinned spectra, CSV and PNG export', { skip: noBrowser }, async (t) => {
  const dir = tempDir('spectra-view-');
  const cube = knownCube();
  await writeEnvi(join(dir, 'fused.hdr'), cube);
  const view = await FileViewServer.start({ file: join(dir, 'fused.hdr'), port: 0, log: () => undefined });
  t.teardown(() => view.close());
  const { page, errors } = await launch(t);
  await open(page, view);
  t.match(await page.locator('#source-info').textContent(), /fused\.hdr: 8 bands × 6 × 10; 1 band\(s\) marked invalid/);
  t.same(await page.locator('#image').evaluate((c: HTMLCanvasElement) => [c.width, c.height]), [W, H], 'the canvas has the cube size');

  await page.click('#stretch-minmax');
  await page.waitForSelector('#image[data-state="ready"]');
  await slideTo(page, 1);
  t.match(await page.locator('#band-label').textContent(), /^band 1 of 8: 500\.0 nm$/);
  const band1 = channel(await canvasRgba(page), 0);
  t.same(band1, minMaxBytes(plane(cube, 1)), 'band 1 is drawn with a min/max stretch of its values');
  const [[lo, hi]] = JSON.parse((await page.locator('#image').getAttribute('data-stretch'))!) as number[][];
  t.same([lo, hi], [Math.min(...plane(cube, 1)), Math.max(...plane(cube, 1))], 'the black and white points are the band min and max');
  await slideTo(page, 5);
  const band5 = channel(await canvasRgba(page), 0);
  t.same(band5, minMaxBytes(plane(cube, 5)), 'the slider changes the drawn plane to band 5');
  t.notSame(band5, band1);
  await slideTo(page, INVALID);
  t.match(await page.locator('#band-label').textContent(), /600\.0 nm \(marked invalid\)/);

  // Percentile stretch: a narrower window saturates more pixels than min/max.
  await page.fill('#stretch-lo', '10');
  await page.fill('#stretch-hi', '90');
  await page.locator('#stretch-hi').dispatchEvent('change');
  await page.waitForSelector('#image[data-state="ready"]');
  await slideTo(page, 5);
  const [[plo, phi]] = JSON.parse((await page.locator('#image').getAttribute('data-stretch'))!) as number[][];
  const sorted = Float32Array.from(plane(cube, 5)).sort();
  t.same([plo, phi], [sorted[Math.floor(0.1 * (sorted.length - 1))], sorted[Math.floor(0.9 * (sorted.length - 1))]], '10/90 percentiles of the band');
  await page.click('#stretch-minmax');
  await page.waitForSelector('#image[data-state="ready"]');

  // False colour with a red pick at the invalid band's wavelength: the nearest *valid* band is used.
  await page.check('input[name="mode"][value="rgb"]');
  await page.fill('#nm-r', '610');
  await page.locator('#nm-r').dispatchEvent('change');
  await page.waitForSelector('#image[data-state="ready"][data-mode="rgb"][data-bands="[4,2,0]"]', { timeout: 10_000 });
  t.match(await page.locator('#picked-r').textContent(), /band 4 \(650\.0 nm\)/, '610 nm picks 650 nm: the nearer 600 nm band is marked invalid');
  await page.fill('#nm-r', '600');
  await page.locator('#nm-r').dispatchEvent('change');
  await page.waitForSelector('#image[data-state="ready"][data-mode="rgb"]:not([data-bands*="3"])', { timeout: 10_000 });
  t.notMatch(await page.locator('#image').getAttribute('data-bands'), /3/, 'an exact pick of the invalid band skips it');
  await page.click('#false-colour');
  await page.waitForSelector('#image[data-state="ready"][data-bands="[7,4,2]"]', { timeout: 10_000 });
  const rgba = await canvasRgba(page);
  t.same([channel(rgba, 0), channel(rgba, 1), channel(rgba, 2)], [7, 4, 2].map((b) => minMaxBytes(plane(cube, b))), 'R, G, B are bands 7, 4, 2, each stretched on its own');

  // Pins: each listed with its coordinates; the spectrum is the file's, with a gap at the invalid band.
  const expected = (x: number, y: number): (number | null)[] => Array.from({ length: BANDS }, (_, b) => (b === INVALID ? null : cube.data[(b * H + y) * W + x]));
  for (const [x, y] of [[7, 4], [2, 1], [9, 0]]) {
    await clickPixel(page, x, y);
    await page.waitForSelector(`#pins li[data-x="${x}"][data-y="${y}"]`, { timeout: 10_000 });
  }
  const pin = page.locator('#pins li[data-x="7"][data-y="4"]');
  t.equal(await pin.locator('.coords').textContent(), '(7, 4)');
  t.same(JSON.parse((await pin.getAttribute('data-values'))!), expected(7, 4), 'the pinned spectrum is the file pixel, bit for bit, null at the invalid band');
  await page.locator('#pins li[data-x="9"][data-y="0"] button.remove').click();
  await page.waitForSelector('#pins[data-count="2"]');
  t.equal(await page.locator('#spectrum').getAttribute('data-series'), '2', 'two spectra are plotted after one is removed');

  const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  t.equal(csvDownload.suggestedFilename(), 'fused-spectra.csv');
  const rows = readFileSync((await csvDownload.path())!, 'utf8').trim().split('\n').map((r) => r.split(','));
  t.same(rows[0], ['wavelength_nm', 'x7_y4', 'x2_y1']);
  t.same(rows.slice(1).map((r) => Number(r[0])), cube.wavelengths);
  const column = (c: number): (number | null)[] => rows.slice(1).map((r) => (r[c] === '' ? null : Number(r[c])));
  t.same([column(1), column(2)], [expected(7, 4), expected(2, 1)], 'the CSV holds the file values (empty at the invalid band)');

  const [pngDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-png')]);
  t.equal(pngDownload.suggestedFilename(), 'fused-rgb-800-650-550.png');
  const { data, info } = await sharp((await pngDownload.path())!).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  t.same([info.width, info.height], [W, H]);
  t.same(Array.from(data), await canvasRgba(page), 'the PNG is the view on the canvas');
  t.same(errors, [], 'no uncaught errors in the page');
});

t.test('file viewer --compare: zero for identical cubes, the offset for a shifted one', { skip: noBrowser }, async (t) => {
  const dir = tempDir('spectra-view-');
  const a = knownCube();
  const shifted = knownCube(0.25);
  await writeEnvi(join(dir, 'fused.hdr'), a);
  await writeEnvi(join(dir, 'same.hdr'), a);
  await writeEnvi(join(dir, 'shifted.hdr'), shifted);
  const { page, errors } = await launch(t);

  const same = await FileViewServer.start({ file: join(dir, 'fused.hdr'), compare: join(dir, 'same.hdr'), port: 0, log: () => undefined });
  t.teardown(() => same.close());
  await open(page, same);
  t.match(await page.locator('#source-info').textContent(), /compared with .*same\.hdr/);
  await page.check('input[name="mode"][value="diff"]');
  await slideTo(page, 2);
  const stats = async (): Promise<{ min: number; max: number; mean: number }> => JSON.parse((await page.locator('#image').getAttribute('data-stats'))!)[0];
  t.same(await stats(), { min: 0, max: 0, mean: 0 }, '|a − a| is zero everywhere');
  await page.check('input[name="mode"][value="angle"]');
  await page.waitForSelector('#image[data-state="ready"][data-mode="angle"]');
  t.same(await stats(), { min: 0, max: 0, mean: 0 }, 'the spectral angle of a cube with itself is zero');
  await same.close();

  const off = await FileViewServer.start({ file: join(dir, 'fused.hdr'), compare: join(dir, 'shifted.hdr'), port: 0, log: () => undefined });
  t.teardown(() => off.close());
  await open(page, off);
  await page.check('input[name="mode"][value="diff"]');
  await slideTo(page, 6);
  const diff = Array.from(plane(a, 6), (v, i) => Math.fround(Math.abs(v - plane(shifted, 6)[i])));
  const d = await stats();
  t.same(d, { min: Math.min(...diff), max: Math.max(...diff), mean: diff.reduce((s, v) => s + v, 0) / diff.length }, '|a − b| of band 6 is computed from both files');
  t.ok(Math.abs(d.min - 0.25) < 1e-6 && Math.abs(d.max - 0.25) < 1e-6, `the 0.25 offset shows as 0.25 (${d.min}..${d.max})`);
  await clickPixel(page, 3, 5);
  const pin = page.locator('#pins li[data-x="3"][data-y="5"]');
  await pin.waitFor({ timeout: 10_000 });
  const reference = JSON.parse((await pin.getAttribute('data-compare'))!) as (number | null)[];
  t.same(reference, Array.from({ length: BANDS }, (_, b) => (b === INVALID ? null : shifted.data[(b * H + 5) * W + 3])), 'the pin carries the reference spectrum too');
  await page.check('input[name="mode"][value="angle"]');
  await page.waitForSelector('#image[data-state="ready"][data-mode="angle"]');
  t.ok((await stats()).max > 0.1, 'a shifted spectrum has a non-zero angle');
  t.same(errors, [], 'no uncaught errors in the page');
});
