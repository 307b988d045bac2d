// The live dashboard (GET /dashboard) in headless Chromium (Debian's, driven by playwright-core)
// against a real hub with keys: the page loads with an admin token, its numbers, charts and tables
// change while the test publishes, what clients control is shown as text (never markup), a
// token that is not an admin's gets no page, and signing in keeps the token as a cookie (never in
// an address) until signing out. The test writes a screenshot (docs/images/ shows
// one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HERALD, freePort, launchChromium, mintHs256, sleep, waitReady,
} from './browser-support.mjs';

const SECRET = 'dashboard-test-secret-'.padEnd(48, 'x');
const exp = () => Math.floor(Date.now() / 1000) + 3600;
const ADMIN = mintHs256(SECRET, { sub: 'ops', exp: exp(), herald: { admin: true } });
const USER = mintHs256(SECRET, {
  sub: 'shop', exp: exp(),
  herald: { publish: ['orders/**', 'jobs/**'], subscribe: ['orders/**', 'jobs/**'] },
});
const HOSTILE = '<img src=x onerror="window.pwned=1">';

test('the dashboard shows the hub live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-dashboard-'));
  const hubPort = await freePort();
  const config = join(dir, 'herald.json');
  writeFileSync(config, JSON.stringify({
    auth: { keys: [{ alg: 'HS256', secret: SECRET }] },
    dashboard: { interval_ms: 250 },
  }));
  const hub = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${hubPort}`, '--data-dir',
    join(dir, 'db'), '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  hub.stdout.on('data', (d) => { log += d; });
  hub.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${hubPort}`;
  await waitReady(base);
  const call = (method, path, body, token = USER) => fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const publish = async (topic, data) => {
    const res = await call('POST', '/v1/publish', { topic, data });
    assert.equal(res.status, 201);
  };
  // A subscriber that reads everything, so deliveries (and their latency) show.
  const sub = new AbortController();
  const reading = fetch(`${base}/v1/subscribe?topic=orders/**`, {
    headers: { Authorization: `Bearer ${USER}` }, signal: sub.signal,
  }).then(async (res) => {
    assert.equal(res.status, 200);
    for await (const _ of res.body) { /* read and drop */ }
  }).catch(() => { /* aborted at the end */ });

  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1150 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${base}/dashboard?access_token=${ADMIN}`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'live');
    await page.waitForFunction(() => document.getElementById('version').textContent !== '-');
    const text = (id) => page.textContent(`#${id}`);
    const count = async (id) => Number((await text(id)).replace(/,/g, ''));
    assert.equal(await count('published-total'), 0);

    // Work for every panel: a session left with unacknowledged events, a job in progress whose
    // message is hostile markup, a refusal, and steady publishing on two topics.
    assert.equal((await call('PUT', '/v1/sessions/billing', { topics: ['orders/eu'] })).status, 201);
    const session = new AbortController();
    fetch(`${base}/v1/sessions/billing/events`, {
      headers: { Authorization: `Bearer ${USER}` }, signal: session.signal,
    }).then(async (res) => { for await (const _ of res.body) { /* never acks */ } })
      .catch(() => {});
    assert.equal((await call('PUT', '/v1/jobs/nightly-export',
      { state: 'active', progress: 0.6, message: HOSTILE })).status, 200);
    assert.equal((await call('POST', '/v1/publish', '{"topic":')).status, 400);
    // Events the session must acknowledge (it never does): its pending count shows.
    const acked = await call('POST', '/v1/publish',
      [1, 2, 3, 4, 5].map((n) => ({ topic: 'orders/eu', data: { refund: n }, ack: true })));
    assert.equal(acked.status, 201);
    const rates = new Set();
    const until = Date.now() + 4000;
    for (let i = 1; Date.now() < until; i++) {
      await publish(i % 3 ? 'orders/eu' : 'orders/us', { n: i, total: 19.99 * i });
      if (i % 25 === 0) rates.add(await text('published-rate'));
      await sleep(4);
    }
    await page.waitForFunction(() => Number(document.getElementById('published-total')
      .textContent.replace(/,/g, '')) > 100);
    assert.ok(rates.size > 1, `the publish rate never changed: ${[...rates]}`);
    assert.ok(await count('delivered-total') > 100);
    assert.notEqual(await text('delivery-p99'), '-');

    // Tables: the busiest topic, the session, the job (its message as text), the refusal.
    await page.waitForFunction(() => document.querySelector('#topics tbody').textContent.includes('orders/eu'));
    await page.waitForFunction(() => {
      const row = document.querySelector('#sessions tbody tr');
      return row && row.cells[0].textContent === 'billing' && row.cells[2].textContent === '5';
    });
    const jobRow = await page.textContent('#jobs tbody');
    assert.ok(jobRow.includes('nightly-export') && jobRow.includes('active'), jobRow);
    assert.ok(jobRow.includes(HOSTILE), 'the message is shown as text');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.equal(await page.$('#jobs img'), null);
    const recent = await page.textContent('#recent tbody');
    assert.ok(recent.includes('POST /v1/publish') && recent.includes('400'), recent);
    assert.ok(await count('connections') >= 3); // the dashboard, the subscriber, the session

    // The charts were drawn: each canvas has painted pixels.
    for (const id of ['chart-connections', 'chart-published', 'chart-delivered', 'chart-latency']) {
      const painted = await page.$eval(`#${id}`, (c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        return n;
      });
      assert.ok(painted > 500, `${id} is blank`);
    }
    assert.deepEqual(errors, []);
    await page.screenshot({ path: join(process.env.SCREENSHOT_DIR ?? dir, 'dashboard.png'), fullPage: true });

    // A token that is not an admin's gets no page: the browser is sent to sign in.
    const other = await browser.newPage();
    await other.goto(`${base}/dashboard?access_token=${USER}`);
    assert.equal(new URL(other.url()).pathname, '/dashboard/signin');
    assert.equal(new URL(other.url()).searchParams.get('reason'), 'forbidden');
    assert.match(await other.textContent('#reason'), /no operator access/);

    // Signing in without a token in any address: the sign-in page keeps it as the hub's cookie.
    const fresh = await browser.newContext();
    const signin = await fresh.newPage();
    await signin.goto(`${base}/dashboard`);
    assert.equal(new URL(signin.url()).pathname, '/dashboard/signin');
    assert.equal(new URL(signin.url()).searchParams.get('reason'), 'token_missing');
    await signin.fill('#token', ADMIN);
    await signin.click('button[type=submit]');
    await signin.waitForURL(`${base}/dashboard`);
    await signin.waitForFunction(() => document.getElementById('status').textContent === 'live');
    const cookies = await fresh.cookies(base);
    const kept = cookies.find((c) => c.name === 'herald_token');
    assert.ok(kept && kept.value === ADMIN && kept.sameSite === 'Strict', JSON.stringify(cookies));
    assert.ok(kept.expires > Date.now() / 1000, 'the cookie lives as long as the token');
    // Signing out forgets it: the dashboard sends the browser to sign in again.
    await signin.click('#signout');
    await signin.waitForURL(/\/dashboard\/signin\?reason=signed_out/);
    assert.equal((await fresh.cookies(base)).find((c) => c.name === 'herald_token'), undefined);
    await signin.goto(`${base}/dashboard`);
    assert.equal(new URL(signin.url()).pathname, '/dashboard/signin');
    await fresh.close();
    session.abort();
  } finally {
    await browser.close();
    sub.abort();
    await reading;
    hub.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(!log.includes('event=stream_failed'), log);
});
