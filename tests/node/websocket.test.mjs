// GET /v1/ws with a real, independent WebSocket client (npm `ws`) against the real herald
// process: many subscriptions on one socket, publish and ack over it, resume and gap notices,
// auth (per command, token expiry, refresh), Origin, bad input (malformed, unknown, oversized and
// binary messages change nothing), a peer that stops answering pings, shutdown (close 1001 with a
// retry hint) and 1,000 sockets connecting and vanishing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { HERALD, freePort, sleep, mintHs256 } from './browser-support.mjs';

const SECRET = 'websocket-test-secret-0123456789-abcdefgh';
const now = () => Math.floor(Date.now() / 1000);

const mint = (claims) => mintHs256(SECRET, claims);

/// A hub on a free loopback port with `config`, in a fresh data dir.
async function startHub(config = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-ws-'));
  const port = await freePort();
  const file = join(dir, 'herald.json');
  writeFileSync(file, JSON.stringify(config));
  const proc = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir',
    join(dir, 'db'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.output = '';
  proc.stdout.on('data', (d) => { proc.output += d; });
  proc.stderr.on('data', (d) => { proc.output += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/readyz`)).status === 200) break; } catch { /* starting */ }
    if (i > 500) throw new Error(`hub not ready:\n${proc.output}`);
    await sleep(20);
  }
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  return {
    base, url: `ws://127.0.0.1:${port}/v1/ws`, proc, exited,
    stats: async (headers = {}) => (await fetch(`${base}/v1/stats`, { headers })).json(),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/// A client socket whose messages are collected; `next(pred)` waits for the first match not
/// returned before (replies may come in any order).
function connect(url, options = {}) {
  const ws = new WebSocket(url, options);
  const got = [];
  const waiters = [];
  ws.on('message', (data, binary) => {
    const m = binary ? { binary: true } : JSON.parse(data.toString());
    got.push(m);
    for (const w of [...waiters]) w();
  });
  ws.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: `${reason}` })));
  ws.opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
    ws.on('unexpected-response', (req, res) => reject(Object.assign(new Error('refused'),
      { status: res.statusCode })));
  });
  const taken = new Set(); // indices of got already returned by next()
  ws.got = got;
  ws.next = (pred = () => true, what = 'a message', timeoutMs = 10000) => new Promise((resolve, reject) => {
    const check = () => {
      for (let i = 0; i < got.length; i++) {
        if (!taken.has(i) && pred(got[i])) {
          taken.add(i);
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve(got[i]);
          return;
        }
      }
    };
    const timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(check), 1);
      reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(got.slice(-5))}`));
    }, timeoutMs);
    waiters.push(check);
    check();
  });
  ws.cmd = (m) => ws.send(JSON.stringify(m));
  ws.reply = (key, value) => ws.next((m) => m.op === 'reply' && m[key] === value, `reply ${key}=${value}`);
  return ws;
}

async function publishHttp(base, events, headers = {}) {
  const res = await fetch(`${base}/v1/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(events),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const body = await res.json();
  return body.ids ?? [body.id];
}

