import t from 'tap';
import { CubeIntegrityError, CubeProtocolError, IncompleteCubeError, ReassemblyLimitError } from '../../sdk/publish/errors';
import { decodeChunk, decodeControl, decodeMeta, directTopic, parseCubeTopic, parseDirectTopic } from '../../sdk/publish/protocol';
import { Reassembler, type ReassemblyEvent } from '../../sdk/publish/reassembler';
import { ShareRouter } from '../../sdk/publish/share-router';
import { cubeMessages, patternCube, rng, sameBytes } from './helpers';

const cubes = (evs: ReassemblyEvent[]) => evs.filter((e) => e.type === 'cube');
const errors = (evs: ReassemblyEvent[]) => evs.flatMap((e) => (e.type === 'error' ? [e.error] : []));

t.test('reassembles: shuffled, duplicated, chunks before meta -> exactly one bit-exact cube', async (t) => {
  const cube = patternCube(3, 10, 11, 7);
  const msgs = cubeMessages(cube, { chunkSize: 97 });
  const rand = rng(3);
  const feed = [...msgs, ...msgs.filter(() => rand() < 0.3)].sort(() => rand() - 0.5);
  const r = new Reassembler();
  const evs = feed.flatMap((m) => r.accept(m.topic, m.payload, 0));
  const got = cubes(evs);
  t.equal(got.length, 1);
  t.ok(got[0].type === 'cube' && sameBytes(got[0].cube.cube.data, cube.data));
  t.same(errors(evs), []);
  t.ok(r.stats.duplicateChunks + r.stats.duplicateCubes > 0, 'duplicates counted');
  t.equal(r.inProgress, 0);
  t.equal(r.stats.pendingBytes, 0, 'memory released');
  const again = msgs.flatMap((m) => r.accept(m.topic, m.payload, 0));
  t.same(cubes(again), [], 'a re-sent cube is not delivered twice');
});

t.test('payload ownership: chunks are copied unless handed over in buffers of their own', async (t) => {
  const cube = patternCube(2, 8, 8, 5);
  // Chunks before the meta, so every chunk is held until the last one arrives.
  const msgs = cubeMessages(cube, { chunkSize: 64 });
  const order = [...msgs.slice(1), msgs[0]];
  const run = (opts: { ownsPayloads?: boolean }, wrap: (p: Buffer) => Uint8Array) => {
    const r = new Reassembler(opts);
    const fed = order.map((m) => ({ topic: m.topic, payload: wrap(Buffer.from(m.payload)) }));
    const evs: ReassemblyEvent[] = [];
    for (const m of fed.slice(0, -1)) evs.push(...r.accept(m.topic, m.payload));
    // The caller scribbles over every chunk it has fed so far, then sends the meta.
    for (const m of fed.slice(0, -1)) m.payload.fill(0xee);
    evs.push(...r.accept(fed[fed.length - 1].topic, fed[fed.length - 1].payload));
    return evs;
  };
  const exclusive = (p: Buffer) => new Uint8Array(p);
  const inBigBuffer = (p: Buffer) => {
    const big = new Uint8Array(p.length + 100);
    big.set(p, 50);
    return big.subarray(50, 50 + p.length);
  };
  const copied = cubes(run({}, exclusive));
  t.equal(copied.length, 1, 'by default every chunk is copied, so later writes by the caller do not matter');
  t.ok(copied[0].type === 'cube' && sameBytes(copied[0].cube.cube.data, cube.data));
  const viewed = cubes(run({ ownsPayloads: true }, inBigBuffer));
  t.equal(viewed.length, 1, 'a payload that is a view into a larger buffer is still copied');
  t.ok(viewed[0].type === 'cube' && sameBytes(viewed[0].cube.cube.data, cube.data));
  const kept = run({ ownsPayloads: true }, exclusive);
  t.same(cubes(kept), [], 'handed-over buffers are kept as they are: writing to them afterwards breaks the cube');
  t.type(errors(kept)[0], CubeIntegrityError, 'and the sha256 check catches it');
});

t.test('reports: missing chunks after the timeout, naming them', async (t) => {
  const msgs = cubeMessages(patternCube(2, 8, 8, 1), { chunkSize: 64 });
  const r = new Reassembler({ timeoutMs: 1000 });
  for (const m of msgs.filter((_, i) => i !== 3 && i !== 5)) r.accept(m.topic, m.payload, 0);
  t.same(r.sweep(999), [], 'not before the timeout');
  const errs = errors(r.sweep(1000));
  t.equal(errs.length, 1);
  t.type(errs[0], IncompleteCubeError);
  t.same((errs[0] as IncompleteCubeError).missing, [2, 4]);
  t.match(errs[0].message, /2 of 8 chunks never arrived \(2, 4\)/);
  t.equal(r.stats.pendingBytes, 0);
});

