// Skeleton of a camera adapter: a snapshot hyperspectral camera plus an RGB camera on a shared hardware trigger,
// reached through a vendor SDK, turned into the FramePair stream the pipeline consumes. Replace `VendorSdk` with
// the real one; everything else (queue, drop-oldest policy, counters, close) comes from CameraTemplate.
//
//   npx ts-node examples/camera-adapter.ts      # runs against the simulated SDK below and fuses nothing
import { CameraTemplate, type CameraTemplateOptions, type Cube, type RawCapture } from '../sdk'; // 'spectra-edge' when installed

/** What a typical vendor SDK hands back: raw counts, interleaved, with a trigger timestamp. */
interface VendorFrame {
  data: Uint16Array;
  bands: number;
  height: number;
  width: number;
  /** 'bip': pixel-interleaved (most snapshot sensors); 'bsq': band-sequential. */
  interleave: 'bip' | 'bsq';
  triggerNs: bigint;
  exposureUs: number;
}

/** Stand-in for the vendor SDK; delete it and import the real one. */
class VendorSdk {
  private n = 0;
  static async open(serial: string): Promise<VendorSdk> {
    if (!serial) throw new Error('no serial number');
    return new VendorSdk();
  }
  async grab(sensor: 'hsi' | 'rgb'): Promise<VendorFrame> {
    await new Promise((r) => setTimeout(r, 50)); // exposure + readout
    const [bands, height, width] = sensor === 'hsi' ? [31, 16, 16] : [3, 64, 64];
    const data = Uint16Array.from({ length: bands * height * width }, (_, i) => (i * 131 + this.n * 977) % 4096);
    this.n++;
    return { data, bands, height, width, interleave: 'bip', triggerNs: process.hrtime.bigint(), exposureUs: 2000 };
  }
  async close(): Promise<void> {}
}

export interface SnapshotCameraOptions extends CameraTemplateOptions {
  /** Band centres of the HSI sensor (nm), from its calibration sheet. */
  hsiWavelengths: readonly number[];
  /** Band centres of the RGB camera in the model's MSI band order. */
  rgbWavelengths: readonly number[];
  /** Sensor count that means reflectance 1 after dark and white-reference correction (12-bit: 4095). */
  fullScale: number;
  /** Stop after this many captures (the simulated SDK never ends). */
  frames?: number;
}

/** Counts, BIP or BSQ, to a band-sequential float cube in physical units 0..1 (what the model card asks for). */
function toCube(f: VendorFrame, wavelengths: readonly number[], fullScale: number): Cube {
  if (f.bands !== wavelengths.length) throw new RangeError(`sensor delivers ${f.bands} bands but ${wavelengths.length} wavelengths are configured`);
  const plane = f.height * f.width;
  const data = new Float32Array(f.bands * plane);
  for (let p = 0; p < plane; p++)
    for (let b = 0; b < f.bands; b++) data[b * plane + p] = f.data[f.interleave === 'bip' ? p * f.bands + b : b * plane + p] / fullScale;
  return { bands: f.bands, height: f.height, width: f.width, data, wavelengths: [...wavelengths] };
}

export class SnapshotCamera extends CameraTemplate {
  private sdk: VendorSdk | undefined;
  private grabbed = 0;

  constructor(private readonly camera: SnapshotCameraOptions) {
    super(camera);
  }

  protected async openDevice(): Promise<void> {
    this.sdk = await VendorSdk.open(this.camera.device); // set trigger mode, exposure, ROI here
  }

  protected async grab(): Promise<RawCapture | undefined> {
    if (this.sdk === undefined || this.grabbed >= (this.camera.frames ?? Infinity)) return undefined;
    // Both sensors fire on the same trigger; grab them together so the pair stays co-registered in time.
    const [hsi, rgb] = await Promise.all([this.sdk.grab('hsi'), this.sdk.grab('rgb')]);
    this.grabbed++;
    return {
      hsi: toCube(hsi, this.camera.hsiWavelengths, this.camera.fullScale),
      msi: toCube(rgb, this.camera.rgbWavelengths, this.camera.fullScale),
      timestamp: new Date(),
      meta: { exposureUs: hsi.exposureUs, triggerSkewNs: Number(rgb.triggerNs - hsi.triggerNs) },
    };
  }

  protected async closeDevice(): Promise<void> {
    await this.sdk?.close();
  }
}

async function demo(): Promise<void> {
  const camera = new SnapshotCamera({
    device: 'SN-0001',
    hsiWavelengths: Array.from({ length: 31 }, (_, i) => 400 + 10 * i),
    rgbWavelengths: [640, 550, 460],
    fullScale: 4095,
    frames: 5,
  });
  for await (const f of camera) {
    // In a service: const fused = await model.fuse(f.lrhsi, f.hrmsi); await publisher.publish(fused, { sequence: f.sequence, capturedAt: f.capturedAt });
    process.stdout.write(`frame ${f.sequence}: LR-HSI ${f.lrhsi.bands}x${f.lrhsi.height}x${f.lrhsi.width}, HR-MSI ${f.hrmsi.bands}x${f.hrmsi.height}x${f.hrmsi.width}, exposure ${String(f.meta.exposureUs)} us\n`);
  }
  process.stdout.write(`stats: ${JSON.stringify(camera.stats)}\n`);
}

if (require.main === module) void demo();
