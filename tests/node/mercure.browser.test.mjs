// Mercure's protocol with headless Chromium's native EventSource, as Mercure's own JavaScript
// users subscribe: a page served from the hub's origin opens EventSources with every selector
// kind; private updates reach only the page whose mercureAuthorization cookie allows them;
// multi-line data arrives unchanged; publisher ids are the ids EventSource resumes from, across a
// kill -9 of the hub; `earliest` replays what is retained; the subscriptions API answers the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERALD, freePort, launchChromium, mintHs256, sleep, waitReady } from './browser-support.mjs';

const SECRET = 'b'.repeat(16) + '-browser-mercure-secret-0123456789';
const BOOKS = 'https://example.com/books/{id}';
const WATCH = '/.well-known/mercure/subscriptions{/topic}{/subscriber}';

/// Opens one EventSource per named selector list in the page; what each receives is recorded.
async function openSources(page, sources) {
  await page.evaluate((sources) => {
    window.got = window.got ?? {};
    window.sources = window.sources ?? {};
    for (const [name, query] of Object.entries(sources)) {
      window.got[name] = [];
      const es = new EventSource(`/.well-known/mercure?${query}`, { withCredentials: true });
      es.onmessage = (e) => window.got[name].push({ id: e.lastEventId, data: e.data, type: 'message' });
      es.addEventListener('book.updated', (e) => window.got[name].push({ id: e.lastEventId, data: e.data, type: e.type }));
      window.sources[name] = es;
    }
  }, sources);
  await page.waitForFunction((names) => names.every((n) => window.sources[n].readyState === 1),
    Object.keys(sources), { timeout: 15000 });
}

const q = (...selectors) => selectors.map((s) => `topic=${encodeURIComponent(s)}`).join('&');

test('EventSource: selectors, private updates by cookie, multi-line data, publisher ids across kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-mercure-b-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'herald.json'), JSON.stringify({
    auth: { keys: [{ alg: 'HS256', secret: SECRET }] },
    mercure: { anonymous: true, subscriptions: true },
    sse: { retry_ms: 200 },
  }));
  let hub = null;
  const startHub = async () => {
    hub = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'db'),
      '--config', join(dir, 'herald.json')], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitReady(base);
  };
  const publisher = mintHs256(SECRET, { mercure: { publish: ['*'] } });
  const publish = async (fields) => {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(fields))
      for (const x of [v].flat()) body.append(k, x);
    const res = await fetch(`${base}/.well-known/mercure`, {
      method: 'POST', body, headers: { Authorization: `Bearer ${publisher}` },
    });
    assert.equal(res.status, 200, await res.clone().text());
    return res.text();
  };
  await startHub();
  const browser = await launchChromium();
  try {
    const anon = await (await browser.newContext()).newPage();
    const readerContext = await browser.newContext();
    await readerContext.addCookies([{
      name: 'mercureAuthorization', url: base,
      value: mintHs256(SECRET, { mercure: { subscribe: [BOOKS, WATCH] } }),
    }]);
    const reader = await readerContext.newPage();
    // Pages from the hub's own origin (its 404 is a page like any other).
    await anon.goto(`${base}/`);
    await reader.goto(`${base}/`);
    await openSources(anon, {
      exact: q('https://example.com/books/1'),
      template: q(BOOKS),
      all: q('*'),
      several: q('urn:isbn:978-0', 'https://example.com/authors/{id}'),
    });
    await openSources(reader, { template: q(BOOKS) });

    const multi = 'first line\n  indented\n\nafter an empty line';
    await publish({ topic: 'https://example.com/books/1', data: 'one', id: 'book-1' });
    await publish({ topic: 'https://example.com/books/2', data: 'secret', private: 'on', id: 'book-2' });
    await publish({ topic: 'urn:isbn:978-0', data: multi, id: 'isbn-1', type: 'book.updated' });
    await publish({ topic: ['https://example.com/nobody', 'https://example.com/authors/7'], data: 'alternate' });
    const hubId = await publish({ topic: 'https://example.com/books/3', data: 'three' });
    assert.match(hubId, /^urn:herald:/);

    const wait = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 20000 });
    await wait(anon, () => window.got.all.length === 4 && window.got.template.length === 2
      && window.got.several.length === 2 && window.got.exact.length === 1);
    await wait(reader, () => window.got.template.length === 3);
    await sleep(300); // nothing more may arrive
    let a = await anon.evaluate(() => window.got);
    let r = await reader.evaluate(() => window.got);
    assert.deepEqual(a.exact.map((e) => [e.id, e.data]), [['book-1', 'one']]);
    assert.deepEqual(a.template.map((e) => e.data), ['one', 'three']);
    assert.deepEqual(a.all.map((e) => e.data), ['one', multi, 'alternate', 'three']);
    assert.deepEqual(a.several.map((e) => [e.type, e.data]), [['book.updated', multi], ['message', 'alternate']]);
    assert.deepEqual(r.template.map((e) => [e.id, e.data]), [['book-1', 'one'], ['book-2', 'secret'], [hubId, 'three']]);

    // The subscriptions API, called by the page with its cookie.
    const subs = await reader.evaluate(async () => (await fetch('/.well-known/mercure/subscriptions')).json());
    assert.equal(subs.type, 'Subscriptions');
    assert.equal(subs.subscriptions.filter((s) => s.topic === 'https://example.com/books/{id}').length, 2);
    assert.equal(await anon.evaluate(async () => (await fetch('/.well-known/mercure/subscriptions')).status), 401);

    // kill -9: every EventSource reconnects by itself with the last id it saw, a publisher's id
    // or the hub's, and gets exactly what it missed.
    hub.kill('SIGKILL');
    await new Promise((res) => hub.once('exit', res));
    await sleep(400);
    await startHub();
    await publish({ topic: 'https://example.com/books/1', data: 'after', id: 'book-1b' });
    await publish({ topic: 'https://example.com/books/4', data: 'private after', private: 'on' });
    await wait(anon, () => window.got.all.length === 5 && window.got.exact.length === 2
      && window.got.template.length === 3);
    await wait(reader, () => window.got.template.length === 5);
    await sleep(300);
    a = await anon.evaluate(() => window.got);
    r = await reader.evaluate(() => window.got);
    assert.deepEqual(a.exact.map((e) => e.id), ['book-1', 'book-1b']);
    assert.deepEqual(a.all.map((e) => e.data), ['one', multi, 'alternate', 'three', 'after']);
    assert.deepEqual(r.template.map((e) => e.data), ['one', 'secret', 'three', 'after', 'private after']);

    // `earliest`: everything retained, from a fresh EventSource.
    await openSources(anon, { earliest: `${q('*')}&lastEventID=earliest` });
    await wait(anon, () => window.got.earliest.length === 5);
    a = await anon.evaluate(() => window.got);
    assert.deepEqual(a.earliest.map((e) => e.data), ['one', multi, 'alternate', 'three', 'after']);
    await anon.screenshot({ path: join(process.env.SCREENSHOT_DIR ?? dir, 'mercure-page.png') });
  } finally {
    await browser.close();
    if (hub && hub.exitCode === null) hub.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
