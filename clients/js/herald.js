// Herald's JavaScript client, for browsers and Node: an ES module with no dependencies.
// The hub serves this file at /v1/client.js; docs/api.md describes the protocol it speaks.
//
//   import { Herald } from 'https://hub.example/v1/client.js';
//   const hub = new Herald('https://hub.example', { getToken: () => fetchMyToken() });
//   const sub = hub.subscribe(['orders/*'], { onEvent: (e) => render(e.topic, e.data) });
//   await hub.publish({ topic: 'orders/7', type: 'created', data: { total: 12.5 } });
//   sub.close();
//
// - Many subscriptions share one WebSocket (GET /v1/ws). Without WebSocket (or when it cannot
//   connect), each subscription falls back to an EventSource, and publish/ack go by fetch.
// - Every subscription remembers the last event id it saw and resumes from it after any
//   reconnect (the hub's gap notices say what retention removed meanwhile): nothing is lost or
//   seen twice.
// - getToken (sync or async) is asked for a token before each connection and again shortly
//   before the token expires; the new token is sent over the open socket (op "auth"), and a
//   subscription the hub ended for an expired token is resumed with the fresh one.
// - attach(session) follows a durable session; its events carry ack(), or call hub.ack().

const RESUME_ENDS = new Set(['token_expired', 'topic_lost', 'max_age', 'session_changed']);

/** The `exp` claim of a JWT (seconds), or 0 when it has none or is not a JWT. */
function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = typeof atob === 'function' ? atob(part) : Buffer.from(part, 'base64').toString();
    const exp = JSON.parse(json).exp;
    return typeof exp === 'number' ? exp : 0;
  } catch {
    return 0;
  }
}

export class HeraldError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(`${status} ${err.code ?? ''}: ${err.message ?? ''}`.trim());
    this.status = status;
    this.code = err.code;
    this.body = body;
  }
}

/** One subscription (or durable-session attachment). */
class Subscription {
  constructor(hub, name, spec, handlers) {
    this.hub = hub;
    this.name = name;
    this.spec = spec; // { topics } or { session }
    this.handlers = handlers;
    this.lastEventId = handlers.lastEventId ?? null;
    this.closed = false;
    this.source = null; // the EventSource, in fallback mode
    this.pending = null; // the subscribe command's reply is awaited
    this.ready = new Promise((resolve, reject) => { this.settle = { resolve, reject }; });
    this.ready.catch(() => {});
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.hub._drop(this);
  }

  _event(e) {
    if (e.id) this.lastEventId = e.id;
    if (this.spec.session && e.ack) e.acknowledge = () => this.hub.ack(this.spec.session, [e.id]);
    this.handlers.onEvent?.(e);
  }
}

export class Herald {
  /**
   * @param url the hub, e.g. "https://hub.example" (ws:// and wss:// are derived from it)
   * @param options token, getToken, transport ("auto" | "websocket" | "eventsource"),
   *   WebSocket / EventSource / fetch implementations (Node), onState, retryMs, maxRetryMs
   */
  constructor(url, options = {}) {
    this.url = url.replace(/\/+$/, '');
    this.options = options;
    this.token = options.token ?? null;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.EventSource = options.EventSource ?? globalThis.EventSource;
    this.fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.mode = options.transport ?? 'auto';
    if (this.mode === 'auto' && !this.WebSocket) this.mode = 'eventsource';
    this.subs = new Map();
    this.replies = new Map();
    this.seq = 0;
    this.ws = null;
    this.open = false;
    this.failures = 0;
    this.everOpened = false;
    this.retryMs = options.retryMs ?? 1000;
    this.closed = false;
    this.refreshTimer = null;
  }

  /** Follows topics or patterns. handlers: onEvent(e), onGap(data), onNotice(op, data),
   * lastEventId (resume after it; "earliest": everything retained). */
  subscribe(topics, handlers = {}) {
    return this._add({ topics: Array.isArray(topics) ? topics : [topics] }, handlers);
  }

  /** Follows a durable session; its events have acknowledge() when they need an ack. */
  attach(session, handlers = {}) {
    return this._add({ session }, handlers);
  }

  /** Publishes one event ({topic, data, type?, ...}) or an array of them; resolves with the
   * hub's answer ({id} or {ids}), rejects with a HeraldError. */
  publish(events) {
    const body = Array.isArray(events) ? { events } : events;
    return this._command({ op: 'publish', ...body }, 'POST', '/v1/publish',
      Array.isArray(events) ? events : events);
  }

  /** Acknowledges events of a durable session. */
  ack(session, ids) {
    return this._command({ op: 'ack', session, ids }, 'POST',
      `/v1/sessions/${encodeURIComponent(session)}/ack`, { ids });
  }

