import t from 'tap';
import { BrokerConnectionError, PacketTooLargeError } from '../../sdk/publish/errors';
import { CubePublisher } from '../../sdk/publish/publisher';
import { CubeSubscriber, type ReceivedCube } from '../../sdk/publish/subscriber';
import { SpectraError } from '../../sdk/core/errors';
import { freePort, mosquittoMissing, startMosquitto } from '../helpers/mosquitto';
import { patternCube, sameBytes, until } from './helpers';

const skip = mosquittoMissing();
const quiet = (): void => {};

t.test('rejects: wrong credentials with a clear error', { skip }, async (t) => {
  const broker = await startMosquitto({ credentials: { username: 'cam', password: 'right' } });
  t.teardown(() => broker.dispose());
  for (const protocolVersion of [5, 4] as const) {
    const err = await CubePublisher.connect({ broker: broker.url, device: 'c', username: 'cam', password: 'wrong', protocolVersion, log: quiet }).catch((e: unknown) => e);
    t.type(err, BrokerConnectionError, `MQTT ${protocolVersion}`);
    t.ok(err instanceof SpectraError);
    t.equal((err as BrokerConnectionError).code, 'E_BROKER_CONNECT');
    t.match((err as Error).message, /refused the user name or password|not authori[sz]ed/);
  }
  const ok = await CubePublisher.connect({ broker: broker.url, device: 'c', username: 'cam', password: 'right', log: quiet });
  await ok.close();
});

t.test('rejects: TLS with an untrusted CA, TLS without a client certificate, plain MQTT on nothing', { skip }, async (t) => {
  const broker = await startMosquitto({ tls: { requireClientCert: true } });
  t.teardown(() => broker.dispose());
  const pki = broker.pki!;
  const wrongCa = await CubePublisher.connect({ broker: broker.tlsUrl!, device: 'c', tls: { ca: pki.otherCa }, connectTimeoutMs: 3000, log: quiet }).catch((e: unknown) => e);
  t.type(wrongCa, BrokerConnectionError);
  t.match((wrongCa as Error).message, /TLS handshake failed/);
  const noCert = await CubePublisher.connect({ broker: broker.tlsUrl!, device: 'c', tls: { ca: pki.ca }, connectTimeoutMs: 3000, log: quiet }).catch((e: unknown) => e);
  t.type(noCert, BrokerConnectionError, 'a listener demanding client certificates refuses one without');
  const missingFile = await CubePublisher.connect({ broker: broker.tlsUrl!, device: 'c', tls: { ca: '/nonexistent/ca.pem' }, log: quiet }).catch((e: unknown) => e);
  t.type(missingFile, BrokerConnectionError);
  t.match((missingFile as Error).message, /cannot read the TLS CA file '\/nonexistent\/ca.pem'/);
  const refused = await CubePublisher.connect({ broker: `mqtt://127.0.0.1:${await freePort()}`, device: 'c', connectTimeoutMs: 3000, log: quiet }).catch((e: unknown) => e);
  t.type(refused, BrokerConnectionError);
  t.match((refused as Error).message, /connection refused|cannot connect/);

  const sub = await CubeSubscriber.connect({ broker: broker.tlsUrl!, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, log: quiet });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const pub = await CubePublisher.connect({ broker: broker.tlsUrl!, device: 'tls', tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, log: quiet });
  const cube = patternCube(3, 16, 16, 9);
  await pub.publish(cube);
  await until(() => got.length === 1, 10_000, 'the cube over TLS');
  t.ok(sameBytes(got[0].cube.data, cube.data), 'with the right CA and client certificate the cube arrives');
  await pub.close();
  await sub.close();
});

