// Security in headless Chromium (Debian's, driven by playwright-core) against a real hub:
//  - a page's EventSource whose token expires gets herald.token_expired, reconnects with a fresh
//    token (from its own origin) and the last id it saw, and misses nothing;
//  - EventSource over HTTPS to a hub whose certificate comes from a test CA that only this
//    browser's NSS database trusts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERALD, freePort, launchChromium, sleep, mintHs256 } from './browser-support.mjs';

const SECRET = 'browser-test-secret-0123456789-abcdefghij';

const mint = (claims) => mintHs256(SECRET, claims);

const now = () => Math.floor(Date.now() / 1000);

/// Serves `page`, and GET /token (a fresh reader token) from the page's own origin.
async function site(page, tokenTtl) {
  const server = createServer((req, res) => {
    if (req.url === '/token') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(mint({ sub: 'reader', exp: now() + tokenTtl, herald: { subscribe: ['t/*'] } }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

function startHub(dir, port, config) {
  const file = join(dir, 'herald.json');
  writeFileSync(file, JSON.stringify(config));
  return spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'db'),
    '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function ready(url, init = undefined) {
  for (let i = 0; i < 500; i++) {
    try { if ((await fetch(url, init)).status === 200) return; } catch { /* starting */ }
    await sleep(20);
  }
  throw new Error(`not ready: ${url}`);
}

// The page: an EventSource with the token in the query (EventSource cannot send headers); on
// herald.token_expired it fetches a fresh token and reconnects after the last id it saw.
const EXPIRY_PAGE = `<!doctype html><meta charset="utf-8"><title>expiry</title><body><script>
const hub = new URL(location.href).searchParams.get('hub');
window.seen = []; window.expiries = 0; window.opens = 0;
let last = '';
async function connect() {
  const token = await (await fetch('/token')).text();
  const q = 'topic=t%2F1&access_token=' + encodeURIComponent(token)
    + (last ? '&last_event_id=' + encodeURIComponent(last) : '');
  const es = new EventSource(hub + '/v1/subscribe?' + q);
  es.onopen = () => { window.opens++; };
  es.onmessage = (e) => { window.seen.push(e.lastEventId); last = e.lastEventId; };
  es.addEventListener('herald.token_expired', () => {
    window.expiries++;
    es.close();
    connect();
  });
}
connect();
</script></body>`;

test('an EventSource whose token expires reconnects with a fresh token and misses nothing',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-expiry-'));
    const port = await freePort();
    const page = await site(EXPIRY_PAGE, 3);
    const hub = startHub(dir, port, {
      auth: { keys: [{ alg: 'HS256', secret: SECRET }], leeway_seconds: 0 },
      cors: { allowed_origins: [page.origin] },
    });
    const base = `http://127.0.0.1:${port}`;
    const browser = await launchChromium();
    try {
      await ready(`${base}/readyz`);
      const publisher = mint({ sub: 'pub', exp: now() + 600, herald: { publish: ['t/*'] } });
      const publish = async (i) => {
        const res = await fetch(`${base}/v1/publish`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${publisher}` },
          body: JSON.stringify({ topic: 't/1', data: { i } }),
        });
        assert.equal(res.status, 201);
        return (await res.json()).id;
      };
      const tab = await browser.newPage();
      await tab.goto(`${page.origin}/?hub=${encodeURIComponent(base)}`);
      await tab.waitForFunction(() => window.opens >= 1, null, { timeout: 10000 });
      const ids = [];
      // Publish for about 8 s: the 3 s tokens expire at least twice meanwhile.
      for (let i = 0; i < 40; i++) {
        ids.push(await publish(i));
        await sleep(200);
      }
      await tab.waitForFunction((n) => window.seen.length >= n, ids.length, { timeout: 15000 });
      await sleep(300);
      const { seen, expiries, opens } = await tab.evaluate(
        () => ({ seen: window.seen, expiries: window.expiries, opens: window.opens }));
      assert.ok(expiries >= 2, `expected at least two expiries, saw ${expiries}`);
      assert.ok(opens >= 3, `expected reconnects, saw ${opens} opens`);
      assert.deepEqual(seen, ids, 'every event once, in order, across token expiries');
    } finally {
      await browser.close();
      hub.kill('SIGTERM');
      page.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

const TLS_PAGE = `<!doctype html><meta charset="utf-8"><title>tls</title><body><script>
const hub = new URL(location.href).searchParams.get('hub');
window.seen = []; window.errors = 0;
const es = new EventSource(hub + '/v1/subscribe?topic=t%2F1');
es.onmessage = (e) => window.seen.push(JSON.parse(e.data));
es.onerror = () => { window.errors++; };
</script></body>`;

test('EventSource over HTTPS to a hub whose certificate a test CA signed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Herald Test CA');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'hub.key', '-out', 'hub.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n'
    + 'extendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'hub.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'hub.pem', '-days', '2', '-extfile', 'ext.cnf');
  // The browser's own NSS database (under its HOME) trusts the test CA, and nothing else does.
  const home = join(dir, 'home');
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  execFileSync('certutil', ['-N', '-d', db, '--empty-password']);
  execFileSync('certutil', ['-A', '-d', db, '-n', 'herald-test-ca', '-t', 'C,,', '-i',
    join(dir, 'ca.pem')]);
  const port = await freePort();
  const page = await site(TLS_PAGE, 60);
  const hub = startHub(dir, port, {
    cors: { allowed_origins: [page.origin] },
    tls: { cert_file: join(dir, 'hub.pem'), key_file: join(dir, 'hub.key') },
  });
  const base = `https://localhost:${port}`;
  const browser = await launchChromium({ ...process.env, HOME: home });
  try {
    // Node checks readiness and publishes over HTTPS, trusting the same CA.
    const agent = new Agent({ ca: readFileSync(join(dir, 'ca.pem')) });
    const call = (method, path, body) => new Promise((resolve, reject) => {
      const req = request(`${base}${path}`, {
        method, agent, headers: body ? { 'Content-Type': 'application/json' } : {},
      }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    for (let i = 0; ; i++) {
      try { if ((await call('GET', '/readyz')).status === 200) break; } catch { /* starting */ }
      if (i > 500) throw new Error('hub not ready');
      await sleep(20);
    }
    const tab = await browser.newPage();
    await tab.goto(`${page.origin}/?hub=${encodeURIComponent(base)}`);
    await sleep(500); // the EventSource connects
    for (let i = 0; i < 3; i++) {
      const res = await call('POST', '/v1/publish', JSON.stringify({ topic: 't/1', data: { i } }));
      assert.equal(res.status, 201, res.text);
    }
    await tab.waitForFunction(() => window.seen.length >= 3, null, { timeout: 10000 });
    const seen = await tab.evaluate(() => window.seen);
    assert.deepEqual(seen, [{ i: 0 }, { i: 1 }, { i: 2 }]);
    // The same hub is refused by a browser that does not trust the CA.
    const untrusting = await launchChromium();
    try {
      const other = await untrusting.newPage();
      await other.goto(`${page.origin}/?hub=${encodeURIComponent(base)}`);
      await other.waitForFunction(() => window.errors >= 1, null, { timeout: 10000 });
      assert.deepEqual(await other.evaluate(() => window.seen), []);
    } finally {
      await untrusting.close();
    }
  } finally {
    await browser.close();
    hub.kill('SIGTERM');
    page.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
