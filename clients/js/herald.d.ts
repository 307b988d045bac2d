// Type declarations of Herald's JavaScript client (herald.js, served by the hub at /v1/client.js).

export interface HeraldEvent {
  /** The event's id: the subscription resumes after it. */
  id: string;
  topic: string;
  type?: string;
  /** The event's data, parsed. */
  data: unknown;
  /** The subscription it belongs to. */
  sub?: string;
  /** A durable session expects its acknowledgement. */
  ack?: boolean;
  /** A durable session delivers it again (it was not acknowledged in time). */
  redelivered?: boolean;
  /** How many times it was delivered (redeliveries). */
  delivery?: number;
  /** Acknowledges it (events of attach() that need an ack). */
  acknowledge?: () => Promise<AckResult>;
}

export interface Handlers {
  onEvent?: (event: HeraldEvent) => void;
  /** A herald.gap notice: events of the subscription retention removed before they arrived. */
  onGap?: (gap: { reason: string; from?: string; to?: string; last_event_id?: string }) => void;
  /** Other notices of the subscription (shutdown, session_replaced, ...), without "herald.". */
  onNotice?: (op: string, data: unknown) => void;
  /** The hub refused the subscription (bad topic, no grant, topic full, ...). */
  onError?: (error: HeraldError) => void;
  /** The subscription ended for good (e.g. its durable session was deleted). */
  onEnd?: (reason: string) => void;
  /** Resume after this id ("earliest": everything the hub retains). */
  lastEventId?: string;
}

export interface Subscription {
  readonly name: string;
  /** The last event id seen (where it resumes). */
  readonly lastEventId: string | null;
  readonly closed: boolean;
  /** Resolves when the hub accepted it; rejects with its refusal. */
  readonly ready: Promise<void>;
  close(): void;
}

export interface PublishEvent {
  topic: string;
  data: unknown;
  type?: string;
  idempotency_key?: string;
  ack?: boolean;
  private?: boolean;
  audience?: string[];
}

export interface AckResult {
  acked: number;
  dead_letters_removed: number;
  ignored: number;
  pending: number;
}

export interface Options {
  /** A fixed token (JWT). */
  token?: string;
  /** Asked for a token before each connection and shortly before the current one expires. */
  getToken?: () => string | Promise<string>;
  /** "auto" (WebSocket, falling back to EventSource), "websocket" or "eventsource". */
  transport?: 'auto' | 'websocket' | 'eventsource';
  /** Implementations for environments without globals (Node: the `ws` and `eventsource` packages). */
  WebSocket?: unknown;
  EventSource?: unknown;
  fetch?: typeof fetch;
  /** Connection state: "open", "closed" ({code, reason}), "fallback". */
  onState?: (state: string, detail?: unknown) => void;
  /** Notices not tied to a subscription (e.g. shutdown of a socket without subscriptions). */
  onNotice?: (op: string, data: unknown) => void;
  /** Messages the hub could not read (a client bug). */
  onError?: (error: { code: string; message: string }) => void;
  /** The first reconnection delay (ms); doubled per failure up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

export class HeraldError extends Error {
  readonly status: number;
  readonly code?: string;
  readonly body: unknown;
}

export class Herald {
  constructor(url: string, options?: Options);
  subscribe(topics: string | string[], handlers?: Handlers): Subscription;
  attach(session: string, handlers?: Handlers): Subscription;
  publish(event: PublishEvent): Promise<{ id: string }>;
  publish(events: PublishEvent[]): Promise<{ ids: string[] }>;
  ack(session: string, ids: string[]): Promise<AckResult>;
  close(): void;
}

export default Herald;
