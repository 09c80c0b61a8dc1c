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
      http: { max_body_size: '1k', max_header_size: '4k', header_timeout: '1s', body_timeout: '1s' },
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

  it('a body over max_body_size (1k) is a 413 whether announced by Content-Length or chunked', async () => {
    const big = chat({ padding: 'x'.repeat(2000) });
    let r = await exchange(gw.port, [post(big)]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 413);
    assertOpenAIError(JSON.parse(r.responses[0].text), { code: 'request_too_large' });
    assert.ok(r.closed, 'connection closed after the 413');

    const chunked =
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n' +
      Array.from({ length: 5 }, () => `190\r\n${'y'.repeat(400)}\r\n`).join('') +
      '0\r\n\r\n';
    r = await exchange(gw.port, [chunked]);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 413);
    assert.ok(r.closed, 'connection closed after the 413');

    // just under the limit is fine
    const ok = await postJson(`${gw.baseURL}/chat/completions`, chat({ pad: 'z'.repeat(800) }));
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
    sock.write(
      post(JSON.stringify({ model: 'gpt-4o', messages: prompt, stream: true, sim: { tokens } }), {
        Connection: 'close',
      }),
    );
    await firstData;
    sock.pause(); // the gateway's output buffer fills, the upstream must be paused
    await new Promise((r) => setTimeout(r, 1500));
    sock.resume();
    await closed;
    const { responses } = parseResponses(Buffer.concat(chunks), { eof: true });
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

  it('the provider secret never appears in the error log or the access log', async () => {
    // provoke the paths that log the most: upstream auth failure, 5xx, mid-stream reset, 404
    await postJson(`${gw.baseURL}/chat/completions`, chat({ sim: { status: 401 } }));
    await postJson(`${gw.baseURL}/chat/completions`, chat({ sim: { status: 500 } }));
    await postJson(`${gw.baseURL}/chat/completions`, chat({ stream: true, sim: { reset_after: 2 } }));
    await postJson(`${gw.baseURL}/chat/completions`, chat({ model: 'broken-model' }));
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
    }
  });

  it('the gateway stops cleanly on SIGTERM with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    assert.ok(!res.workerKilled, 'workers exited by themselves');
    gw.checkSanitizers();
  });
});
