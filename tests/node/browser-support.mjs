// Helpers shared by the headless Chromium tests: ports, the hub binary, a page served from its
// own origin, readiness, and Debian's Chromium through playwright-core.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as netServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const HERALD = process.env.HERALD_BIN ?? join(here, '../../build/herald');
export const EXAMPLES = join(here, '../../examples');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const freePort = () => new Promise((resolve) => {
  const s = netServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/// Serves `page` (HTML bytes) on a loopback port: a separate origin the hub allows through CORS.
export async function servePage(page) {
  const site = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${site.address().port}`, close: () => site.close() };
}

/// Waits until the hub at `base` answers /readyz with 200.
export async function waitReady(base) {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/readyz`)).status === 200) return; } catch { /* starting */ }
    if (i > 500) throw new Error('hub not ready');
    await sleep(20);
  }
}

/// `env`: the browser's environment (e.g. a HOME whose NSS database trusts a test CA).
export const launchChromium = (env = undefined) => chromium.launch({
  executablePath: CHROMIUM,
  env,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/// An HS256 JWT with `claims`, signed with `secret` (test tooling: the hub verifies it with its
/// own library).
export function mintHs256(secret, claims) {
  const b64url = (x) => Buffer.from(x).toString('base64url');
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}
