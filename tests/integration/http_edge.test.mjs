// HTTP/1.1 edge cases at the gateway's front door, over raw sockets where fetch would refuse to
// send the bytes: framing attacks are refused and the connection closed, limits and deadlines
// answer with the right status, keep-alive and pipelining keep order, and what reaches the
// provider is the client's body (model rewritten) plus the provider's credentials — which never
// leak into the logs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import {
  startSim,
  startGateway,
  postJson,
  assertOpenAIError,
  waitFor,
  sseData,
} from './lib/harness.mjs';
import { exchange, connect, request, parseResponses } from './lib/rawhttp.mjs';

const SECRET = `sk-test-SECRET-${crypto.randomBytes(12).toString('hex')}`;
const chat = (extra = {}) =>
  JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('HTTP edge cases', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({
      simPort: sim.port,
      env: { SIM_KEY: SECRET },
      log: { level: 'debug' },
      http: {
        max_body_size: '2k',
        max_header_size: '4k',
        header_timeout: '1s',
        body_timeout: '1s',
        keepalive_timeout: '2s',
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  const post = (body, headers = {}) =>
    request('POST', '/v1/chat/completions', {
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });

  /**
   * Write bytes on a new connection, stop reading for ms once the first bytes of an answer
   * arrive, then read until the gateway closes. Returns the parsed responses.
   */
  async function readPaused(bytes, ms) {
    const sock = net.connect(gw.port, '127.0.0.1');
    const chunks = [];
    let first;
    const firstData = new Promise((r) => (first = r));
    sock.on('data', (d) => {
      chunks.push(d);
      first();
    });
    const closed = new Promise((r) => sock.on('close', r));
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write(bytes);
    await firstData;
    sock.pause();
    await new Promise((r) => setTimeout(r, ms));
    sock.resume();
    await closed;
    return parseResponses(Buffer.concat(chunks), { eof: true }).responses;
  }

  it('malformed JSON is a 400 invalid_request_error in OpenAI shape', async () => {
    const r = await postJson(`${gw.baseURL}/chat/completions`, '{"model": "gpt-4o", "messages": [');
    assert.equal(r.status, 400);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assertOpenAIError(r.json, { type: 'invalid_request_error' });
    assert.match(r.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,64}$/);

    for (const body of ['', '[1,2]', '"just a string"', 'null']) {
      const e = await postJson(`${gw.baseURL}/chat/completions`, body);
      assert.equal(e.status, 400, `body ${JSON.stringify(body)}`);
      assertOpenAIError(e.json, { type: 'invalid_request_error' });
    }
  });

  it('invalid JSON of every kind is refused by the gateway itself, never forwarded', async () => {
    const M = '"messages":[{"role":"user","content":"hi"}]';
    const bad = [
      `{"model":"gpt-4o",${M},}`,
      `{"model":"gpt-4o","messages":[1,]}`,
      `{'model':'gpt-4o',${M}}`,
      `{"model":"gpt-4o",${M},"t":NaN}`,
      `{"model":"gpt-4o",${M},"t":01}`,
      `{"model":"gpt-4o",${M},"t":+1}`,
      `{"model":"gpt-4o",${M},"t":1.}`,
      `{"model":"gpt-4o",${M},"t":.5}`,
      `{"model":"gpt-4o",${M},"t":1e}`,
      `{"model":"gpt-4o",${M},"t":"\\x41"}`,
      `{"model":"gpt-4o",${M},"t":"\\u00"}`,
      `{"model":"gpt-4o",${M},"t":"a\tb"}`,
      `{"model":"gpt-4o",${M},"t":tru}`,
      `{"model":"gpt-4o",${M},"t":[1}`,
      `{"model":"gpt-4o",${M},"t":{"a"}}`,
      `{"model":"gpt-4o",${M},"t":{1:2}}`,
      `{"model":"gpt-4o",${M}} {}`,
      `{"model":"gpt-4o",${M}`,
      `{"model":"gpt-4o",${M},"t":${'['.repeat(600)}${']'.repeat(600)}}`,
      `{"model":"gpt-4o",${M},"t":${'['.repeat(1500)}}`,
    ];
    const before = (await sim.stats()).requests;
    for (const body of bad) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, body);
      assert.equal(r.status, 400, `${body.slice(0, 120)} -> ${r.status} ${r.text}`);
      assertOpenAIError(r.json, { type: 'invalid_request_error' });
    }
    const utf8 = Buffer.concat([
      Buffer.from(`{"model":"gpt-4o",${M},"t":"`),
      Buffer.from([0xc0, 0x80, 0xff]),
      Buffer.from('"}'),
    ]);
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: utf8,
    });
    assert.equal(r.status, 400, 'invalid UTF-8 is refused');
    assert.equal((await sim.stats()).requests, before, 'none of them reached the provider');

    // and valid but unusual JSON passes: exponents, escapes, nesting within the limit
    const ok = await postJson(
      `${gw.baseURL}/chat/completions`,
      `{ "model" : "gpt-4o" ,\n ${M}, "t": [1E+2, -0.0e-0, "\\/\\b\\u00e9"], "d": ${'['.repeat(100)}${']'.repeat(100)} }`,
    );
    assert.equal(ok.status, 200, ok.text);
  });

  it('a body over max_body_size (2k) is a 413 whether announced by Content-Length or chunked', async () => {
    const big = chat({ padding: 'x'.repeat(4000) });
    let r = await exchange(gw.port, [post(big)]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 413);
    assertOpenAIError(JSON.parse(r.responses[0].text), { code: 'request_too_large' });
    assert.ok(r.closed, 'connection closed after the 413');

    const chunked =
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n' +
      Array.from({ length: 10 }, () => `190\r\n${'y'.repeat(400)}\r\n`).join('') +
      '0\r\n\r\n';
    r = await exchange(gw.port, [chunked]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 413);
    assert.ok(r.closed, 'connection closed after the 413');

    // just under the limit is fine
    const ok = await postJson(`${gw.baseURL}/chat/completions`, chat({ pad: 'z'.repeat(1800) }));
    assert.equal(ok.status, 200);
  });

  it('Content-Length together with Transfer-Encoding is a 400 and the connection is closed', async () => {
    const smuggled = request('GET', '/healthz', { headers: { 'x-request-id': 'smuggled' } });
    const body = `0\r\n\r\n${smuggled}`;
    const r = await exchange(gw.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    ]);
    assert.equal(r.responses.length, 1, `exactly one answer: ${r.text}`);
    assert.equal(r.responses[0].status, 400);
    assert.ok(r.closed, 'connection closed');
    assert.ok(!r.text.includes('smuggled'), 'the smuggled request was not answered');
  });

  it('duplicate Content-Length headers are a 400 and the connection is closed', async () => {
    const r = await exchange(gw.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 5\r\nContent-Length: 40\r\n\r\n' +
        chat().slice(0, 40),
    ]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 400);
    assert.ok(r.closed, 'connection closed');
  });

  it('an invalid chunk size is a 400 and the connection is closed', async () => {
    const r = await exchange(gw.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    ]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 400);
    assertOpenAIError(JSON.parse(r.responses[0].text), { type: 'invalid_request_error' });
    assert.ok(r.closed, 'connection closed');
  });

  it('Transfer-Encoding "gzip, chunked" is a 501 and the connection is closed', async () => {
    const r = await exchange(gw.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 501);
    assert.ok(r.closed, 'connection closed');
  });

  it('Transfer-Encoding split over two header lines (gzip + chunked) is a 501 too', async () => {
    // RFC 9110 5.3: repeated field lines are one list, "gzip, chunked"
    const body = chat();
    const r = await exchange(gw.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 501, 'same answer as "Transfer-Encoding: gzip, chunked"');
    assert.ok(r.closed, 'connection closed');
  });

  it('a long Authorization (1.5k bearer token) or Content-Type header is accepted', async () => {
    // both are well under max_header_size (4k here); JWT/Azure AD bearer tokens are this long
    const long = await exchange(gw.port, [
      post(chat(), { Authorization: `Bearer ${'a'.repeat(1500)}`, Connection: 'close' }),
    ]);
    assert.equal(long.responses[0]?.status, 200, long.text.slice(0, 400));

    const ctype = await exchange(gw.port, [
      request('POST', '/v1/chat/completions', {
        headers: {
          'Content-Type': `application/json; charset=utf-8; x-note=${'b'.repeat(150)}`,
          Connection: 'close',
        },
        body: chat(),
      }),
    ]);
    assert.equal(ctype.responses[0]?.status, 200, ctype.text.slice(0, 400));
  });

  it('a request URI over the limit is a 414', async () => {
    const r = await exchange(gw.port, [request('GET', `/v1/models/${'x'.repeat(3000)}`)]);
    assert.equal(r.responses[0]?.status, 414, r.text.slice(0, 300));
    assert.ok(r.closed, 'connection closed');
  });

  it('a properly chunked request body is accepted', async () => {
    const body = chat();
    const r = await exchange(
      gw.port,
      [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
          `${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n` +
          `${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`,
      ],
      { timeout: 10000 },
    );
    assert.equal(r.responses[0]?.status, 200, r.text);
    assert.ok(JSON.parse(r.responses[0].text).choices[0].message.content.length > 0);
  });

  it('headers over max_header_size (4k) are a 431', async () => {
    const r = await exchange(gw.port, [
      request('GET', '/healthz', { headers: { 'X-Big': 'a'.repeat(8000) } }),
    ]);
    assert.equal(r.responses.length, 1, r.text.slice(0, 300));
    assert.equal(r.responses[0].status, 431);
    assert.ok(r.closed, 'connection closed');

    const fine = await exchange(gw.port, [
      request('GET', '/healthz', { headers: { 'X-Big': 'a'.repeat(2000), Connection: 'close' } }),
    ]);
    assert.equal(fine.responses[0]?.status, 200, 'a 2k header is within the limit');
  });

  it('keep-alive: three requests on one connection are all answered and it stays open', async () => {
    const c = await connect(gw.port);
    try {
      c.send(request('GET', '/healthz', { headers: { 'x-request-id': 'ka-1' } }));
      const a = await c.next();
      c.send(post(chat(), { 'x-request-id': 'ka-2' }));
      const b = await c.next();
      c.send(request('GET', '/v1/models', { headers: { 'x-request-id': 'ka-3' } }));
      const d = await c.next();
      assert.deepEqual(
        [a, b, d].map((x) => [x.status, x.headers['x-request-id']]),
        [
          [200, 'ka-1'],
          [200, 'ka-2'],
          [200, 'ka-3'],
        ],
      );
      assert.ok(JSON.parse(b.text).choices, 'the chat answer is complete');
      assert.ok(!/close/i.test(d.headers.connection ?? ''), 'no Connection: close');
      assert.equal(await c.waitClose(300), false, 'the connection is still open');
    } finally {
      c.close();
    }
  });

  it('an idle keep-alive connection is closed after keepalive_timeout (2s), not header_timeout (1s)', async () => {
    const c = await connect(gw.port);
    try {
      c.send(request('GET', '/healthz'));
      assert.equal((await c.next()).status, 200);
      await new Promise((r) => setTimeout(r, 1300)); // longer than header_timeout
      c.send(request('GET', '/healthz'));
      assert.equal((await c.next()).status, 200, 'still usable after 1.3s idle');
      const t0 = Date.now();
      assert.equal(await c.waitClose(5000), true, 'closed when idle too long');
      const idle = Date.now() - t0;
      assert.ok(idle >= 1800 && idle < 3500, `closed at the 2s keep-alive deadline (${idle} ms)`);
    } finally {
      c.close();
    }
  });

  it('a pipelining flood (3000 requests, 1.7 MB at once) is answered completely and in order', async () => {
    const N = 3000;
    let all = '';
    for (let i = 0; i < N; i++) {
      all += request('GET', '/healthz', {
        headers: {
          'x-request-id': `flood-${i}`,
          'X-Pad': 'p'.repeat(500),
          ...(i === N - 1 ? { Connection: 'close' } : {}),
        },
      });
    }
    const r = await exchange(gw.port, [all], { timeout: 20000 });
    assert.equal(r.responses.length, N, 'every request answered');
    const wrong = r.responses.findIndex((x, i) => x.headers['x-request-id'] !== `flood-${i}`);
    assert.equal(wrong, -1, `answers in request order (first wrong: ${wrong})`);
    assert.ok(r.closed);
  });

  it('nothing of one request leaks into the next on the same keep-alive connection', async () => {
    const c = await connect(gw.port);
    const rows = [];
    try {
      const steps = [
        post(chat({ sim: { status: 429 } }), { 'x-request-id': 'leak-first' }),
        request('GET', '/healthz'),
        post(chat({ stream: true })),
        post(chat({ model: 'no-such-model' })),
        post(chat({ sim: { tokens: 123457 } })),
        request('GET', '/v1/models'),
      ];
      for (const req of steps) {
        c.send(req);
        rows.push(await c.next(20000));
      }
    } finally {
      c.close();
    }
    const [limited, health, stream, missing, big, models] = rows;
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '1');
    for (const r of [health, stream, missing, big, models]) {
      assert.notEqual(r.headers['x-request-id'], 'leak-first', 'a fresh request id');
      assert.equal(r.headers['retry-after'], undefined, 'no retry-after from the 429 before');
    }
    assert.equal(new Set(rows.map((r) => r.headers['x-request-id'])).size, rows.length);
    for (const r of [health, missing, models]) {
      assert.equal(r.headers['x-tollgate-provider'], undefined, 'not proxied, no provider header');
      assert.equal(r.headers['x-tollgate-cost-usd'], undefined);
    }
    assert.equal(health.text, '{"status":"ok"}');
    assert.equal(stream.headers['x-tollgate-cost-usd'], undefined, 'no cost header on streams');
    const usage = JSON.parse(big.text).usage;
    assert.equal(usage.completion_tokens, 123457);
    // 8 * 2.50 + 123457 * 10.00 micro-dollars: the integer part of the format is exercised too
    assert.equal(big.headers['x-tollgate-cost-usd'], '1.234590');

    const log = await waitFor(
      () => {
        const l = gw.readAccessLog();
        const i = l.findIndex((x) => x.request_id === 'leak-first');
        return i >= 0 && l.length >= i + rows.length ? l.slice(i, i + rows.length) : null;
      },
      { timeout: 3000, what: 'the access log lines' },
    );
    const byId = Object.fromEntries(log.map((l) => [l.request_id, l]));
    const h = byId[health.headers['x-request-id']];
    assert.ok(h, 'the health check is logged');
    assert.equal(h.model, undefined, 'no model carried over');
    assert.equal(h.error, undefined, 'no error carried over');
    assert.equal(h.status, 200);
    assert.equal(byId[big.headers['x-request-id']].cost_usd, '1.234590');
  });

  it('a query string or a trailing slash on an endpoint path is accepted', async () => {
    for (const p of ['/v1/chat/completions?api-version=2024-06-01', '/v1/chat/completions/']) {
      const r = await postJson(`${gw.url}${p}`, chat());
      assert.equal(r.status, 200, `${p}: ${r.text}`);
    }
  });

  it('generated request ids are unique across workers and connections', async () => {
    const ids = new Set();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 40; i++) {
          const res = await fetch(`${gw.url}/healthz`, { headers: { connection: 'close' } });
          await res.arrayBuffer();
          ids.add(res.headers.get('x-request-id'));
        }
      }),
    );
    assert.equal(ids.size, 320);
  });

  it('pipelining: requests written at once are answered in order, a slow one first', async () => {
    const r = await exchange(
      gw.port,
      [
        post(chat({ sim: { latency_ms: 400 } }), { 'x-request-id': 'pipe-1' }) +
          request('GET', '/healthz', { headers: { 'x-request-id': 'pipe-2' } }) +
          request('GET', '/v1/models/gpt-4o', {
            headers: { 'x-request-id': 'pipe-3', Connection: 'close' },
          }),
      ],
      { timeout: 10000 },
    );
    assert.deepEqual(
      r.responses.map((x) => [x.status, x.headers['x-request-id']]),
      [
        [200, 'pipe-1'],
        [200, 'pipe-2'],
        [200, 'pipe-3'],
      ],
      r.text,
    );
    assert.ok(JSON.parse(r.responses[0].text).choices[0].message.content);
    assert.equal(JSON.parse(r.responses[2].text).id, 'gpt-4o');
    assert.ok(r.closed, 'Connection: close on the last request closes it');
  });

  it('a large answer to a client that stops reading, pipelined with small ones, arrives whole and in order', async () => {
    // ~2 MB written while the client is not reading, the answers after it queued behind it.
    // Loopback's socket buffers usually take all of it in one writev here; the partial writes
    // that small buffers force are tested in tests/unit/worker/test_http.c.
    const emb = JSON.stringify({
      model: 'text-embedding-3-small',
      input: Array.from({ length: 100 }, (_, i) => `text ${i}`),
      dimensions: 1024,
      encoding_format: 'float',
    });
    const direct = await postJson(`${sim.url}/v1/embeddings`, JSON.parse(emb));
    const responses = await readPaused(
      request('POST', '/v1/embeddings', {
        headers: { 'Content-Type': 'application/json', 'x-request-id': 'big-1' },
        body: emb,
      }) +
        request('GET', '/healthz', { headers: { 'x-request-id': 'big-2' } }) +
        post(chat(), { 'x-request-id': 'big-3', Connection: 'close' }),
      500,
    );
    assert.deepEqual(
      responses.map((x) => [x.status, x.headers['x-request-id']]),
      [
        [200, 'big-1'],
        [200, 'big-2'],
        [200, 'big-3'],
      ],
    );
    assert.ok(responses[0].body.length > 1000000, `large (${responses[0].body.length} bytes)`);
    assert.deepEqual(JSON.parse(responses[0].text).data, direct.json.data);
    assert.ok(JSON.parse(responses[2].text).choices[0].message.content);
  });

  it('an unknown path is a 404 and a wrong method a 405 with Allow', async () => {
    let r = await fetch(`${gw.url}/v1/nothing-here`);
    assert.equal(r.status, 404);
    assertOpenAIError(await r.json(), { code: 'unknown_url' });

    r = await fetch(`${gw.baseURL}/chat/completions`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    assertOpenAIError(await r.json(), { type: 'invalid_request_error' });

    r = await fetch(`${gw.baseURL}/models`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET');
  });

  it('headers not complete within header_timeout (1s) get a 408 and a close', async () => {
    const r = await exchange(gw.port, ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'], {
      timeout: 5000,
    });
    assert.equal(r.responses[0]?.status, 408, r.text);
    assert.ok(r.closed, 'closed after the 408');
    assert.ok(r.elapsed >= 900 && r.elapsed < 3000, `at the 1s deadline (${r.elapsed} ms)`);
  });

  it('trickling header lines does not extend the header deadline', async () => {
    const writes = ['POST /v1/chat/completions HTTP/1.1\r\n'];
    for (let i = 0; i < 12; i++) writes.push(250, `X-Slow-${i}: y\r\n`);
    const r = await exchange(gw.port, writes, { timeout: 6000 });
    assert.equal(r.responses[0]?.status, 408, r.text);
    assert.ok(r.elapsed < 2500, `408 near the 1s deadline, not later (${r.elapsed} ms)`);
  });

  it('a body not complete within body_timeout (1s) gets a 408 and a close', async () => {
    const r = await exchange(
      gw.port,
      [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 200\r\n\r\n{"model":',
      ],
      { timeout: 5000 },
    );
    assert.equal(r.responses[0]?.status, 408, r.text);
    assert.ok(r.closed, 'closed after the 408');
  });

  it('Expect: 100-continue gets an interim 100 and then the answer', async () => {
    const body = chat();
    const c = await connect(gw.port);
    try {
      let raw = '';
      c.sock.on('data', (d) => (raw += d));
      c.send(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Expect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      await waitFor(() => raw.startsWith('HTTP/1.1 100'), { timeout: 2000, what: '100 Continue' });
      c.send(body);
      const r = await c.next();
      assert.equal(r.status, 200);
    } finally {
      c.close();
    }
  });

  it('an HTTP/1.0 request is answered with a length and the connection closed', async () => {
    const r = await exchange(gw.port, ['GET /healthz HTTP/1.0\r\n\r\n']);
    assert.equal(r.responses[0]?.status, 200, r.text);
    assert.ok(r.closed, 'HTTP/1.0 without keep-alive closes');
  });

  it('a client that stops reading a large stream for a while still gets all of it (pause/resume loses nothing)', async () => {
    const tokens = 20000;
    const prompt = [{ role: 'user', content: 'a very long answer please' }];
    const ref = await postJson(`${sim.url}/v1/chat/completions`, {
      model: 'gpt-4o-2024-08-06',
      messages: prompt,
      sim: { tokens },
    });
    const want = ref.json.choices[0].message.content;

    // the gateway's output buffer fills while the client does not read: the upstream is paused
    const responses = await readPaused(
      post(JSON.stringify({ model: 'gpt-4o', messages: prompt, stream: true, sim: { tokens } }), {
        Connection: 'close',
      }),
      1500,
    );
    assert.equal(responses.length, 1);
    assert.equal(responses[0].status, 200);
    const events = sseData(responses[0].text);
    assert.equal(events[events.length - 1], '[DONE]');
    const text = events
      .slice(0, -1)
      .map((e) => JSON.parse(e))
      .map((c) => {
        assert.ok(!c.error, `no error event: ${JSON.stringify(c)}`);
        return c.choices[0]?.delta?.content ?? '';
      })
      .join('');
    assert.equal(text.length, want.length, 'same length as the non-stream answer');
    assert.equal(text, want, 'byte-identical to the non-stream answer');
  });

  it('an HTTP/1.0 client gets a stream as a close-delimited body (no chunked encoding)', async () => {
    const body = chat({ stream: true });
    const r = await exchange(
      gw.port,
      [
        'POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${body.length}\r\n\r\n${body}`,
      ],
      { timeout: 10000 },
    );
    assert.ok(r.closed, 'the end of the stream is the close');
    assert.equal(r.responses[0]?.status, 200, r.text.slice(0, 300));
    assert.equal(r.responses[0].headers['transfer-encoding'], undefined);
    const events = sseData(r.responses[0].text);
    assert.equal(events[events.length - 1], '[DONE]');
  });

  it('unknown body fields reach the provider unchanged and only the model is rewritten', async () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be terse. ünïcödé ✓ 🚀 "quoted" \\ back' },
        { role: 'user', content: 'hi', name: 'alice' },
      ],
      temperature: 0.3,
      top_p: 1,
      seed: 42,
      user: 'user-123',
      logit_bias: { 50256: -100 },
      metadata: { team: 'a', nested: { list: [1, 'two', null, true, { x: 1.5 }] } },
      x_vendor_extension: { anything: ['goes', 0, false] },
      tool_choice: 'none',
      tools: [
        {
          type: 'function',
          function: { name: 'f', parameters: { type: 'object', properties: {} } },
        },
      ],
    };
    const r = await postJson(`${gw.baseURL}/chat/completions`, body);
    assert.equal(r.status, 200, r.text);
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/v1/chat/completions');
    assert.deepEqual(seen.body, { ...body, model: 'gpt-4o-2024-08-06' });
  });

  it('a body cannot smuggle a second model or stream flag past the gateway with escaped keys', async () => {
    const M = '"messages":[{"role":"user","content":"hi"}]';
    // "mo\u0064el" is "model" to every JSON parser, the provider's included
    let r = await postJson(
      `${gw.baseURL}/chat/completions`,
      `{"model":"gpt-4o","mo\\u0064el":"o1-pro",${M}}`,
    );
    if (r.status !== 400) {
      assert.equal(r.status, 200, r.text);
      const seen = await sim.lastRequest();
      assert.equal(seen.body.model, 'gpt-4o-2024-08-06', 'the provider serves the configured model');
      assert.equal(r.json.model, 'gpt-4o-2024-08-06', `answered by ${r.json.model}`);
    }

    // the same for "stream": gateway and provider must agree on whether this is a stream
    r = await postJson(
      `${gw.baseURL}/chat/completions`,
      `{"model":"gpt-4o","stream":false,"str\\u0065am":true,${M}}`,
      { headers: { 'x-request-id': 'escaped-stream-key' } },
    );
    if (r.status !== 400) {
      assert.equal(r.status, 200, r.text);
      const seen = await sim.lastRequest();
      const ctype = r.headers.get('content-type') ?? '';
      if (seen.body.stream === true) {
        assert.match(ctype, /^text\/event-stream/, 'a provider stream is relayed as a stream');
      } else {
        assert.doesNotThrow(() => JSON.parse(r.text), 'a JSON answer is JSON');
      }
      const line = await waitFor(
        () => gw.readAccessLog().find((l) => l.request_id === 'escaped-stream-key'),
        { timeout: 3000, what: 'access log line' },
      );
      assert.equal(line.usage_estimated, false, 'metered from the provider usage, not guessed');
    }
  });

  it('provider error statuses map as documented (4xx pass through with their body; 401/403/5xx do not)', async () => {
    const table = [
      // [provider status, gateway status, code when the gateway writes the error]
      [400, 400],
      [401, 502, 'upstream_auth_failed'],
      [403, 502, 'upstream_auth_failed'],
      [404, 404],
      [408, 504, 'upstream_timeout'],
      [409, 409],
      [413, 413],
      [422, 422],
      [429, 429],
      [500, 502, 'upstream_error'],
      [502, 502, 'upstream_error'],
      [503, 503, 'upstream_overloaded'],
      [504, 504, 'upstream_timeout'], // the provider's own gateway timed out
      [529, 503, 'upstream_overloaded'],
    ];
    for (const [up, want, code] of table) {
      const body = chat({ sim: { status: up } });
      const r = await postJson(`${gw.baseURL}/chat/completions`, body);
      assert.equal(r.status, want, `provider ${up}: ${r.text}`);
      const e = assertOpenAIError(r.json);
      if (code) {
        assert.equal(e.code, code, `provider ${up}`);
        assert.match(e.message, /sim/, 'the message names the provider');
      } else {
        const direct = await postJson(`${sim.url}/v1/chat/completions`, {
          ...JSON.parse(body),
          model: 'gpt-4o-2024-08-06',
        });
        assert.deepEqual(r.json, direct.json, `provider ${up}: its body passes through`);
      }
      assert.equal(r.headers.get('x-tollgate-provider'), 'sim', `provider ${up}`);
    }
  });

  it("the provider's api_key arrives as Authorization: Bearer and its extra header too, not the client's key", async () => {
    const r = await postJson(`${gw.baseURL}/chat/completions`, chat(), {
      headers: { Authorization: 'Bearer sk-client-own-key' },
    });
    assert.equal(r.status, 200);
    const seen = await sim.lastRequest();
    assert.equal(seen.headers.authorization, `Bearer ${SECRET}`);
    assert.equal(seen.headers['x-extra'], 'hello');
    assert.ok(!JSON.stringify(seen).includes('sk-client-own-key'), "the client's key stays here");
  });

  it('the provider secret and prompt text never appear in the error log or the access log (debug level)', async () => {
    // provoke the paths that log the most: upstream auth failure, 5xx, mid-stream reset, 404
    await postJson(`${gw.baseURL}/chat/completions`, chat({ sim: { status: 401 } }));
    await postJson(`${gw.baseURL}/chat/completions`, chat({ sim: { status: 500 } }));
    await postJson(`${gw.baseURL}/chat/completions`, chat({ stream: true, sim: { reset_after: 2 } }));
    await postJson(`${gw.baseURL}/chat/completions`, chat({ model: 'broken-model' }));
    // prompt text is never logged either (docs/api.md), whatever happens to the request
    const marker = `PROMPT-MARKER-${crypto.randomBytes(6).toString('hex')}`;
    const withPrompt = (extra) =>
      chat({ messages: [{ role: 'user', content: marker }], ...extra });
    await postJson(`${gw.baseURL}/chat/completions`, withPrompt({}));
    await postJson(`${gw.baseURL}/chat/completions`, withPrompt({ sim: { status: 500 } }));
    await postJson(`${gw.baseURL}/chat/completions`, withPrompt({ stream: true, sim: { reset_after: 1 } }));
    await postJson(`${gw.baseURL}/chat/completions`, withPrompt({ model: 'broken-model' }));
    await postJson(`${gw.baseURL}/chat/completions`, withPrompt({}).slice(0, -2));
    await new Promise((r) => setTimeout(r, 200));
    const errorLog = gw.readErrorLog();
    const accessLog = JSON.stringify(gw.readAccessLog());
    assert.ok(errorLog.length > 0, 'the error log is written');
    assert.ok(accessLog.length > 2, 'the access log is written');
    assert.ok(/upstream_auth_failed/.test(accessLog), 'the auth failure was logged');
    for (const [name, text] of [
      ['error log', errorLog],
      ['access log', accessLog],
      ['stderr', gw.stderr()],
    ]) {
      assert.ok(!text.includes(SECRET), `${name} holds the secret`);
      assert.ok(!text.includes(SECRET.slice(-16)), `${name} holds part of the secret`);
      assert.ok(!text.includes(marker), `${name} holds prompt text`);
    }
  });

  it('the gateway stops cleanly on SIGTERM with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    assert.ok(!res.workerKilled, 'workers exited by themselves');
    gw.checkSanitizers();
  });
});

