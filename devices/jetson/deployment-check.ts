import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { loadBinding } from '../../sdk/runtime/binding';
import { normaliseProvider } from '../../sdk/runtime/providers';
import type { DeviceProfile } from './profile';
import { resolveProviders, type ResolvedProviders } from './provider-options';

/** The verdict of {@link checkDeployment}. */
export interface DeploymentCheck {
  /** Problems that stop the service from working; empty when it can start. */
  errors: string[];
  /** Things that work but cost performance or durability. */
  warnings: string[];
  /** The binding loaded (`SPECTRA_ORT_BINDING` or the profile's `binding`). */
  binding?: { path: string; version: string };
  providers?: ResolvedProviders;
}

/**
 * Checks a deployment profile against the machine before the service starts: model and card present and
 * consistent with the TensorRT int8 setting, broker secrets readable, the onnxruntime binding loadable, and
 * which providers and options it will actually honour. Touches no GPU and creates no session.
 * @param profile - A validated profile.
 * @param loader - Loads the binding; the runtime's loader by default (tests pass a fake).
 * @returns Errors, warnings and the provider verdict.
 * @example
 * const check = checkDeployment(loadProfile('/etc/spectra/profile.json'));
 * if (check.errors.length) process.exit(1);
 */
export function checkDeployment(
  profile: DeviceProfile,
  loader: (path: string | undefined) => { path: string; version: string; backends: { name: string; bundled: boolean }[]; honoursProviderOptions: readonly string[] } = loadBinding,
): DeploymentCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const cardPath = profile.model.replace(/\.onnx$/, '') + '.card.json';
  if (!existsSync(profile.model)) errors.push(`model: ${profile.model} does not exist`);
  let precision: string | undefined;
  if (!existsSync(cardPath)) {
    errors.push(`model: its card ${cardPath} does not exist (export and quantize write it next to the .onnx)`);
  } else {
    try {
      precision = (JSON.parse(readFileSync(cardPath, 'utf8')) as { precision?: string }).precision;
    } catch (err) {
      errors.push(`model: ${cardPath} is not valid JSON (${(err as Error).message})`);
    }
  }
  const trt = profile.providers.map(normaliseProvider).find((p) => p.name === 'tensorrt');
  if (trt?.name === 'tensorrt' && trt.int8 === true && precision !== undefined && precision !== 'int8') {
    errors.push(
      `providers: tensorrt.int8 needs the QDQ-quantized model (card precision 'int8', from spectra quantize) but ${cardPath} says '${precision}'`,
    );
  }
  for (const [field, file] of [
    ['broker.passwordFile', profile.broker.passwordFile],
    ['broker.ca', profile.broker.ca],
    ['broker.cert', profile.broker.cert],
    ['broker.key', profile.broker.key],
  ] as const) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch {
      errors.push(`${field}: ${file} is missing or not readable by this user`);
    }
  }
  const bindingPath = profile.binding ?? (process.env.SPECTRA_ORT_BINDING || undefined);
  let binding;
  try {
    binding = loader(bindingPath);
  } catch (err) {
    errors.push(`binding: cannot load ${bindingPath ?? 'onnxruntime-node'}: ${(err as Error).message}`);
    return { errors, warnings };
  }
  const providers = resolveProviders(profile.providers, binding);
  if (providers.granted.length === 0) errors.push(...providers.warnings);
  else warnings.push(...providers.warnings);
  return { errors, warnings, binding: { path: binding.path, version: binding.version }, providers };
}
