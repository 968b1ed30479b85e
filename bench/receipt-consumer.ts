/**
 * A v2 consumer in its own process for `npm run bench:mqtt`: reassembles and verifies every cube and sends a
 * receipt (group `bench`, device `bench-r` only, so it idles during the other rows), as a real consumer on another core or machine would. Prints "ready" once subscribed.
 */
import { CubeSubscriber } from '../sdk/publish/subscriber';

async function main(): Promise<void> {
  const sub = await CubeSubscriber.connect({ broker: process.argv[2], device: 'bench-r', group: 'bench', clientId: 'bench-consumer', quicklook: false, log: () => {} });
  // Taking the cubes is what lets the subscriber acknowledge them.
  sub.on('cube', () => undefined);
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void sub.close().then(() => process.exit(0)));
}

void main();