describe('connection limits', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({
      simPort: sim.port,
      workers: 1,
      http: { max_connections: 4, send_timeout: '2s' },
    });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  it('at max_connections (4) a fifth connection waits and is served when one closes', async () => {
    const conns = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = await connect(gw.port);
        conns.push(c);
        c.send(request('GET', '/healthz'));
        assert.equal((await c.next()).status, 200);
      }
      const fifth = await connect(gw.port);
      conns.push(fifth);
      fifth.send(request('GET', '/healthz'));
      await assert.rejects(fifth.next(700), /no response/, 'the fifth waits');
      conns[0].close();
      assert.equal((await fifth.next(3000)).status, 200, 'served once a slot is free');
    } finally {
      for (const c of conns) c.close();
    }
  });

  it('a client that stops reading a stream is dropped after send_timeout (2s) and the upstream with it', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    let got = 0;
    sock.on('data', (d) => {
      got += d.length;
      if (got > 1000) sock.pause(); // and never read again
    });
    sock.write(
      request('POST', '/v1/chat/completions', {
        headers: { 'Content-Type': 'application/json', 'x-request-id': 'never-reads' },
        body: JSON.stringify({
          model: 'gpt-4o',
          stream: true,
          messages: [{ role: 'user', content: 'x' }],
          sim: { tokens: 60000 },
        }),
      }),
    );
    try {
      await waitFor(() => got > 1000, { timeout: 10000, what: 'the stream to start' });
      const t0 = Date.now();
      const line = await waitFor(
        () => gw.readAccessLog().find((l) => l.request_id === 'never-reads'),
        { timeout: 12000, interval: 100, what: 'the gateway to give up on the client' },
      );
      const took = Date.now() - t0;
      assert.ok(took < 9000, `dropped within send_timeout plus sending time (${took} ms)`);
      assert.ok(line.error, `the access log names why: ${JSON.stringify(line)}`);
      await waitFor(async () => (await sim.stats()).active_streams === 0, {
        timeout: 2000,
        what: 'the upstream stream to be cancelled',
      });
    } finally {
      sock.destroy();
    }
  });

  it('the gateway stops cleanly on SIGTERM with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    gw.checkSanitizers();
  });
});