  /** Closes every subscription and the socket. */
  close() {
    this.closed = true;
    clearTimeout(this.refreshTimer);
    for (const sub of [...this.subs.values()]) sub.close();
    this.ws?.close(1000);
    this.ws = null;
  }

  // -- internals ---------------------------------------------------------------------------------

  _state(state, detail) {
    this.options.onState?.(state, detail);
  }

  async _freshToken() {
    if (this.options.getToken) this.token = await this.options.getToken();
    this._scheduleRefresh();
    return this.token;
  }

  _scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const exp = this.token ? tokenExpiry(this.token) : 0;
    if (!exp || !this.options.getToken || this.closed) return;
    // A little before it expires (a tenth of its remaining life, at most 30 s early).
    const left = exp * 1000 - Date.now();
    const early = Math.min(30000, Math.max(500, left / 10));
    this.refreshTimer = setTimeout(async () => {
      await this._freshToken();
      if (this.open) this._send({ op: 'auth', token: this.token }).catch(() => {});
    }, Math.max(0, left - early));
  }

  _add(spec, handlers) {
    const name = `s${++this.seq}`;
    const sub = new Subscription(this, name, spec, handlers);
    this.subs.set(name, sub);
    if (this.mode === 'eventsource') this._openSource(sub);
    else if (this.open) this._subscribe(sub);
    else this._connect();
    return sub;
  }

  _drop(sub) {
    this.subs.delete(sub.name);
    if (sub.source) sub.source.close();
    else if (this.open) this._send({ op: 'unsubscribe', sub: sub.name }).catch(() => {});
  }

  async _command(message, method, path, body) {
    if (this.mode !== 'eventsource') {
      if (!this.open) this._connect();
      await this._opened();
    }
    if (this.open) {
      const reply = await this._send(message);
      if (reply.status >= 300) throw new HeraldError(reply.status, reply.body);
      return reply.body;
    }
    const headers = { 'Content-Type': 'application/json' };
    if (this.options.getToken && !this.token) await this._freshToken();
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const res = await this.fetch(`${this.url}${path}`, { method, headers, body: JSON.stringify(body) });
    const answer = await res.json();
    if (!res.ok) throw new HeraldError(res.status, answer);
    return answer;
  }

  /** Resolves once the socket is open, once it will not open, or after `waitMs` (a command then
   * goes by fetch). */
  _opened(waitMs = 5000) {
    const until = Date.now() + waitMs;
    return new Promise((resolve) => {
      const check = () => (this.open || this.mode === 'eventsource' || Date.now() > until
        ? resolve() : setTimeout(check, 20));
      check();
    });
  }

  _send(message) {
    const req = `r${++this.seq}`;
    return new Promise((resolve, reject) => {
      this.replies.set(req, { resolve, reject });
      try {
        this.ws.send(JSON.stringify({ ...message, req }));
      } catch (err) {
        this.replies.delete(req);
        reject(err);
      }
    });
  }

  _subscribe(sub) {
    const m = sub.spec.session
      ? { op: 'attach', sub: sub.name, session: sub.spec.session }
      : { op: 'subscribe', sub: sub.name, topics: sub.spec.topics };
    if (sub.lastEventId) m.last_event_id = sub.lastEventId;
    this._send(m).then((reply) => {
      if (reply.status === 200) return sub.settle.resolve();
      const err = new HeraldError(reply.status, reply.body);
      if (reply.status === 401 && this.options.getToken) {
        // Its token expired meanwhile: a fresh one, then again.
        return this._freshToken().then(() => this._send({ op: 'auth', token: this.token }))
          .then(() => this._subscribe(sub));
      }
      this.subs.delete(sub.name);
      sub.closed = true;
      sub.settle.reject(err);
      sub.handlers.onError?.(err);
    }, () => {});
  }

  async _connect() {
    if (this.ws || this.closed) return;
    const url = new URL(`${this.url}/v1/ws`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = { pending: true, close() {}, send() { throw new Error('not open'); } };
    const token = this.options.getToken || this.token ? await this._freshToken() : null;
    if (token) url.searchParams.set('access_token', token);
    if (this.closed) return;
    let ws;
    try {
      ws = new this.WebSocket(url.toString());
    } catch {
      return this._lost(null, 'cannot connect');
    }
    this.ws = ws;
    ws.onopen = () => {
      this.open = true;
      this.everOpened = true;
      this.failures = 0;
      this._state('open');
      for (const sub of this.subs.values()) this._subscribe(sub);
    };
    ws.onmessage = (msg) => this._message(JSON.parse(msg.data));
    ws.onerror = () => {}; // a close follows (and Node's `ws` throws an unhandled error)
    ws.onclose = (ev) => this._lost(ws, ev.reason, ev.code);
  }

  _message(m) {
    if (m.op === 'reply' && m.req && this.replies.has(m.req)) {
      const waiter = this.replies.get(m.req);
      this.replies.delete(m.req);
      return waiter.resolve(m);
    }
    const sub = m.sub ? this.subs.get(m.sub) : null;
    if (m.op === 'event') return sub?._event(m);
    if (m.op === 'gap') return sub?.handlers.onGap?.(m.data);
    if (m.op === 'redelivery') {
      return sub?._event({ ...m.data, redelivered: true, ack: true, sub: m.sub });
    }
    if (m.op === 'ended') {
      if (!sub) return;
      if (RESUME_ENDS.has(m.reason) && !this.closed) {
        // Resume from its last id (with a fresh token first, if that is why it ended).
        const again = m.reason === 'token_expired' && this.options.getToken
          ? this._freshToken().then(() => this._send({ op: 'auth', token: this.token }))
          : Promise.resolve();
        return again.then(() => this._subscribe(sub), () => {});
      }
      this.subs.delete(sub.name);
      sub.closed = true;
      return sub.handlers.onEnd?.(m.reason);
    }
    if (m.op === 'error') return this.options.onError?.(m.error);
    if (sub) return sub.handlers.onNotice?.(m.op, m.data);
    return this.options.onNotice?.(m.op, m.data);
  }

  _lost(ws, reason = '', code = 0) {
    if (ws && this.ws !== ws) return;
    this.ws = null;
    const wasOpen = this.open;
    this.open = false;
    for (const waiter of this.replies.values()) waiter.reject(new Error('connection lost'));
    this.replies.clear();
    this._state('closed', { code, reason });
    if (this.closed) return;
    if (!wasOpen) this.failures++;
    if (!this.everOpened && this.failures >= 2 && this.mode === 'auto') {
      // WebSocket does not get through (a proxy, a policy): one EventSource per subscription.
      this.mode = 'eventsource';
      this._state('fallback', 'eventsource');
      for (const sub of this.subs.values()) this._openSource(sub);
      return;
    }
    const hinted = /retry_ms=(\d+)/.exec(reason);
    const base = hinted ? Number(hinted[1]) : this.retryMs;
    const delay = Math.min(this.options.maxRetryMs ?? 30000, base * 2 ** Math.min(this.failures, 5));
    setTimeout(() => this._connect(), hinted ? base : delay / 2 + Math.random() * delay / 2);
  }

  async _openSource(sub) {
    if (sub.closed || this.closed) return;
    const url = new URL(sub.spec.session
      ? `${this.url}/v1/sessions/${encodeURIComponent(sub.spec.session)}/events`
      : `${this.url}/v1/subscribe`);
    for (const t of sub.spec.topics ?? []) url.searchParams.append('topic', t);
    url.searchParams.set('envelope', '1');
    if (sub.lastEventId) url.searchParams.set('last_event_id', sub.lastEventId);
    const token = this.options.getToken || this.token ? await this._freshToken() : null;
    if (token) url.searchParams.set('access_token', token);
    if (sub.closed || this.closed) return;
    const source = new this.EventSource(url.toString());
    sub.source = source;
    source.onopen = () => sub.settle.resolve();
    // In the envelope form every event is a plain message whose data has topic, type and data.
    source.onmessage = (msg) => {
      const env = JSON.parse(msg.data);
      sub._event({ op: 'event', sub: sub.name, id: msg.lastEventId, topic: env.topic, type: env.type, data: env.data });
    };
    const listen = (type, fn) => source.addEventListener(type, fn);
    listen('herald.gap', (msg) => sub.handlers.onGap?.(JSON.parse(msg.data)));
    listen('herald.redelivery', (msg) => {
      const d = JSON.parse(msg.data);
      sub._event({ ...d, redelivered: true, ack: true });
    });
    for (const n of ['herald.shutdown', 'herald.session_replaced', 'herald.session_deleted']) {
      listen(n, (msg) => sub.handlers.onNotice?.(n.slice(7), JSON.parse(msg.data)));
    }
    listen('herald.token_expired', () => {
      // EventSource would reconnect with the expired token: reopen with a fresh one instead.
      source.close();
      setTimeout(() => this._openSource(sub), 0);
    });
    source.onerror = () => {
      if (source.readyState === 2 && !sub.closed) setTimeout(() => this._openSource(sub), this.retryMs);
    };
  }
}

export default Herald;