t.test('rejects: a payload that does not match its sha256 is never delivered', async (t) => {
  const msgs = cubeMessages(patternCube(2, 8, 8, 1), { chunkSize: 64 });
  const bad = Buffer.from(msgs[2].payload);
  bad[bad.length - 1] ^= 1;
  const r = new Reassembler();
  const evs = [msgs[0], msgs[1], { topic: msgs[2].topic, payload: bad }, ...msgs.slice(3)].flatMap((m) => r.accept(m.topic, m.payload));
  t.same(cubes(evs), []);
  t.type(errors(evs)[0], CubeIntegrityError);
});

t.test('rejects: hostile metas and chunks with typed errors, before allocating', async (t) => {
  const good = cubeMessages(patternCube(2, 4, 4, 1), { chunkSize: 64 });
  const meta = JSON.parse(good[0].payload.toString()) as Record<string, unknown>;
  const variants: [string, unknown, RegExp][] = [
    ['huge shape', { ...meta, shape: [100000, 100000, 100000], payloadBytes: 4e15 }, /exceeds/],
    ['negative size', { ...meta, shape: [-1, 4, 4] }, /positive integers/],
    ['payloadBytes lies', { ...meta, payloadBytes: 12 }, /payloadBytes/],
    ['chunkCount lies', { ...meta, chunkCount: 1 }, /chunkCount/],
    ['other protocol', { ...meta, protocol: 'spectra-cube/9' }, /protocol/],
    ['device mismatch', { ...meta, device: 'other' }, /device/],
    ['bad sha', { ...meta, sha256: 'zz' }, /sha256/],
    ['big endian', { ...meta, byteOrder: 'big' }, /little/],
    ['array', [1, 2], /JSON object/],
  ];
  for (const [name, body, pattern] of variants) {
    const r = new Reassembler();
    const errs = errors(r.accept(good[0].topic, Buffer.from(JSON.stringify(body))));
    t.type(errs[0], CubeProtocolError, name);
    t.match(errs[0]?.message, pattern, name);
  }
  const r = new Reassembler({ maxPendingBytes: 4200 });
  r.accept(good[0].topic, good[0].payload);
  const overflow = errors(r.accept(good[1].topic, good[1].payload));
  t.type(overflow[0], ReassemblyLimitError, 'memory bound');
  t.match(overflow[0]?.message, /pending reassembly memory/);
  t.ok(r.stats.pendingBytes <= 4200, 'never over the bound');
  const chunk = Buffer.from(good[1].payload);
  const wrongTopic = good[1].topic.replace(/chunk\/0$/, 'chunk/1');
  t.match(errors(new Reassembler().accept(wrongTopic, chunk))[0]?.message, /topic says 1/);
  t.match(errors(new Reassembler().accept(good[1].topic, chunk.subarray(0, 10)))[0]?.message, /shorter than its 32-byte header/);
  t.match(errors(new Reassembler().accept('spectra/x/cube/1/other', chunk))[0]?.message, /not a cube topic/);
  t.throws(() => decodeMeta(good[1].topic, good[0].payload), CubeProtocolError);
  t.throws(() => decodeChunk(good[0].topic, chunk), CubeProtocolError);
});