test('many subscriptions on one socket, publish over it, each event once per subscription in log order', async () => {
  const hub = await startHub();
  try {
    const ws = connect(hub.url);
    await ws.opened;
    ws.cmd({ op: 'subscribe', req: 'r1', sub: 'orders', topics: ['orders/*'] });
    ws.cmd({ op: 'subscribe', req: 'r2', sub: 'all', topics: ['orders/*', 'news'] });
    assert.equal((await ws.reply('req', 'r1')).status, 200);
    assert.equal((await ws.reply('req', 'r2')).status, 200);

    const ids = [];
    for (let i = 0; i < 20; i++) {
      ws.cmd({ op: 'publish', req: `p${i}`, topic: i % 2 ? 'news' : `orders/${i}`, type: 'created', data: { i } });
    }
    for (let i = 0; i < 20; i++) {
      const r = await ws.reply('req', `p${i}`);
      assert.equal(r.status, 201);
      ids.push(r.body.id);
    }
    ids.push(...await publishHttp(hub.base, [{ topic: 'orders/99', data: { i: 20 } }]));
    await ws.next((m) => m.op === 'event' && m.sub === 'orders' && m.id === ids[20], 'last orders event');
    await ws.next((m) => m.op === 'event' && m.sub === 'all' && m.id === ids[20], 'last all event');
    const of = (sub) => ws.got.filter((m) => m.op === 'event' && m.sub === sub);
    assert.deepEqual(of('orders').map((m) => m.data.i), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    assert.deepEqual(of('all').map((m) => m.data.i), [...Array(21).keys()]);
    assert.deepEqual(of('all').map((m) => m.id), ids);
    const first = of('orders')[0];
    assert.equal(first.topic, 'orders/0');
    assert.equal(first.type, 'created');

    // Unsubscribe: no further events for it; the other goes on.
    ws.cmd({ op: 'unsubscribe', req: 'u', sub: 'orders' });
    assert.equal((await ws.reply('req', 'u')).status, 200);
    const [late] = await publishHttp(hub.base, [{ topic: 'orders/100', data: { i: 21 } }]);
    await ws.next((m) => m.op === 'event' && m.sub === 'all' && m.id === late, 'late event');
    await sleep(100);
    assert.equal(of('orders').length, 11);
    // The same name again is fine once unsubscribed; a name in use is not.
    ws.cmd({ op: 'subscribe', req: 'r3', sub: 'all', topics: ['x'] });
    const dup = await ws.reply('req', 'r3');
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, 'subscription_exists');
    ws.close();
    await ws.closed;
  } finally {
    await hub.stop();
  }
});

test('resume from a last event id replays what was missed; an id from another log gets a gap notice', async () => {
  const hub = await startHub();
  try {
    const ids = await publishHttp(hub.base, [1, 2, 3, 4, 5].map((i) => ({ topic: 't', data: i })));
    const ws = connect(hub.url);
    await ws.opened;
    ws.cmd({ op: 'subscribe', sub: 'a', topics: ['t'], last_event_id: ids[1] });
    await ws.next((m) => m.op === 'reply' && m.sub === 'a', 'subscribed');
    await ws.next((m) => m.op === 'event' && m.id === ids[4], 'replayed');
    assert.deepEqual(ws.got.filter((m) => m.op === 'event').map((m) => m.data), [3, 4, 5]);

    ws.cmd({ op: 'subscribe', sub: 'b', topics: ['t'], last_event_id: '00000001-3' });
    const gap = await ws.next((m) => m.op === 'gap' && m.sub === 'b', 'gap notice');
    assert.equal(gap.data.reason, 'unknown_log');
    await ws.next((m) => m.op === 'event' && m.sub === 'b' && m.id === ids[4], 'everything retained');

    ws.cmd({ op: 'subscribe', req: 'bad', sub: 'c', topics: ['t'], last_event_id: 'nonsense' });
    const bad = await ws.reply('req', 'bad');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_id');
    ws.close();
  } finally {
    await hub.stop();
  }
});

