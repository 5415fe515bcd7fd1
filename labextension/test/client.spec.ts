/**
 * The REST/SSE client against a real HTTP server on 127.0.0.1 (Node's `http`), with the
 * real `fetch`: SSE framing split at any byte, keep-alive comments, a stream that breaks and
 * is resumed with `Last-Event-ID` (replayed events dropped), refusals as errors with codes.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { AssistantApiError, AssistantClient } from '../src/client';
import { AssistantEvent } from '../src/sse';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

let server: http.Server;
let handler: Handler;
let base: string;
const requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', c => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise(resolve => server.close(resolve));
});

beforeEach(() => {
  requests.length = 0;
});

function client(delays = [10, 10, 10]): AssistantClient {
  return new AssistantClient({ baseUrl: base, request: (url, init) => fetch(url, init), reconnectDelaysMs: delays });
}

function event(seq: number, type: string, data: Record<string, unknown> = {}): AssistantEvent {
  return { type: type as AssistantEvent['type'], session_id: 's_1', turn_id: 't_1', seq, timestamp: 1000 + seq, data };
}

function frame(e: AssistantEvent): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

function sseHead(res: http.ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
}

const TURN = [
  event(1, 'session_started', { conversation_id: 'c_1', model: 'anthropic:claude-test' }),
  event(2, 'text_delta', { text: 'Hel' }),
  event(3, 'text_delta', { text: 'lo' }),
  event(4, 'message_complete', { text: 'Hello' })
];

test('frames split at every byte and keep-alive comments are read', async () => {
  const text = ': keep-alive\n\n' + TURN.map(frame).join(': keep-alive\n\n');
  handler = (_req, res) => {
    sseHead(res);
    const bytes = Buffer.from(text);
    let i = 0;
    const tick = () => {
      if (i >= bytes.length) {
        res.end();
        return;
      }
      res.write(bytes.subarray(i, i + 7)); // 7-byte pieces: cut inside fields and lines
      i += 7;
      setImmediate(tick);
    };
    tick();
  };
  const seen: AssistantEvent[] = [];
  let keepAlives = 0;
  const result = await client().chat(
    { message: 'hi' },
    { onEvent: e => seen.push(e), onKeepAlive: () => (keepAlives += 1) }
  );
  expect(seen).toEqual(TURN);
  expect(keepAlives).toBe(4);
  expect(result.terminal.type).toBe('message_complete');
  expect(result.sessionId).toBe('s_1');
  expect(result.lastSeq).toBe(4);
  const post = requests[0];
  expect(post.method).toBe('POST');
  expect(post.url).toBe('/assistant/api/chat');
  expect(JSON.parse(post.body)).toEqual({ message: 'hi' });
  expect(post.headers['content-type']).toBe('application/json');
});

test('a broken stream resumes with Last-Event-ID and each event arrives once', async () => {
  handler = (req, res) => {
    if (req.method === 'POST') {
      sseHead(res);
      res.write(frame(TURN[0]) + frame(TURN[1]));
      setTimeout(() => res.socket?.destroy(), 20); // the connection drops mid-turn
      return;
    }
    // the resume: replays from an older seq than asked (the client must drop duplicates)
    sseHead(res);
    res.end(TURN.slice(1).map(frame).join(''));
  };
  const seen: number[] = [];
  const reconnects: Array<[number, number]> = [];
  const result = await client().chat(
    { message: 'hi' },
    { onEvent: e => seen.push(e.seq), onReconnect: (a, last) => reconnects.push([a, last]) }
  );
  expect(seen).toEqual([1, 2, 3, 4]);
  expect(reconnects).toEqual([[1, 2]]);
  expect(result.terminal.type).toBe('message_complete');
  const resume = requests[1];
  expect(resume.method).toBe('GET');
  expect(resume.url).toBe('/assistant/api/sessions/s_1/events');
  expect(resume.headers['last-event-id']).toBe('2');
});

test('a stream that ends without a terminal event is resumed too', async () => {
  let gets = 0;
  handler = (req, res) => {
    sseHead(res);
    if (req.method === 'POST') {
      res.end(frame(TURN[0]));
      return;
    }
    gets += 1;
    res.end(gets === 1 ? frame(TURN[1]) : TURN.slice(2).map(frame).join(''));
  };
  const seen: number[] = [];
  await client().chat({ message: 'hi' }, { onEvent: e => seen.push(e.seq) });
  expect(seen).toEqual([1, 2, 3, 4]);
  expect(requests.slice(1).map(r => r.headers['last-event-id'])).toEqual(['1', '2']);
});

test('a silent stream (no event, no keep-alive) is taken for dead and resumed', async () => {
  handler = (req, res) => {
    sseHead(res);
    if (req.method === 'POST') {
      res.write(frame(TURN[0]) + frame(TURN[1])); // then silence, the connection left open
      return;
    }
    res.end(TURN.slice(2).map(frame).join(''));
  };
  const c = new AssistantClient({
    baseUrl: base,
    request: (url, init) => fetch(url, init),
    reconnectDelaysMs: [10],
    idleTimeoutMs: 300
  });
  const seen: number[] = [];
  const t0 = Date.now();
  const result = await c.chat({ message: 'hi' }, { onEvent: e => seen.push(e.seq) });
  expect(seen).toEqual([1, 2, 3, 4]);
  expect(result.terminal.type).toBe('message_complete');
  expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  expect(requests[1].headers['last-event-id']).toBe('2');
});

test('keep-alive comments keep a quiet stream alive', async () => {
  handler = (_req, res) => {
    sseHead(res);
    res.write(frame(TURN[0]));
    let n = 0;
    const tick = setInterval(() => {
      n += 1;
      if (n < 6) {
        res.write(': keep-alive\n\n'); // every 100 ms, under the 250 ms idle timeout
      } else {
        clearInterval(tick);
        res.end(TURN.slice(1).map(frame).join(''));
      }
    }, 100);
  };
  const c = new AssistantClient({
    baseUrl: base,
    request: (url, init) => fetch(url, init),
    idleTimeoutMs: 250
  });
  let keepAlives = 0;
  await c.chat({ message: 'hi' }, { onEvent: () => undefined, onKeepAlive: () => (keepAlives += 1) });
  expect(keepAlives).toBe(5);
  expect(requests).toHaveLength(1); // never reconnected
});

test('resume() asks for the events after the given seq', async () => {
  handler = (_req, res) => {
    sseHead(res);
    res.end(TURN.slice(2).map(frame).join(''));
  };
  const seen: number[] = [];
  const result = await client().resume('s_1', 2, { onEvent: e => seen.push(e.seq) });
  expect(seen).toEqual([3, 4]);
  expect(result.lastSeq).toBe(4);
  expect(requests[0].headers['last-event-id']).toBe('2');
});

test('a refused turn rejects with the server code, message and Retry-After', async () => {
  handler = (_req, res) => {
    res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '12' });
    res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'too many chats' } }));
  };
  const err: AssistantApiError = await client()
    .chat({ message: 'hi' }, { onEvent: () => undefined })
    .then(() => {
      throw new Error('expected a rejection');
    })
    .catch(e => e);
  expect(err).toBeInstanceOf(AssistantApiError);
  expect(err.status).toBe(429);
  expect(err.code).toBe('rate_limited');
  expect(err.message).toBe('too many chats (retry after 12 s)');
});

test('an unknown session is not retried', async () => {
  handler = (_req, res) => {
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: "session 's_9' not found" } }));
  };
  await expect(client().resume('s_9', 0, { onEvent: () => undefined })).rejects.toMatchObject({
    status: 404,
    code: 'not_found'
  });
  expect(requests).toHaveLength(1);
});

test('a server that stays away ends the reconnects with a network_error', async () => {
  handler = (req, res) => {
    if (req.method === 'POST') {
      sseHead(res);
      res.write(frame(TURN[0]));
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    res.socket?.destroy(); // every resume fails at the network level
  };
  const err = await client([5, 5])
    .chat({ message: 'hi' }, { onEvent: () => undefined })
    .catch(e => e);
  expect(err).toBeInstanceOf(AssistantApiError);
  expect(err.code).toBe('network_error');
  expect(err.message).toMatch(/could not resume session s_1 after 2 attempts/);
  expect(requests.filter(r => r.method === 'GET')).toHaveLength(2);
});

test('an unreachable server is a network_error', async () => {
  const c = new AssistantClient({ baseUrl: 'http://127.0.0.1:9/', request: (u, i) => fetch(u, i) });
  await expect(c.info()).rejects.toMatchObject({ status: 0, code: 'network_error' });
});

test('abort stops reading without cancelling the turn', async () => {
  handler = (_req, res) => {
    sseHead(res);
    res.write(frame(TURN[0])); // then nothing: a long turn
  };
  const abort = new AbortController();
  const seen: number[] = [];
  const p = client().chat(
    { message: 'hi' },
    {
      signal: abort.signal,
      onEvent: e => {
        seen.push(e.seq);
        abort.abort();
      }
    }
  );
  await expect(p).rejects.toMatchObject({ code: 'aborted' });
  expect(seen).toEqual([1]);
  expect(requests.map(r => r.url)).toEqual(['/assistant/api/chat']); // no cancel request
});

test('REST helpers: conversations, usage sums, cancel, upload', async () => {
  handler = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const url = req.url ?? '';
    if (url.startsWith('/assistant/api/requests')) {
      const offset = Number(new URL(url, base).searchParams.get('offset'));
      const items = offset === 0 ? [{ input_tokens: 10, output_tokens: 5, cost_usd: 0.01 }] : [
        { input_tokens: 1, cache_read_input_tokens: 2, output_tokens: 3, cost_usd: null }
      ];
      res.end(JSON.stringify({ items, total: 2, limit: 500, offset }));
    } else if (url.startsWith('/assistant/api/conversations')) {
      res.end(JSON.stringify({ items: [{ id: 'c_1', title: 'A' }], total: 1, limit: 20, offset: 0 }));
    } else {
      res.end(JSON.stringify({ ok: true, body: requests[requests.length - 1].body }));
    }
  };
  const c = client();
  const page = await c.listConversations(20, 0);
  expect(page.items[0].title).toBe('A');
  expect(requests[0].url).toBe('/assistant/api/conversations?limit=20&offset=0');
  expect(await c.conversationUsage('c_1')).toEqual({ input_tokens: 13, output_tokens: 8, cost_usd: 0.01, calls: 2 });
  await c.cancel('s_1');
  expect(requests[requests.length - 1]).toMatchObject({ method: 'POST', url: '/assistant/api/sessions/s_1/cancel' });
  const up = (await c.uploadTrace(new Blob(['[1,2]']), 'my trace.json')) as unknown as { body: string };
  expect(up.body).toBe('[1,2]');
  expect(requests[requests.length - 1].url).toBe('/assistant/api/traces?name=my%20trace.json');
});
