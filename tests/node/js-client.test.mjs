// Herald's JavaScript client (clients/js/herald.js, as the hub serves it at /v1/client.js) in
// Node against the real herald process, with the npm `ws` and `eventsource` packages as the
// WebSocket and EventSource it would find in a browser:
//  - many subscriptions on one socket, publish over it, kill -9 and restart: every event once,
//    in order, with its topic;
//  - a durable session attached over the socket, acknowledged over it;
//  - short-lived tokens refreshed by getToken: subscriptions go on across several expiries;
//  - a proxy that refuses WebSocket upgrades: the client falls back to EventSource and fetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import { HERALD, freePort, sleep, mintHs256 } from './browser-support.mjs';

const SECRET = 'js-client-test-secret-0123456789-abcdefgh';
const now = () => Math.floor(Date.now() / 1000);

const mint = (claims) => mintHs256(SECRET, claims);

/// The hub at `port` over `dir` (a restart reuses both).
function hubProcess(port, dir, config) {
  writeFileSync(join(dir, 'herald.json'), JSON.stringify(config));
  const proc = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir',
    join(dir, 'db'), '--config', join(dir, 'herald.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.exited = new Promise((r) => proc.on('exit', r));
  return proc;
}

async function startHub(config = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-js-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const hub = { dir, port, base, config, proc: null };
  hub.start = async () => {
    hub.proc = hubProcess(port, dir, config);
    for (let i = 0; ; i++) {
      try { if ((await fetch(`${base}/readyz`)).status === 200) return; } catch { /* starting */ }
      if (i > 500) throw new Error('hub not ready');
      await sleep(20);
    }
  };
  hub.kill9 = async () => { hub.proc.kill('SIGKILL'); await hub.proc.exited; };
  hub.stop = async () => {
    if (hub.proc.exitCode === null && hub.proc.signalCode === null) hub.proc.kill('SIGKILL');
    await hub.proc.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  await hub.start();
  return hub;
}

/// The client module exactly as the hub serves it.
async function loadClient(base) {
  const res = await fetch(`${base}/v1/client.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/javascript/);
  const source = await res.text();
  return import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`);
}

async function publishHttp(base, events, headers = {}) {
  const res = await fetch(`${base}/v1/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(events),
  });
  assert.equal(res.status, 201);
  return (await res.json()).ids;
}

async function allEvents(base, topic, headers = {}) {
  const out = [];
  let after = '';
  for (;;) {
    const page = await (await fetch(`${base}/v1/events?topic=${topic}&limit=1000${after ? `&after=${after}` : ''}`, { headers })).json();
    out.push(...page.events);
    if (!page.more) return out;
    after = page.next_after;
  }
}

async function until(pred, what, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

test('two subscriptions on one socket survive kill -9: every event once, in order, with its topic', async () => {
  const hub = await startHub({ sse: { retry_ms: 200 } });
  try {
    const { Herald } = await loadClient(hub.base);
    const states = [];
    const client = new Herald(hub.base, { WebSocket, retryMs: 100, onState: (s) => states.push(s) });
    const got = { orders: [], news: [] };
    const orders = client.subscribe(['orders/*'], { onEvent: (e) => got.orders.push(e) });
    const news = client.subscribe('news', { onEvent: (e) => got.news.push(e) });
    await Promise.all([orders.ready, news.ready]);
    const first = await client.publish({ topic: 'orders/1', type: 'created', data: { n: 1 } });
    const batch = await client.publish([{ topic: 'news', data: 'a' }, { topic: 'orders/2', data: { n: 2 } }]);
    assert.ok(first.id && batch.ids.length === 2);
    await until(() => got.orders.length === 2 && got.news.length === 1, 'first events');

    await hub.kill9();
    await sleep(300);
    await hub.start();
    for (let i = 3; i < 50; i++) await publishHttp(hub.base, [{ topic: i % 2 ? 'news' : `orders/${i}`, data: { n: i } }]);
    await until(() => got.orders.length + got.news.length === 50, 'everything after the restart');
    const want = await allEvents(hub.base, '**');
    const byTopic = (f) => want.filter((e) => f(e.topic)).map((e) => [e.id, e.topic, JSON.stringify(e.data)]);
    const seen = (list) => list.map((e) => [e.id, e.topic, JSON.stringify(e.data)]);
    assert.deepEqual(seen(got.orders), byTopic((t) => t.startsWith('orders/')));
    assert.deepEqual(seen(got.news), byTopic((t) => t === 'news'));
    assert.equal(got.orders[0].type, 'created');
    assert.equal(orders.lastEventId, got.orders.at(-1).id);
    assert.ok(states.filter((s) => s === 'open').length >= 2, 'it reconnected');
    client.close();
  } finally {
    await hub.stop();
  }
});

test('a durable session over the socket: events to acknowledge, acknowledged over it', async () => {
  const hub = await startHub();
  try {
    const { Herald } = await loadClient(hub.base);
    const put = await fetch(`${hub.base}/v1/sessions/kitchen`, {
      method: 'PUT', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ topics: ['orders/*'], ack_wait_seconds: 30 }),
    });
    assert.equal(put.status, 201);
    const ids = await publishHttp(hub.base, [1, 2, 3].map((i) => ({ topic: `orders/${i}`, data: i, ack: true })));
    const client = new Herald(hub.base, { WebSocket });
    const got = [];
    const session = client.attach('kitchen', { onEvent: (e) => got.push(e) });
    await session.ready;
    await until(() => got.length === 3, 'session events');
    assert.deepEqual(got.map((e) => e.id), ids);
    const acked = await got[0].acknowledge();
    assert.equal(acked.acked, 1);
    const rest = await client.ack('kitchen', ids.slice(1));
    assert.equal(rest.acked, 2);
    const view = await (await fetch(`${hub.base}/v1/sessions/kitchen`)).json();
    assert.equal(view.pending, 0);
    await assert.rejects(client.publish({ topic: 'bad topic', data: 1 }),
      (e) => e.status === 400 && e.code === 'invalid_topic');
    client.close();
  } finally {
    await hub.stop();
  }
});

test('short-lived tokens refreshed by getToken: a subscription goes on across expiries', async () => {
  const hub = await startHub({ auth: { keys: [{ kid: 'k', alg: 'HS256', secret: SECRET }], leeway_seconds: 0 } });
  try {
    const { Herald } = await loadClient(hub.base);
    let minted = 0;
    const getToken = async () => {
      minted++;
      return mint({ sub: 'app', exp: now() + 2, herald: { subscribe: ['t/*'], publish: ['t/*'] } });
    };
    const client = new Herald(hub.base, { WebSocket, getToken, retryMs: 100 });
    const got = [];
    const sub = client.subscribe(['t/*'], { onEvent: (e) => got.push(e.id) });
    await sub.ready;
    const writer = { Authorization: `Bearer ${mint({ sub: 'w', exp: now() + 600, herald: { publish: ['t/*'] } })}` };
    const ids = [];
    const started = Date.now();
    while (Date.now() - started < 6500) {
      ids.push(...await publishHttp(hub.base, [{ topic: 't/a', data: ids.length }], writer));
      await sleep(50);
    }
    // Publishing over the socket works with the current token too.
    const own = await client.publish({ topic: 't/b', data: 'own' });
    ids.push(own.id);
    await until(() => got.length >= ids.length, 'every event', 10000);
    assert.deepEqual(got, ids);
    assert.ok(minted >= 3, `tokens minted: ${minted}`);
    client.close();
  } finally {
    await hub.stop();
  }
});

test('a proxy that refuses WebSocket upgrades: the client falls back to EventSource and fetch', async () => {
  const hub = await startHub();
  // A plain HTTP reverse proxy in front of the hub, as some corporate proxies are: requests and
  // streams pass, upgrades are refused.
  const proxy = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: hub.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  proxy.on('upgrade', (req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const via = `http://127.0.0.1:${proxy.address().port}`;
  try {
    const { Herald } = await loadClient(hub.base);
    const states = [];
    const client = new Herald(via, { WebSocket, EventSource, retryMs: 50, onState: (s) => states.push(s) });
    const got = [];
    const sub = client.subscribe(['f/*'], { onEvent: (e) => got.push(e) });
    await sub.ready;
    assert.ok(states.includes('fallback'));
    const one = await client.publish({ topic: 'f/1', type: 'typed', data: { x: 1 } });
    const two = await client.publish({ topic: 'f/2', data: 2 });
    await until(() => got.length === 2, 'events over EventSource');
    assert.deepEqual(got.map((e) => [e.id, e.topic, e.type]), [[one.id, 'f/1', 'typed'], [two.id, 'f/2', undefined]]);
    assert.deepEqual(got[0].data, { x: 1 });
    client.close();
  } finally {
    proxy.close();
    await hub.stop();
  }
});