t.test('limits: chunks shrink to the broker maximum packet size; nothing larger is ever sent', { skip }, async (t) => {
  const limit = 8192;
  const broker = await startMosquitto({ maxPacketSize: limit });
  t.teardown(() => broker.dispose());
  const sub = await CubeSubscriber.connect({ broker: broker.url, log: quiet });
  const got: ReceivedCube[] = [];
  sub.on('cube', (c) => got.push(c));
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'small', chunkSize: 256 * 1024, log: quiet });
  let offline = 0;
  pub.on('offline', () => offline++);
  t.equal(pub.maxPacketSize, limit, 'Maximum Packet Size taken from CONNACK');
  const cube = patternCube(4, 64, 64, 4);
  await pub.publish(cube, { sequence: 1 });
  t.ok(await pub.drain(10_000));
  await until(() => got.length === 1, 10_000, 'the cube');
  t.ok(got[0].meta.chunkSize < limit && got[0].meta.chunkSize > limit - 200, `chunk size ${got[0].meta.chunkSize} just under ${limit}`);
  t.ok(sameBytes(got[0].cube.data, cube.data));
  t.equal(offline, 0, 'the broker never dropped the connection (no oversized packet)');

  // A meta with thousands of wavelengths cannot fit 8 KiB: refused before sending, the connection stays up.
  const rejected: [number, Error][] = [];
  pub.on('cube-rejected', (seq, err) => rejected.push([seq, err]));
  const wide = { ...patternCube(2000, 1, 2, 5) };
  await pub.publish(wide, { sequence: 2 });
  await until(() => rejected.length === 1, 10_000, 'the rejection');
  t.equal(rejected[0][0], 2);
  t.type(rejected[0][1], PacketTooLargeError);
  t.match(rejected[0][1].message, /exceeds the broker's maximum packet size of 8192 bytes/);
  await pub.publish(patternCube(4, 8, 8, 6), { sequence: 3 });
  t.ok(await pub.drain(10_000), 'later cubes still go through');
  t.equal(offline, 0);
  t.equal(pub.metrics().rejected, 1);
  await pub.close();
  await sub.close();
});

t.test('limits: MQTT 3.1.1 has no CONNACK limit, so maxPacketSize is honoured', { skip }, async (t) => {
  const broker = await startMosquitto({ maxPacketSize: 4096 });
  t.teardown(() => broker.dispose());
  const pub = await CubePublisher.connect({ broker: broker.url, device: 'v4', protocolVersion: 4, maxPacketSize: 4096, log: quiet });
  let offline = 0;
  pub.on('offline', () => offline++);
  await pub.publish(patternCube(4, 32, 32, 7));
  t.ok(await pub.drain(10_000));
  t.equal(offline, 0);
  t.equal(pub.maxPacketSize, 4096);
  await pub.close();
});

t.test('rejects: bad arguments synchronously', async (t) => {
  t.throws(() => CubePublisher.connect({ broker: 'mqtt://127.0.0.1:1', device: 'a/b' }), RangeError);
  t.throws(() => CubePublisher.connect({ broker: 'mqtt://127.0.0.1:1', device: 'cam', window: 0 }), /window/);
  t.throws(() => CubePublisher.connect({ broker: 'mqtt://127.0.0.1:1', device: 'cam', maxPacketSize: 10 }), /maxPacketSize/);
  t.throws(() => CubePublisher.connect({ broker: 'mqtt://127.0.0.1:1', device: 'cam', delivery: 'pull' }), /delivery 'pull' needs receiptGroup/);
  t.throws(() => CubePublisher.connect({ broker: 'mqtt://127.0.0.1:1', device: 'cam', receiptGroup: 'g', delivery: 'fetch' as 'pull' }), /Expected delivery 'push' or 'pull'/);
  t.throws(() => CubeSubscriber.connect({ broker: 'mqtt://127.0.0.1:1', share: 'a/b' }), RangeError);
  t.throws(() => CubeSubscriber.connect({ broker: 'mqtt://127.0.0.1:1', share: 'g', protocolVersion: 4 }), /protocolVersion 5/);
});
