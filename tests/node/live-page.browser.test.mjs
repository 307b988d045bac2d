// The live-page example in headless Chromium (Debian's, driven by playwright-core) against a real
// hub that is killed (-9) and later stopped gracefully and restarted: the page shows every event
// exactly once, in log order, across both restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXAMPLES, HERALD, freePort, launchChromium, servePage, sleep, waitReady,
} from './browser-support.mjs';

const PAGE = readFileSync(join(EXAMPLES, 'live-page/index.html'));

test('a live page shows every event once, in order, across kill -9 and a graceful restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-live-'));
  const hubPort = await freePort();
  const site = await servePage(PAGE);
  const { origin } = site;
  const config = join(dir, 'herald.json');
  writeFileSync(config, JSON.stringify({
    cors: { allowed_origins: [origin] }, sse: { retry_ms: 300 },
    shutdown: { retry_jitter_ms: 200 },
  }));
  const base = `http://127.0.0.1:${hubPort}`;
  let hub = null;
  const startHub = async () => {
    hub = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${hubPort}`, '--data-dir', join(dir, 'db'),
      '--config', config], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitReady(base);
  };
  const stopHub = (signal) => new Promise((resolve) => { hub.once('exit', resolve); hub.kill(signal); });
  const publish = async (n, tag) => {
    const res = await fetch(`${base}/v1/publish`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ topic: 'live/a', data: { tag, i } }))),
    });
    assert.equal(res.status, 201);
    return (await res.json()).ids;
  };
  await startHub();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/index.html?hub=${encodeURIComponent(base)}&topic=live/a`);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'live');
    const ids = [];
    const count = (n) => page.waitForFunction((k) => window.heraldPage.events.length >= k, n,
      { timeout: 20000 });
    ids.push(...await publish(3, 'first'));
    await count(3);

    await stopHub('SIGKILL');
    await sleep(800); // the browser's own reconnects fail meanwhile
    await startHub();
    ids.push(...await publish(2, 'after-kill'));
    await count(5);

    await stopHub('SIGTERM'); // the page gets herald.shutdown and a jittered retry
    await startHub();
    ids.push(...await publish(2, 'after-restart'));
    await count(7);
    await sleep(500); // nothing more may arrive: no duplicates
    const seen = await page.evaluate(() => window.heraldPage.events.map((e) => e.id));
    assert.deepEqual(seen, ids);
    const notices = await page.evaluate(() => window.heraldPage.notices.map((n) => n.type));
    assert.ok(notices.includes('shutdown'), `notices: ${notices}`);
    assert.equal(await page.textContent('#state'), 'live');
    await page.screenshot({ path: join(process.env.SCREENSHOT_DIR ?? dir, 'live-page.png') });
  } finally {
    await browser.close();
    if (hub && hub.exitCode === null) hub.kill('SIGKILL');
    site.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