test('malformed, unknown, oversized and binary messages get an error and change nothing', async () => {
  const hub = await startHub({ websocket: { max_message_bytes: 4096 } });
  try {
    const ws = connect(hub.url);
    await ws.opened;
    const before = await hub.stats();
    const error = (code) => ws.next((m) => m.op === 'error' && m.error.code === code, code);
    ws.send('{"op":"publish","topic":"t",');
    await error('malformed_json');
    ws.cmd({ op: 'shout', req: 'x' });
    assert.equal((await error('unknown_op')).req, 'x');
    ws.cmd({ op: 'publish', topic: 't', data: 'x'.repeat(10000) });
    await error('message_too_big');
    ws.send(Buffer.from([0x7b, 0x7d]), { binary: true });
    await error('binary_message');
    ws.send('['.repeat(5000) + ']'.repeat(5000 - 4096 + 100));
    await error('message_too_big');
    ws.send('['.repeat(100) + ']'.repeat(100));
    await error('too_deep');
    ws.cmd({ op: 'subscribe', sub: 'a', topics: ['t'], extra: 1 });
    await error('unknown_field');
    ws.cmd({ op: 'publish', req: 'bad', topic: 't' });
    const missing = await ws.reply('req', 'bad');
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'missing_data');
    // Still open and working after all of it, and nothing was published.
    ws.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: ['t'] });
    assert.equal((await ws.reply('req', 's')).status, 200);
    const after = await hub.stats();
    assert.equal(after.events_published, before.events_published);
    assert.equal(after.log_head, before.log_head);
    assert.equal(after.websocket_refusals - before.websocket_refusals, 7);
    ws.close();
    await ws.closed;
  } finally {
    await hub.stop();
  }
});

test('a peer that stops answering pings is closed, and its subscriptions are cleaned up', async () => {
  const hub = await startHub({ websocket: { ping_seconds: 1 } });
  try {
    const base = await hub.stats();
    const quiet = connect(hub.url, { autoPong: false });
    // Counted from the start: with ping_seconds 1 the first ping may come before the subscribes
    // are answered.
    let pings = 0;
    quiet.on('ping', () => { pings++; });
    const lively = connect(hub.url);
    await quiet.opened;
    await lively.opened;
    quiet.cmd({ op: 'subscribe', req: 'q', sub: 'a', topics: ['t'] });
    lively.cmd({ op: 'subscribe', req: 'l', sub: 'a', topics: ['t'] });
    await quiet.reply('req', 'q');
    await lively.reply('req', 'l');
    assert.equal((await hub.stats()).websocket_subscriptions, 2);
    const started = Date.now();
    const closed = await Promise.race([quiet.closed, sleep(8000).then(() => null)]);
    assert.ok(closed, 'the silent peer was not closed');
    const waited = Date.now() - started;
    const seen = `close ${JSON.stringify(closed)} after ${waited} ms, ${pings} pings; hub:\n${hub.proc.output}`;
    assert.ok(pings >= 1, `no ping was sent: ${seen}`);
    assert.ok(waited < 6000, seen);
    await sleep(300);
    const s = await hub.stats();
    assert.equal(s.websockets, base.websockets + 1); // the lively one answers its pings
    assert.equal(s.websocket_subscriptions, 1);
    assert.equal(s.connection_actors, base.connection_actors + 1);
    assert.equal(lively.readyState, WebSocket.OPEN);
    lively.close();
  } finally {
    await hub.stop();
  }
});

test('1,000 sockets connecting, subscribing and vanishing leave the stats at their baseline', async () => {
  const hub = await startHub();
  try {
    const base = await hub.stats();
    for (let round = 0; round < 10; round++) {
      const batch = [];
      for (let i = 0; i < 100; i++) {
        const ws = connect(hub.url);
        batch.push(ws);
      }
      await Promise.all(batch.map((ws) => ws.opened));
      batch.forEach((ws, i) => ws.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: [`t/${i % 7}`, 'all'] }));
      await Promise.all(batch.map((ws) => ws.reply('req', 's')));
      // Half go away without a close frame, half with one.
      batch.forEach((ws, i) => (i % 2 ? ws.terminate() : ws.close()));
      await Promise.all(batch.map((ws) => ws.closed));
    }
    let s;
    for (let i = 0; i < 100; i++) {
      s = await hub.stats();
      // Topics go after their last subscriber, a step after the connections.
      if (s.websockets === base.websockets && s.websocket_subscriptions === 0
          && s.connections === base.connections && s.connection_actors === base.connection_actors
          && s.topic_actors === base.topic_actors) break;
      await sleep(50);
    }
    assert.equal(s.websockets, base.websockets);
    assert.equal(s.websocket_subscriptions, 0);
    assert.equal(s.connections, base.connections);
    assert.equal(s.connection_actors, base.connection_actors);
    assert.equal(s.topic_actors, base.topic_actors);
  } finally {
    await hub.stop();
  }
});

