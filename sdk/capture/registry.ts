import type { ModelCard } from '../core/model-card';
import { DirectoryWatcher, type DirectoryWatcherOptions } from './directory-watcher';
import type { BackpressurePolicy, FrameSource } from './frame';
import { ReplaySource, type ReplayOptions } from './replay';
import { SyntheticSource, type SyntheticOptions } from './synthetic';

/** What a source factory gets besides its own options: the card of the model that will fuse the frames. */
export interface SourceContext {
  card: ModelCard;
}

/**
 * Options of each registered source, by name. The untyped form (`Record<string, unknown>`, as read from a
 * profile) is accepted too; each source validates its own options (TypeError/RangeError naming the option).
 */
export interface SourceOptionsMap {
  synthetic: Omit<SyntheticOptions, 'card'>;
  directory: DirectoryWatcherOptions;
  replay: ReplayOptions;
}

/** Name of a registered frame source. */
export type SourceName = keyof SourceOptionsMap;

type Factory = (options: Record<string, unknown>, context: SourceContext) => FrameSource;

// The one place a source is chosen by name: `spectra run --source`, the Jetson profile's `capture.adapter`.
// Files get the model's LR-HSI grid on cubes that carry no wavelengths. Live sources want the newest frame:
// a watched folder, or frames paced at a camera's rate, drop the oldest queued frame when inference falls
// behind (latency stays bounded); frames read as fast as inference takes them block, so none is skipped.
const livePolicy = (options: Record<string, unknown>): BackpressurePolicy => (typeof options.fps === 'number' && options.fps > 0 ? 'drop-oldest' : 'block');

const FACTORIES: Readonly<Record<SourceName, Factory>> = Object.freeze({
  synthetic: (options, { card }) => new SyntheticSource({ policy: livePolicy(options), ...options, card }),
  directory: (options, { card }) => new DirectoryWatcher({ policy: 'drop-oldest', lrhsiWavelengths: card.hsi.wavelengths_nm, ...options } as unknown as DirectoryWatcherOptions),
  replay: (options, { card }) => new ReplaySource({ policy: livePolicy(options), lrhsiWavelengths: card.hsi.wavelengths_nm, ...options } as unknown as ReplayOptions),
});

/** Other names accepted for a source (`watch` is what `spectra run --source` has always called a watched folder). */
const ALIASES: Readonly<Record<string, SourceName>> = Object.freeze({ watch: 'directory' });

/** Every name {@link openSource} accepts, aliases included. */
export const SOURCE_NAMES: readonly string[] = Object.freeze([...Object.keys(FACTORIES), ...Object.keys(ALIASES)]);

/**
 * Whether {@link openSource} knows `name`.
 * @param name - A source name or alias.
 */
export function isSourceName(name: string): boolean {
  return Object.hasOwn(FACTORIES, name) || Object.hasOwn(ALIASES, name);
}

/**
 * Opens a frame source by name.
 * @param name - `synthetic`, `directory` (alias `watch`) or `replay`.
 * @param options - That source's options (see {@link SourceOptionsMap}). Without `policy`: `drop-oldest` for a
 *   watched folder and for frames paced by `fps` (live), `block` for frames read as fast as they are fused.
 * @param context - The model card: synthetic frames are simulated for it, files get its LR-HSI wavelengths.
 * @returns The source, not yet started (iterating it starts it).
 * @throws RangeError when `name` is not a registered source.
 * @example
 * const source = openSource('replay', { frames: 'recordings/flight-7', fps: 5 }, { card: model.card });
 */
export function openSource<N extends SourceName>(name: N, options: SourceOptionsMap[N], context: SourceContext): FrameSource;
export function openSource(name: string, options: Record<string, unknown>, context: SourceContext): FrameSource;
export function openSource(name: string, options: object, context: SourceContext): FrameSource {
  const resolved = Object.hasOwn(ALIASES, name) ? ALIASES[name] : name;
  if (!Object.hasOwn(FACTORIES, resolved)) throw new RangeError(`Expected a capture source (${SOURCE_NAMES.join(', ')}) but received '${name}'`);
  return FACTORIES[resolved as SourceName](options as Record<string, unknown>, context);
}
