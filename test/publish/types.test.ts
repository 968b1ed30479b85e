/**
 * Type tests for the public event maps and options: checked by `tsc -p tsconfig.json` (the @ts-expect-error
 * lines fail the typecheck if a wrong use compiles); at run time they only assert the listeners register.
 */
import t from 'tap';
import type { CubePublisher } from '../../sdk/publish/publisher';
import type { CubeSubscriber } from '../../sdk/publish/subscriber';
import type { PublisherOptions } from '../../sdk/publish/publisher';

function publisherEvents(pub: CubePublisher): void {
  pub.on('cube-acked', (seq: number) => void seq);
  pub.on('cube-rejected', (seq: number, err: Error) => void [seq, err]);
  // @ts-expect-error cube-acked passes a number, not a string
  pub.on('cube-acked', (seq: string) => void seq);
  pub.on('cube-lost', (seq: number, reason: 'evicted' | 'rejected' | 'not-held' | 'skipped') => void [seq, reason]);
  // @ts-expect-error unknown event
  pub.on('cube-vanished', () => undefined);
  pub.on('cube-pulled', (seq: number, consumer: string) => void [seq, consumer]);
  // @ts-expect-error cube-pulled passes the member's client id as a string
  pub.on('cube-pulled', (seq: number, consumer: number) => void [seq, consumer]);
}

function subscriberEvents(sub: CubeSubscriber): void {
  sub.on('cube', ({ meta, cube }) => void [meta.sha256, cube.data]);
  // @ts-expect-error duplicate passes the cube key string
  sub.on('duplicate', (key: number) => void key);
  sub.on('missing', (device: string, sequence: number, reason) => void [device, sequence, reason]);
  // @ts-expect-error missing passes the sequence as a number
  sub.on('missing', (device: string, sequence: string) => void [device, sequence]);
}

const options: PublisherOptions = { broker: 'mqtt://127.0.0.1', device: 'cam', protocolVersion: 5 };
// @ts-expect-error MQTT 3 is not supported
const bad: PublisherOptions = { broker: 'mqtt://127.0.0.1', device: 'cam', protocolVersion: 3 };
const pulling: PublisherOptions = { broker: 'mqtt://127.0.0.1', device: 'cam', receiptGroup: 'fusers', delivery: 'pull' };
// @ts-expect-error delivery is 'push' or 'pull'
const badDelivery: PublisherOptions = { broker: 'mqtt://127.0.0.1', device: 'cam', delivery: 'fetch' };

t.test('types: event maps and options compile as documented', async (t) => {
  t.type(publisherEvents, 'function');
  t.type(subscriberEvents, 'function');
  t.equal(options.device, 'cam');
  t.equal(bad.device, 'cam');
  t.equal(pulling.delivery, 'pull');
  t.equal(badDelivery.device, 'cam');
});