test('tokens: checked per command, expiry ends subscriptions with a notice, auth refreshes', async () => {
  const origin = 'http://app.example';
  const hub = await startHub({
    auth: { keys: [{ kid: 'k1', alg: 'HS256', secret: SECRET }], leeway_seconds: 0 },
    cors: { allowed_origins: [origin] },
  });
  try {
    // No token: refused at the upgrade.
    const anon = connect(hub.url);
    await assert.rejects(anon.opened, (e) => e.status === 401);
    // A forged token: refused too.
    const forged = connect(hub.url, { headers: { Authorization: `Bearer ${mint({ sub: 'x' }).slice(0, -2)}xx` } });
    await assert.rejects(forged.opened, (e) => e.status === 401);
    // A foreign page's Origin: refused (cross-site WebSocket hijacking).
    const reader = mint({ sub: 'r', exp: now() + 3, herald: { subscribe: ['t/*'] } });
    const foreign = connect(hub.url, { headers: { Authorization: `Bearer ${reader}`, Origin: 'http://evil.example' } });
    await assert.rejects(foreign.opened, (e) => e.status === 403);

    // A reader token in the query string (as a browser sends it), from an allowed origin.
    const ws = connect(`${hub.url}?access_token=${reader}`, { headers: { Origin: origin } });
    await ws.opened;
    ws.cmd({ op: 'subscribe', req: 'ok', sub: 'a', topics: ['t/1'] });
    const ok = await ws.reply('req', 'ok');
    assert.equal(ok.status, 200, JSON.stringify(ok));
    ws.cmd({ op: 'subscribe', req: 'no', sub: 'b', topics: ['private/1'] });
    const no = await ws.reply('req', 'no');
    assert.equal(no.status, 403);
    assert.equal(no.body.error.code, 'forbidden');
    ws.cmd({ op: 'publish', req: 'pub', topic: 't/1', data: 1 });
    assert.equal((await ws.reply('req', 'pub')).status, 403);

    const writer = mint({ sub: 'w', exp: now() + 600, herald: { publish: ['t/*'] } });
    const [id1] = await publishHttp(hub.base, [{ topic: 't/1', data: 1 }], { Authorization: `Bearer ${writer}` });
    await ws.next((m) => m.op === 'event' && m.id === id1, 'event before expiry');

    // The reader token expires: the subscription ends with a notice, the socket stays.
    const notice = await ws.next((m) => m.op === 'token_expired', 'token_expired', 8000);
    assert.equal(notice.sub, 'a');
    const ended = await ws.next((m) => m.op === 'ended', 'ended');
    assert.equal(ended.reason, 'token_expired');
    ws.cmd({ op: 'subscribe', req: 'late', sub: 'a', topics: ['t/1'] });
    const late = await ws.reply('req', 'late');
    assert.equal(late.status, 401);
    assert.equal(late.body.error.code, 'token_expired');

    // A fresh token over the socket, then resume from the last id seen.
    const [id2] = await publishHttp(hub.base, [{ topic: 't/1', data: 2 }], { Authorization: `Bearer ${writer}` });
    ws.cmd({ op: 'auth', req: 'bad', token: 'x.y.z' });
    assert.equal((await ws.reply('req', 'bad')).status, 401);
    const fresh = mint({ sub: 'r', exp: now() + 600, herald: { subscribe: ['t/*'], publish: ['t/*'] } });
    ws.cmd({ op: 'auth', req: 'auth', token: fresh });
    const authed = await ws.reply('req', 'auth');
    assert.equal(authed.status, 200);
    assert.ok(authed.body.expires_at > now());
    ws.cmd({ op: 'subscribe', req: 'again', sub: 'a', topics: ['t/1'], last_event_id: id1 });
    assert.equal((await ws.reply('req', 'again')).status, 200);
    const resumed = await ws.next((m) => m.op === 'event', 'resumed event');
    assert.equal(resumed.id, id2);
    ws.cmd({ op: 'publish', req: 'pub2', topic: 't/2', data: 3 });
    assert.equal((await ws.reply('req', 'pub2')).status, 201);
    ws.close();
  } finally {
    await hub.stop();
  }
});

