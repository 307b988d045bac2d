// A real, independent SSE client (npm `eventsource`, WHATWG EventSource for Node) resuming across
// a kill -9 and restart of the real herald process: it must receive every event exactly once,
// in order, with the missed ones replayed from its own Last-Event-ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';

const here = dirname(fileURLToPath(import.meta.url));
const HERALD = process.env.HERALD_BIN ?? join(here, '../../build/herald');

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function startHub(port, dir) {
  const config = join(dir, 'herald.json');
  writeFileSync(config, JSON.stringify({ sse: { retry_ms: 3000 } }));
  const proc = spawn(HERALD, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir',
    join(dir, 'db'), '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.output = '';
  proc.stdout.on('data', (d) => { proc.output += d; });
  proc.stderr.on('data', (d) => { proc.output += d; });
  return proc;
}

async function ready(port) {
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('hub not ready');
    await sleep(20);
  }
}

async function publish(port, events) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(events),
  });
  assert.equal(res.status, 201);
  return (await res.json()).ids;
}

test('eventsource resumes across kill -9 and restart with exactly the missed events', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-node-'));
  const port = await freePort();
  let hub = startHub(port, dir);
  let es;
  try {
    await ready(port);
    es = new EventSource(`http://127.0.0.1:${port}/v1/subscribe?topic=orders/42`);
    const received = [];
    let opens = 0;
    es.addEventListener('open', () => { opens += 1; });
    es.addEventListener('message', (e) => received.push({ id: e.lastEventId, data: JSON.parse(e.data) }));
    es.addEventListener('herald.gap', () => assert.fail('no gap is expected here'));
    await waitFor(() => opens === 1, 'first open');

    const first = await publish(port, [0, 1, 2, 3, 4].map((n) => ({ topic: 'orders/42', data: n })));
    await waitFor(() => received.length === 5, 'the first five events');

    hub.kill('SIGKILL');
    await new Promise((r) => hub.once('exit', r));
    hub = startHub(port, dir);
    await ready(port);
    // Published while the client is still waiting out its retry: it must get these by replay.
    const missed = await publish(port, [5, 6, 7].map((n) => ({ topic: 'orders/42', data: n })));
    assert.equal(opens, 1, 'the client must not have reconnected yet');
    await waitFor(() => opens === 2, 'the reconnect', 15000);
    await waitFor(() => received.length === 8, 'the missed events');
    const live = await publish(port, [8, 9].map((n) => ({ topic: 'orders/42', data: n })));
    await waitFor(() => received.length === 10, 'the live events');
    await sleep(200);

    assert.deepEqual(received.map((e) => e.id), [...first, ...missed, ...live]);
    assert.deepEqual(received.map((e) => e.data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const stats = await (await fetch(`http://127.0.0.1:${port}/v1/stats`)).json();
    assert.equal(stats.events_replayed, 3, 'the missed events came from replay');
  } finally {
    es?.close();
    hub.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
