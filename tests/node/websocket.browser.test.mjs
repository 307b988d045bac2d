// Headless Chromium's native WebSocket, through Herald's JavaScript client as the hub serves it
// (/v1/client.js, imported by a page of another origin): two subscriptions and a durable session
// on one socket, publishing and acknowledging over it, and a kill -9 of the hub in the middle,
// after which the page resumes gap-free: every event once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERALD, freePort, launchChromium, servePage, sleep, waitReady } from './browser-support.mjs';

const PAGE = `<!doctype html><meta charset="utf-8"><title>loading</title>
<pre id="log"></pre>
<script type="module">
const hub = new URLSearchParams(location.search).get('hub');
const { Herald } = await import(hub + '/v1/client.js');
const results = { a: [], b: [], session: [], acked: [], states: [], published: [] };
window.results = results;
const client = new Herald(hub, { retryMs: 200, onState: (s) => results.states.push(s) });
const a = client.subscribe('web/a', { onEvent: (e) => results.a.push(e.id) });
const b = client.subscribe(['web/b/*'], { onEvent: (e) => results.b.push([e.id, e.topic]) });
const s = client.attach('browser', {
  onEvent: async (e) => {
    results.session.push(e.id);
    if (e.acknowledge) { await e.acknowledge(); results.acked.push(e.id); }
  },
});
window.publishOwn = async (n) => {
  for (let i = 0; i < n; i++) results.published.push((await client.publish({ topic: 'web/a', data: { i } })).id);
};
await Promise.all([a.ready, b.ready, s.ready]);
document.title = 'ready';
</script>`;

test('a page: two subscriptions and a session on one WebSocket, publish and ack over it, resume after kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-wsb-'));
  const port = await freePort();
  const site = await servePage(PAGE);
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'herald.json'), JSON.stringify({
    cors: { allowed_origins: [site.origin] }, sse: { retry_ms: 200 },
  }));
  let hub = null;
  const startHub = async () => {
    hub = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'db'),
      '--config', join(dir, 'herald.json')], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitReady(base);
  };
  const publish = async (events) => {
    const res = await fetch(`${base}/v1/publish`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(events),
    });
    assert.equal(res.status, 201);
    return (await res.json()).ids;
  };
  const stats = async () => (await fetch(`${base}/v1/stats`)).json();
  await startHub();
  const put = await fetch(`${base}/v1/sessions/browser`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ topics: ['web/jobs/*'] }),
  });
  assert.equal(put.status, 201);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/index.html?hub=${encodeURIComponent(base)}`);
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 15000 });
    const s = await stats();
    assert.equal(s.websockets, 1, 'one socket for everything');
    assert.equal(s.websocket_subscriptions, 3);

    await page.evaluate(() => window.publishOwn(5));
    await publish([{ topic: 'web/b/x', data: 1 }, { topic: 'web/b/y', data: 2 }]);
    await publish([1, 2, 3].map((i) => ({ topic: `web/jobs/${i}`, data: i, ack: true })));
    const wait = (fn, arg) => page.waitForFunction(fn, arg, { timeout: 20000 });
    await wait(() => window.results.a.length === 5 && window.results.b.length === 2
      && window.results.acked.length === 3);

    hub.kill('SIGKILL');
    await new Promise((r) => hub.once('exit', r));
    await sleep(500); // the page's reconnects fail meanwhile
    await startHub();
    await publish([{ topic: 'web/a', data: 'after' }, { topic: 'web/b/z', data: 3 }]);
    await publish([4, 5].map((i) => ({ topic: `web/jobs/${i}`, data: i, ack: true })));
    await wait(() => window.results.a.length === 6 && window.results.b.length === 3
      && window.results.acked.length === 5);
    await page.evaluate(() => window.publishOwn(2)); // publishing over the new socket
    await wait(() => window.results.a.length === 8);
    await sleep(300); // nothing more may arrive: no duplicates

    const events = async (topic) => (await (await fetch(`${base}/v1/events?topic=${topic}&limit=1000`)).json()).events;
    const r = await page.evaluate(() => window.results);
    assert.deepEqual(r.a, (await events('web/a')).map((e) => e.id));
    assert.deepEqual(r.b, (await events('web/b/*')).map((e) => [e.id, e.topic]));
    assert.deepEqual(r.session, (await events('web/jobs/*')).map((e) => e.id));
    assert.deepEqual(r.acked, r.session);
    assert.equal(r.published.length, 7);
    assert.ok(r.states.filter((x) => x === 'open').length >= 2, `states: ${r.states}`);
    const view = await (await fetch(`${base}/v1/sessions/browser`)).json();
    assert.equal(view.pending, 0);
    assert.equal((await stats()).websockets, 1);
    await page.screenshot({ path: join(process.env.SCREENSHOT_DIR ?? dir, 'websocket-page.png') });
  } finally {
    await browser.close();
    if (hub && hub.exitCode === null) hub.kill('SIGKILL');
    site.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