test('a durable session attached over the socket: events to ack, acks over the same socket', async () => {
  const hub = await startHub();
  try {
    const put = await fetch(`${hub.base}/v1/sessions/worker-1`, {
      method: 'PUT', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ topics: ['jobs/*'], ack_wait_seconds: 1 }),
    });
    assert.equal(put.status, 201);
    const ids = await publishHttp(hub.base, [1, 2, 3].map((i) => ({ topic: `jobs/${i}`, data: i, ack: true })));
    const ws = connect(hub.url);
    await ws.opened;
    ws.cmd({ op: 'attach', req: 'at', sub: 'work', session: 'worker-1' });
    assert.equal((await ws.reply('req', 'at')).status, 200);
    await ws.next((m) => m.op === 'event' && m.id === ids[2], 'third event');
    const evs = ws.got.filter((m) => m.op === 'event');
    assert.deepEqual(evs.map((m) => m.id), ids);
    assert.ok(evs.every((m) => m.ack === true && m.sub === 'work'));
    ws.cmd({ op: 'ack', req: 'a1', session: 'worker-1', ids: [ids[0], ids[1]] });
    const acked = await ws.reply('req', 'a1');
    assert.equal(acked.status, 200);
    assert.equal(acked.body.acked, 2);
    // The unacked one comes back after its ack wait, as a redelivery notice (no id of its own:
    // the client's resume point does not move back).
    const again = await ws.next((m) => m.op === 'redelivery' && m.data.id === ids[2], 'redelivered', 5000);
    assert.equal(again.sub, 'work');
    assert.equal(again.data.data, 3);
    assert.ok(again.data.delivery >= 2);
    ws.cmd({ op: 'ack', req: 'a2', session: 'worker-1', ids: [ids[2]] });
    assert.equal((await ws.reply('req', 'a2')).status, 200);
    ws.cmd({ op: 'ack', req: 'a3', session: 'nobody', ids: [ids[2]] });
    assert.equal((await ws.reply('req', 'a3')).status, 404);
    const view = await (await fetch(`${hub.base}/v1/sessions/worker-1`)).json();
    assert.equal(view.pending, 0);
    ws.close();
  } finally {
    await hub.stop();
  }
});

test('a topic at its subscriber limit refuses the subscription, not the socket', async () => {
  const hub = await startHub({ limits: { max_subscribers_per_topic: 1 } });
  try {
    const ws = connect(hub.url);
    await ws.opened;
    ws.cmd({ op: 'subscribe', req: 'one', sub: 'a', topics: ['t'] });
    assert.equal((await ws.reply('req', 'one')).status, 200);
    ws.cmd({ op: 'subscribe', req: 'two', sub: 'b', topics: ['t'] });
    const two = await ws.reply('req', 'two');
    assert.equal(two.status, 503);
    assert.equal(two.body.error.code, 'topic_full');
    ws.cmd({ op: 'subscribe', req: 'three', sub: 'b', topics: ['u'] });
    assert.equal((await ws.reply('req', 'three')).status, 200);
    assert.equal((await hub.stats()).websocket_subscriptions, 2);
    ws.close();
  } finally {
    await hub.stop();
  }
});