t.test('fuzz: mutated, truncated and extended messages never crash and never yield a corrupt cube', async (t) => {
  const cube = patternCube(2, 6, 7, 11);
  const msgs = cubeMessages(cube, { chunkSize: 64 });
  const rand = rng(20261127);
  let delivered = 0;
  let rejected = 0;
  for (let round = 0; round < 400; round++) {
    const r = new Reassembler({ timeoutMs: 10 });
    const feed = msgs.map((m) => ({ topic: m.topic, payload: Buffer.from(m.payload) }));
    const hits = 1 + Math.floor(rand() * 3);
    for (let h = 0; h < hits; h++) {
      const m = feed[Math.floor(rand() * feed.length)];
      const kind = rand();
      if (kind < 0.4) {
        m.payload[Math.floor(rand() * m.payload.length)] ^= 1 << Math.floor(rand() * 8);
      } else if (kind < 0.6) {
        m.payload = m.payload.subarray(0, Math.floor(rand() * m.payload.length));
      } else if (kind < 0.75) {
        m.payload = Buffer.concat([m.payload, Buffer.from([Math.floor(rand() * 256)])]);
      } else if (kind < 0.9) {
        const other = feed[Math.floor(rand() * feed.length)];
        m.topic = other.topic;
      } else {
        m.payload = Buffer.from(Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256)));
      }
    }
    feed.sort(() => rand() - 0.5);
    let evs: ReassemblyEvent[] = [];
    t.doesNotThrow(() => {
      evs = feed.flatMap((m) => r.accept(m.topic, m.payload, 0));
      evs.push(...r.sweep(100));
    });
    for (const e of evs) {
      if (e.type === 'cube') {
        delivered++;
        if (!sameBytes(e.cube.cube.data, cube.data)) t.fail(`round ${round}: a corrupt cube was delivered`);
      } else if (e.type === 'error') rejected++;
    }
    t.equal(r.inProgress, 0, `round ${round}: nothing left pending after the sweep`);
  }
  t.ok(rejected > 300, `${rejected} problems reported`);
  t.ok(delivered < 400, `${delivered} intact cubes delivered (mutations that changed nothing, or duplicates)`);
});

t.test('share router: each cube goes whole to the member that got its meta', async (t) => {
  const a = new ShareRouter('g', 'member-a');
  const b = new ShareRouter('g', 'member-b');
  const msgs = cubeMessages(patternCube(2, 8, 8, 3), { chunkSize: 64 });
  const ra = new Reassembler();
  const rb = new Reassembler();
  const bus: { to: 'a' | 'b' | 'both'; topic: string; payload: Uint8Array }[] = [];
  // Round-robin like mosquitto: even messages to a (which gets the meta), odd to b; b sees its chunks before the claim.
  msgs.forEach((m, i) => bus.push({ to: i % 2 === 0 ? 'a' : 'b', ...m }));
  const evs: ReassemblyEvent[] = [];
  for (let n = 0; n < 1000 && bus.length > 0; n++) {
    const m = bus.shift()!;
    for (const [name, router, re] of [['a', a, ra], ['b', b, rb]] as const) {
      if (m.to !== name && m.to !== 'both') continue;
      const out = router.route(m.topic, m.payload, 0);
      for (const l of out.local) evs.push(...re.accept(l.topic, l.payload, 0).map((e) => ({ ...e, who: name })));
      for (const p of out.publish) {
        const inbox = /^spectra-share\/g\/inbox\/member-(a|b)\//.exec(p.topic);
        bus.push({ to: inbox ? (inbox[1] as 'a' | 'b') : 'both', topic: p.topic, payload: p.payload });
      }
    }
  }
  const done = cubes(evs) as (ReassemblyEvent & { who: string })[];
  t.equal(done.length, 1, 'one cube');
  t.equal(done[0].who, 'a', 'at the member that received the meta');
  t.same(errors(evs), []);
  t.equal(rb.inProgress, 0, 'b holds nothing');
  t.equal(parseCubeTopic(msgs[1].topic)?.kind, 'chunk');
  t.equal(b.stats.forwarded, Math.floor(msgs.length / 2), 'b forwarded every chunk it was dealt (each crossed the broker twice)');
});

