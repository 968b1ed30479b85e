/**
 * The capture pair as `spectra fuse` and `spectra adapt` read it: files, band centres, value scale and camera
 * profile, and the HR-MSI camera's response (from the profile or estimated from the pair). One reader, so a
 * camera adapted on is read exactly as it will be fused.
 */
import { type Command, Option } from 'commander';
import { type CameraProfile, applyCameraProfile, profileMsiResponse, readCameraProfile } from '../sdk/camera/profile';
import type { MsiResponse, MsiResponseEstimate } from '../sdk/camera/response';
import type { Cube } from '../sdk/cube/cube';
import type { NpyLayout } from '../sdk/cube/npy';
import { readCube } from '../sdk/cube/read-cube';
import type { FusionModel } from '../sdk/runtime/fusion-model';
import { srfCentroids } from '../sdk/spectral/srf';
import { wavelengthList } from './wavelengths';
import { positive } from './arguments';

/** The flags {@link addPairOptions} adds. */
export interface PairCliOptions {
  lrhsi: string;
  hrmsi: string;
  resample: boolean;
  valueScale?: number;
  lrhsiWavelengths?: number[];
  npyLayout: NpyLayout;
  camera?: string;
  estimateSrf: boolean;
}

/** A pair ready for the model's `fuse`/`networkInputs` options. */
export interface PairInputs {
  lrhsi: Cube;
  hrmsi: Cube;
  camera?: CameraProfile;
  resample: boolean;
  msiResponse?: MsiResponse | MsiResponseEstimate;
}

/** Formats and files without wavelengths get the model's grid (LR-HSI) or SRF centroids (HR-MSI). */
export function withWavelengths(cube: Cube, grid: readonly number[], valueScale: number | undefined): Cube {
  const wavelengths = cube.meta?.wavelengthsFromHeader === false && cube.bands === grid.length ? grid : cube.wavelengths;
  const meta = valueScale !== undefined ? { ...(cube.meta ?? {}), valueScale } : cube.meta;
  return { ...cube, wavelengths, ...(meta ? { meta } : {}) };
}

/** Adds the capture-pair flags to a command. */
export function addPairOptions(command: Command): Command {
  return command
    .requiredOption('--lrhsi <path>', 'LR-HSI: .hdr (ENVI), .npy, .tif, or a folder / comma list of PNG bands')
    .requiredOption('--hrmsi <path>', 'HR-MSI, same formats')
    .option('--resample', 'resample an LR-HSI on another band grid onto the model grid; model bands it does not cover are zeros marked in bbl / band_valid', false)
    .option('--lrhsi-wavelengths <nm>', "LR-HSI band centres for files without them: 'a,b,c' or 'start:stop:step'", wavelengthList)
    .option('--value-scale <n>', 'divide both inputs by this (raw counts -> 0..1), overriding file metadata', positive)
    .addOption(new Option('--npy-layout <layout>', 'axis order of 3-D .npy inputs').choices(['chw', 'hwc']).default('chw'))
    .option('--camera <profile.json>', 'camera profile: HSI band centres/FWHM/bad bands and value scales, MSI SRF (implies --resample; see docs/new-camera.md)')
    .option('--estimate-srf', "fit the HR-MSI camera's response from this pair (CNMF-style) and map it onto the model's MSI bands", false);
}

/**
 * Reads the pair for `model`. Everything that can be wrong with the camera's description is checked here, before
 * anything is written.
 * @throws The camera profile's, the readers' and the model's typed errors.
 */
export async function readPairInputs(model: FusionModel, opts: PairCliOptions): Promise<PairInputs> {
  const spec = model.inputSpec;
  const centroids = srfCentroids(model.card.msi.srf, spec.wavelengths);
  const camera = opts.camera ? await readCameraProfile(opts.camera) : undefined;
  const asRead = {
    lrhsi: await readCube(opts.lrhsi, { npyLayout: opts.npyLayout, ...(opts.lrhsiWavelengths ? { wavelengths: opts.lrhsiWavelengths } : {}) }),
    hrmsi: await readCube(opts.hrmsi, { npyLayout: opts.npyLayout }),
  };
  const lrhsi = withWavelengths(camera ? applyCameraProfile(asRead.lrhsi, camera, 'lrhsi') : asRead.lrhsi, spec.wavelengths, opts.valueScale);
  const hrmsi = withWavelengths(camera ? applyCameraProfile(asRead.hrmsi, camera, 'hrmsi') : asRead.hrmsi, centroids, opts.valueScale);
  const resample = opts.resample || camera !== undefined;
  const msiResponse = opts.estimateSrf
    ? model.estimateMsiResponse(lrhsi, hrmsi, { resample })
    : camera
      ? profileMsiResponse(camera, spec.wavelengths, model.bandCoverage(lrhsi, { resample }))
      : undefined;
  return { lrhsi, hrmsi, resample, ...(camera ? { camera } : {}), ...(msiResponse ? { msiResponse } : {}) };
}