test('shutdown closes every socket with 1001 and a retry hint', async () => {
  const hub = await startHub({ sse: { retry_ms: 1000 }, shutdown: { retry_jitter_ms: 500 } });
  try {
    const idle = connect(hub.url);
    const busy = connect(hub.url);
    await Promise.all([idle.opened, busy.opened]);
    busy.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: ['t'] });
    await busy.reply('req', 's');
    hub.proc.kill('SIGTERM');
    const [i, b] = await Promise.all([idle.closed, busy.closed]);
    for (const c of [i, b]) {
      assert.equal(c.code, 1001);
      const retry = Number(/retry_ms=(\d+)/.exec(c.reason)[1]);
      assert.ok(retry >= 1000 && retry < 1500, c.reason);
    }
    assert.ok(idle.got.some((m) => m.op === 'shutdown'));
    assert.ok(busy.got.some((m) => m.op === 'shutdown' && m.sub === 'a'));
    const { code } = await hub.exited;
    assert.equal(code, 0);
  } finally {
    await hub.stop();
  }
});

test('a text message that is not UTF-8 is closed 1007; a subscription at its max age closes the socket 1001', async () => {
  const hub = await startHub({ sse: { max_connection_age_seconds: 1, heartbeat_seconds: 1, retry_ms: 700 } });
  try {
    const bad = connect(hub.url);
    await bad.opened;
    bad.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await bad.closed).code, 1007);

    const old = connect(hub.url);
    await old.opened;
    old.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: ['t'] });
    await old.reply('req', 's');
    const closed = await Promise.race([old.closed, sleep(6000).then(() => null)]);
    assert.ok(closed, 'not closed at its max age');
    assert.equal(closed.code, 1001);
    assert.match(closed.reason, /^max_age; retry_ms=\d+$/);
  } finally {
    await hub.stop();
  }
});

test('permessage-deflate when configured and offered: both directions compressed, messages intact', async () => {
  const hub = await startHub({ websocket: { compression: true } });
  try {
    const ws = connect(hub.url, { perMessageDeflate: { threshold: 0 } });
    await ws.opened;
    assert.match(ws.extensions, /permessage-deflate/);
    ws.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: ['z/*'] });
    assert.equal((await ws.reply('req', 's')).status, 200);
    const big = { text: 'lorem ipsum '.repeat(500), n: [1, 2, 3] };
    for (let i = 0; i < 3; i++) {
      ws.cmd({ op: 'publish', req: `p${i}`, topic: `z/${i}`, data: { ...big, i } });
      assert.equal((await ws.reply('req', `p${i}`)).status, 201);
    }
    for (let i = 0; i < 3; i++) {
      const e = await ws.next((m) => m.op === 'event' && m.topic === `z/${i}`, `event ${i}`);
      assert.deepEqual(e.data, { ...big, i });
    }
    ws.close();
    // Not configured: not negotiated, even when offered.
    const plainHub = await startHub();
    try {
      const plain = connect(plainHub.url, { perMessageDeflate: { threshold: 0 } });
      await plain.opened;
      assert.equal(plain.extensions, '');
      plain.close();
    } finally {
      await plainHub.stop();
    }
  } finally {
    await hub.stop();
  }
});