t.test('share router: an offer is answered with a pull, the pulled cube arrives on the direct topics, nothing is forwarded', async (t) => {
  const msgs = cubeMessages(patternCube(2, 8, 8, 5), { chunkSize: 64, device: 'cam', sequence: 7, cubeId: 'fedcba9876543210' });
  const stored = new Set<string>();
  const a = new ShareRouter('g', 'member-a', { consumerGroup: 'g', isStored: (k) => stored.has(k) });
  t.same(a.pullFilters('cam'), ['$share/g/spectra/cam/offer/g', 'spectra/cam/to/member-a/#']);
  const offer = Buffer.from(JSON.stringify({ protocol: 'spectra-cube/2', sequence: 7, cubeId: 'fedcba9876543210' }));
  const pulled = a.route('spectra/cam/offer/g', offer, 0);
  t.same(pulled.local, []);
  t.equal(pulled.publish.length, 1);
  t.equal(pulled.publish[0].topic, 'spectra/cam/pull/g');
  const req = decodeControl(pulled.publish[0].topic, pulled.publish[0].payload);
  t.same(req, { kind: 'pull', device: 'cam', group: 'g', request: { protocol: 'spectra-cube/2', sequence: 7, cubeId: 'fedcba9876543210', consumer: 'member-a' } });
  // The device answers on member-a's direct topics: each goes to the reassembler under its cube topic.
  const re = new Reassembler();
  const evs: ReassemblyEvent[] = [];
  for (const m of msgs) {
    t.same(parseDirectTopic(directTopic('member-a', m.topic)), { consumer: 'member-a', cubeTopic: m.topic });
    const out = a.route(directTopic('member-a', m.topic), m.payload, 0);
    t.same(out.publish, []);
    for (const l of out.local) evs.push(...re.accept(l.topic, l.payload, 0));
  }
  t.equal(cubes(evs).length, 1, 'one cube');
  t.same(errors(evs), []);
  t.same(a.route(directTopic('member-b', msgs[1].topic), msgs[1].payload, 0), { local: [], publish: [] }, "another member's direct topic is ignored");
  // A re-offer of a cube already stored here is answered with the receipt, not a second pull.
  stored.add('cam/7/fedcba9876543210');
  t.same(a.route('spectra/cam/offer/g', offer, 0), { local: [], publish: [], receipts: ['cam/7/fedcba9876543210'] });
  // The same when the device offers it again to this member only (its receipt was overdue).
  t.equal(directTopic('member-a', 'spectra/cam/offer/g'), 'spectra/cam/to/member-a/offer/g');
  t.same(a.route('spectra/cam/to/member-a/offer/g', offer, 0), { local: [], publish: [], receipts: ['cam/7/fedcba9876543210'] });
  t.same(a.route('spectra/cam/to/member-b/offer/g', offer, 0), { local: [], publish: [] }, "another member's offer is ignored");
  // Offers of another group, malformed offers and offers with a bad cube id are not pulled.
  t.same(a.route('spectra/cam/offer/other', offer, 0), { local: [], publish: [] });
  t.same(a.route('spectra/cam/offer/g', Buffer.from('{'), 0), { local: [], publish: [] });
  t.same(a.route('spectra/cam/offer/g', Buffer.from(JSON.stringify({ protocol: 'spectra-cube/2', sequence: 7, cubeId: 'X' })), 0), { local: [], publish: [] });
  t.match(a.stats, { offers: 3, pulls: 1, direct: msgs.length, forwarded: 0 });
  // Pull requests are refused when their consumer cannot be a topic level.
  t.throws(() => decodeControl('spectra/cam/pull/g', Buffer.from(JSON.stringify({ protocol: 'spectra-cube/2', sequence: 1, cubeId: 'fedcba9876543210', consumer: 'x'.repeat(65) }))), CubeProtocolError);
  t.throws(() => directTopic('m', 'spectra/cam/status'), RangeError);
});

t.test('share router: two claims for one cube, the smaller client id wins and the loser hands over', async (t) => {
  const msgs = cubeMessages(patternCube(2, 8, 8, 4), { chunkSize: 64 });
  const key = 'fuzz/0/0123456789abcdef';
  const z = new ShareRouter('g', 'member-z');
  // z receives the meta and two chunks first and claims the cube.
  const first = z.route(msgs[0].topic, msgs[0].payload, 0);
  t.same(first.publish.map((p) => p.topic), [`spectra-share/g/claim/${key}`]);
  t.equal(first.local.length, 1);
  z.route(msgs[1].topic, msgs[1].payload, 0);
  z.route(msgs[2].topic, msgs[2].payload, 0);
  // a re-sent meta went to member-a, which claimed too; its claim reaches z.
  const lost = z.route(`spectra-share/g/claim/${key}`, Buffer.from('member-a'), 0);
  t.same(
    lost.publish.map((p) => p.topic),
    [msgs[0].topic, msgs[1].topic, msgs[2].topic].map((topic) => `spectra-share/g/inbox/member-a/${topic}`),
    'everything z held is forwarded to the winner',
  );
  const later = z.route(msgs[3].topic, msgs[3].payload, 0);
  t.same(later.publish.map((p) => p.topic), [`spectra-share/g/inbox/member-a/${msgs[3].topic}`], 'later chunks go to the winner');
  t.same(later.local, []);
  const ignored = z.route(`spectra-share/g/claim/${key}`, Buffer.from('member-q'), 0);
  t.same(ignored.publish, [], 'a larger id does not take over');
  // Chunks parked without any claim are dropped after parkMs.
  const y = new ShareRouter('g', 'member-y', { parkMs: 100 });
  t.same(y.route(msgs[4].topic, msgs[4].payload, 0), { local: [], publish: [] });
  t.equal(y.sweep(50), 0);
  t.equal(y.sweep(200), 1);
  t.throws(() => new ShareRouter('a/b', 'x'), RangeError);
});
