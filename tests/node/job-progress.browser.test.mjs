// The job-progress example page in headless Chromium (Debian's, driven by playwright-core)
// against a real hub: the progress bar follows every update pushed by the job's watcher, and
// after the final event the browser stops for good (its one reconnect gets 204): no reconnect loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXAMPLES, HERALD, freePort, launchChromium, servePage, sleep, waitReady,
} from './browser-support.mjs';

const PAGE = readFileSync(join(EXAMPLES, 'job-progress/index.html'));

test('a progress bar page follows a job and stops without reconnect loops', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-browser-'));
  const hubPort = await freePort();
  // The page is served from its own origin, which the hub allows through CORS.
  const site = await servePage(PAGE);
  const { origin } = site;
  const config = join(dir, 'herald.json');
  writeFileSync(config, JSON.stringify({ cors: { allowed_origins: [origin] }, sse: { retry_ms: 300 } }));
  const hub = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${hubPort}`, '--data-dir',
    join(dir, 'db'), '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  hub.stdout.on('data', (d) => { log += d; });
  hub.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${hubPort}`;
  await waitReady(base);
  const put = async (body) => {
    const res = await fetch(`${base}/v1/jobs/demo`, {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
  };
  const browser = await launchChromium();
  try {
    await put({ state: 'active', progress: 10, message: 'starting' });
    const page = await browser.newPage();
    await page.goto(`${origin}/index.html?hub=${encodeURIComponent(base)}&job=demo`);
    const bar = () => page.$eval('#bar', (el) => el.value);
    await page.waitForFunction(() => document.getElementById('bar').value === 10);
    for (const progress of [35, 70]) {
      await put({ progress, message: `at ${progress}` });
      await page.waitForFunction((p) => document.getElementById('bar').value === p, progress);
    }
    assert.equal(await page.textContent('#message'), 'at 70');
    await put({ state: 'completed', message: 'done' });
    await page.waitForFunction(() => window.heraldPage.finished);
    assert.equal(await bar(), 100);
    assert.equal(await page.textContent('#state'), 'completed');
    await page.screenshot({ path: join(process.env.SCREENSHOT_DIR ?? dir, 'job-progress.png') });
    // After the end: the browser reconnects once (retry 300 ms), gets 204 and stops for good.
    await page.waitForFunction(() => window.heraldPage.source.readyState === 2, null, { timeout: 5000 });
    await sleep(1500); // five more retry periods: nothing may happen
    assert.equal(await page.evaluate(() => window.heraldPage.source.readyState), 2);
    assert.equal(await page.evaluate(() => window.heraldPage.opens), 1);
    const closes = log.split('\n').filter((l) => l.includes('event=stream_closed') && l.includes('job=demo'));
    assert.equal(closes.length, 2, `one data stream and one 204, got:\n${closes.join('\n')}`);
    assert.ok(closes[1].includes('reason=rejected'));
    const stats = await (await fetch(`${base}/v1/stats`)).json();
    assert.equal(stats.job_viewers, 0);
    assert.equal(stats.connections, 0);
  } finally {
    await browser.close();
    hub.kill('SIGKILL');
    site.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