test('over TLS (wss://): subscribe, publish and receive on an HTTPS hub', async () => {
  const { execFileSync } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const https = await import('node:https');
  const dir = mkdtempSync(join(tmpdir(), 'herald-wss-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', 'hub.key', '-out', 'hub.pem', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
  const ca = readFileSync(join(dir, 'hub.pem'));
  const port = await freePort();
  writeFileSync(join(dir, 'herald.json'), JSON.stringify({
    tls: { cert_file: join(dir, 'hub.pem'), key_file: join(dir, 'hub.key') },
  }));
  const proc = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'db'),
    '--config', join(dir, 'herald.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => proc.on('exit', r));
  try {
    const get = (path) => new Promise((resolve, reject) => {
      https.get(`https://localhost:${port}${path}`, { ca }, (res) => { res.resume(); resolve(res.statusCode); })
        .on('error', reject);
    });
    for (let i = 0; ; i++) {
      try { if (await get('/readyz') === 200) break; } catch { /* starting */ }
      if (i > 500) throw new Error('hub not ready');
      await sleep(20);
    }
    const ws = connect(`wss://localhost:${port}/v1/ws`, { ca });
    await ws.opened;
    ws.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: ['secure/*'] });
    assert.equal((await ws.reply('req', 's')).status, 200);
    const ids = [];
    for (let i = 0; i < 50; i++) ws.cmd({ op: 'publish', req: `p${i}`, topic: `secure/${i % 3}`, data: { i, pad: 'x'.repeat(500) } });
    for (let i = 0; i < 50; i++) ids.push((await ws.reply('req', `p${i}`)).body.id);
    await ws.next((m) => m.op === 'event' && m.id === ids[49], 'the last event');
    const events = ws.got.filter((m) => m.op === 'event');
    assert.deepEqual(events.map((m) => m.data.i), [...Array(50).keys()]);
    ws.close();
    assert.equal((await ws.closed).code, 1000);
  } finally {
    proc.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a socket that stops reading is closed as a slow consumer; the others go on', async () => {
  const hub = await startHub({ limits: { slow_consumer_bytes: 65536 } });
  try {
    const slow = connect(hub.url);
    const fast = connect(hub.url);
    await Promise.all([slow.opened, fast.opened]);
    for (const ws of [slow, fast]) ws.cmd({ op: 'subscribe', req: 's', sub: 'a', topics: ['flood'] });
    await Promise.all([slow.reply('req', 's'), fast.reply('req', 's')]);
    slow._socket.pause(); // reads nothing more: the kernel buffers fill, then the hub's queue
    // About 8 MB in all: past what the kernel buffers for the paused socket, then past its
    // queue bound. Each request's 3 events (24 KB) stay under half the bound, and the fast
    // socket reads each request's events before the next is published, so it keeps up
    // however slow the machine (or a sanitizer build) is.
    const pad = 'x'.repeat(8000);
    const rounds = 334;
    for (let i = 0; i < rounds; i++) {
      const [last] = (await publishHttp(hub.base, Array.from({ length: 3 }, (_, j) => ({ topic: 'flood', data: { i, j, pad } })))).slice(-1);
      await fast.next((m) => m.op === 'event' && m.id === last, `request ${i} at the fast one`, 20000);
    }
    let s;
    for (let i = 0; i < 100; i++) {
      s = await hub.stats();
      if (s.slow_consumer_disconnects >= 1) break;
      await sleep(50);
    }
    assert.equal(s.slow_consumer_disconnects, 1);
    assert.equal(s.websockets, 1);
    assert.equal(s.websocket_subscriptions, 1);
    slow._socket.resume();
    const closed = await slow.closed;
    assert.equal(closed.code, 1006); // no close frame: the hub could not write one
    assert.equal(fast.got.filter((m) => m.op === 'event').length, rounds * 3);
    fast.close();
  } finally {
    await hub.stop();
  }
});

test('a socket and each of its subscriptions count as streams against the per-IP limit', async () => {
  const hub = await startHub({ rate: { max_streams_per_ip: 2 } });
  try {
    const ws = connect(hub.url);
    await ws.opened;
    ws.cmd({ op: 'subscribe', req: 'a', sub: 'a', topics: ['t'] });
    assert.equal((await ws.reply('req', 'a')).status, 200);
    ws.cmd({ op: 'subscribe', req: 'b', sub: 'b', topics: ['u'] });
    const b = await ws.reply('req', 'b');
    assert.equal(b.status, 429);
    assert.equal(b.body.error.code, 'rate_limited');
    const second = connect(hub.url);
    await assert.rejects(second.opened, (e) => e.status === 429);
    ws.cmd({ op: 'unsubscribe', req: 'u', sub: 'a' });
    await ws.reply('req', 'u');
    ws.cmd({ op: 'subscribe', req: 'c', sub: 'c', topics: ['u'] });
    assert.equal((await ws.reply('req', 'c')).status, 200); // its slot came back
    ws.close();
    await ws.closed;
    await sleep(100);
    const third = connect(hub.url); // the socket's own slot came back too
    await third.opened;
    third.close();
  } finally {
    await hub.stop();
  }
});
