/**
 * Security defaults (issue 17): the viewer's /mqtt bridge checks Origin, nothing binds beyond loopback without
 * an explicit flag, the embedded broker then requires credentials, and credentials never appear in messages.
 */
import t from 'tap';
import WebSocket from 'ws';
import { CubeSubscriber } from '../../sdk/publish/subscriber';
import { EmbeddedBroker } from '../../sdk/publish/embedded-broker';
import { BrokerConnectionError, redactUrl } from '../../sdk/publish/errors';
import { ViewServer } from '../../viewer/server';

const quiet = (): void => {};

/** Opens a WebSocket to `url` with an Origin header; resolves 'open' or the HTTP status of the refusal. */
function handshake(url: string, origin?: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'mqtt', origin !== undefined ? { origin } : {});
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(String(res.statusCode));
      ws.terminate();
    });
    ws.once('error', (err) => resolve(`error: ${err.message}`));
  });
}

t.test('viewer: the /mqtt bridge refuses foreign origins and accepts its own page and listed origins', async (t) => {
  const view = await ViewServer.start({ port: 0, mqttPort: 0, allowedOrigins: ['http://dashboard.example:9000'], log: quiet });
  t.teardown(() => view.close());
  const page = new URL(view.url);
  const bridge = `ws://${page.host}/mqtt`;
  t.equal(await handshake(bridge, 'http://evil.example'), '403', 'a foreign page is refused');
  t.equal(await handshake(bridge, `http://${page.hostname}:${Number(page.port) + 1}`), '403', 'same host, other port: another origin');
  t.equal(await handshake(bridge, `http://${page.host}`), 'open', "the viewer's own page");
  t.equal(await handshake(bridge, 'http://dashboard.example:9000'), 'open', 'an allowed origin');
  t.equal(await handshake(bridge), 'open', 'a non-browser client (no Origin)');
});

t.test('viewer and embedded broker: beyond loopback only with an explicit flag, and then only with credentials', async (t) => {
  await t.rejects(ViewServer.start({ host: '0.0.0.0', port: 0, mqttPort: 0, log: quiet }), RangeError);
  await t.rejects(ViewServer.start({ host: '0.0.0.0', port: 0, mqttPort: 0, allowRemote: true, log: quiet }), /credentials/);
  await t.rejects(EmbeddedBroker.start({ host: '0.0.0.0', port: 0, wsPort: null, log: quiet }), /loopback/);
  const broker = await EmbeddedBroker.start({ host: '0.0.0.0', port: 0, wsPort: null, allowRemote: true, credentials: { username: 'cam', password: 'pw-123' }, log: quiet });
  t.teardown(() => broker.close());
  const url = broker.url.replace('0.0.0.0', '127.0.0.1');
  const refused = await CubeSubscriber.connect({ broker: url, protocolVersion: 4, log: quiet }).then(
    (s) => s.close().then(() => undefined),
    (e: unknown) => e,
  );
  t.type(refused, BrokerConnectionError, 'anonymous clients are refused');
  t.match((refused as Error).message, /user name or password/);
  const wrong = await CubeSubscriber.connect({ broker: url, protocolVersion: 4, username: 'cam', password: 'nope', log: quiet }).then(
    (s) => s.close().then(() => undefined),
    (e: unknown) => e,
  );
  t.type(wrong, BrokerConnectionError, 'a wrong password is refused');
  const ok = await CubeSubscriber.connect({ broker: url.replace('mqtt://', 'mqtt://cam:pw-123@'), protocolVersion: 4, log: quiet });
  t.ok(ok, 'credentials from the URL work');
  await ok.close();
});

t.test('credentials: never in an error message or a redacted URL', async (t) => {
  t.equal(redactUrl('mqtts://user:s3cret@broker.example:8883/x'), 'mqtts://***@broker.example:8883/x');
  t.equal(redactUrl('mqtt://127.0.0.1:1883'), 'mqtt://127.0.0.1:1883');
  const lines: string[] = [];
  const err = await CubeSubscriber.connect({ broker: 'mqtt://user:s3cret@127.0.0.1:1', connectTimeoutMs: 2000, log: (_l, m) => lines.push(m) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, BrokerConnectionError);
  t.notMatch((err as Error).message, /s3cret/);
  t.notMatch((err as BrokerConnectionError).url, /s3cret/);
  t.notMatch(lines.join('\n'), /s3cret/);
});
