// The gateway's upstream side under failure: after timeouts, client aborts, stalls, resets and
// error answers, the next requests must still get their own answers (a reused connection must
// never deliver a late or leftover response to someone else), many concurrent streams must all
// complete, and a provider that restarts must not turn stale pooled connections into 502s.
// Both transports are covered: the built-in HTTP/1.1 pool (default) and curl's full stack
// (provider option http2: true). One worker, so every request shares one pool.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startSim, startGateway, postJson, sseData, waitFor, sleep } from './lib/harness.mjs';
import { request } from './lib/rawhttp.mjs';

const UPSTREAM = 'gpt-4o-2024-08-06';
const TRANSPORTS = [
  ['HTTP/1.1 pool', 'gpt-4o'],
  ['curl (http2: true)', 'gpt-4o-curl'],
];

describe('upstream connections', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    const base = `http://127.0.0.1:${sim.port}/v1`;
    const price = { input: 2.5, output: 10 };
    gw = await startGateway({
      simPort: sim.port,
      workers: 1,
      upstream: { first_byte_timeout: '2s', stream_idle_timeout: '2s' },
      providers: {
        sim: { kind: 'openai', base_url: base },
        simcurl: { kind: 'openai', base_url: base, http2: true },
      },
      models: {
        'gpt-4o': { provider: 'sim', upstream_model: UPSTREAM, price },
        'gpt-4o-curl': { provider: 'simcurl', upstream_model: UPSTREAM, price },
        'text-embedding-3-small': { provider: 'sim', price: { input: 0.02, output: 0 } },
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  const ask = (model, content, extra = {}, opts) =>
    postJson(
      `${gw.baseURL}/chat/completions`,
      { model, messages: [{ role: 'user', content }], ...extra },
      opts,
    );

  async function reference(content) {
    const r = await postJson(`${sim.url}/v1/chat/completions`, {
      model: UPSTREAM,
      messages: [{ role: 'user', content }],
    });
    return r.json.choices[0].message.content;
  }

  /** n concurrent requests with distinct prompts each get exactly their own answer. */
  async function assertOwnAnswers(model, label, n = 6) {
    const got = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const prompt = `${label} question ${i}`;
        const r = await ask(model, prompt);
        const want = await reference(prompt);
        if (r.status !== 200) return `#${i}: HTTP ${r.status} ${r.text.slice(0, 200)}`;
        const content = r.json?.choices?.[0]?.message?.content;
        return content === want ? 'ok' : `#${i}: someone else's answer: ${content}`;
      }),
    );
    assert.deepEqual(got, Array(n).fill('ok'), `${label}: every request got its own answer`);
  }

  for (const [name, model] of TRANSPORTS) {
    describe(name, () => {
      it('concurrent requests each get their own answer', async () => {
        await assertOwnAnswers(model, `${model} warm`, 8);
      });

      it('after a first-byte timeout the late answer never reaches a later request', async () => {
        const r = await ask(model, 'too slow', { sim: { latency_ms: 3000 } });
        assert.equal(r.status, 504);
        await assertOwnAnswers(model, `${model} after 504`);
        await sleep(1300); // the late answer has been sent by now
        await assertOwnAnswers(model, `${model} after the late answer`);
      });

      it('after a client aborts mid-stream the rest of that stream never reaches a later request', async () => {
        const sock = net.connect(gw.port, '127.0.0.1');
        sock.on('error', () => {});
        await new Promise((r) => sock.once('connect', r));
        let got = 0;
        sock.on('data', (d) => (got += d.length));
        sock.write(
          request('POST', '/v1/chat/completions', {
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({
              model,
              stream: true,
              messages: [{ role: 'user', content: 'abort me' }],
              sim: { tps: 50, tokens: 200 },
            }),
          }),
        );
        await waitFor(() => got > 600, { timeout: 5000, what: 'stream bytes' });
        sock.destroy();
        await assertOwnAnswers(model, `${model} after abort`);
        await waitFor(async () => (await sim.stats()).active_streams === 0, {
          timeout: 2000,
          what: 'the aborted upstream stream to end',
        });
      });

      it('after a stalled stream (idle timeout) and a reset stream, later requests are served', async () => {
        let r = await ask(model, 'stall', { stream: true, sim: { stall_after: 3 } });
        assert.equal(r.status, 200);
        let events = sseData(r.text);
        assert.equal(JSON.parse(events[events.length - 1]).error?.code, 'upstream_timeout');
        await assertOwnAnswers(model, `${model} after stall`);

        r = await ask(model, 'reset', { stream: true, sim: { reset_after: 3 } });
        events = sseData(r.text);
        assert.equal(JSON.parse(events[events.length - 1]).error?.code, 'upstream_error');
        await assertOwnAnswers(model, `${model} after reset`);

        r = await ask(model, 'reset before answering', { sim: { reset_after: 0 } });
        assert.equal(r.status, 502, r.text);
        await assertOwnAnswers(model, `${model} after early reset`);
      });

      it('error answers (400, 429, 500, 503) leave the connection usable', async () => {
        for (const [st, want] of [
          [400, 400],
          [429, 429],
          [500, 502],
          [503, 503],
        ]) {
          const r = await ask(model, 'err', { sim: { status: st } });
          assert.equal(r.status, want, `upstream ${st}`);
        }
        await assertOwnAnswers(model, `${model} after errors`);
      });

      it('30 concurrent streams all complete with their own text', async () => {
        const results = await Promise.all(
          Array.from({ length: 30 }, async (_, i) => {
            const prompt = `${model} stream ${i}`;
            const r = await ask(model, prompt, { stream: true, sim: { tps: 200 } });
            const events = sseData(r.text);
            if (events[events.length - 1] !== '[DONE]') return `#${i}: no [DONE]`;
            const text = events
              .slice(0, -1)
              .map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? '')
              .join('');
            return text === (await reference(prompt)) ? 'ok' : `#${i}: wrong text`;
          }),
        );
        assert.deepEqual(results, Array(30).fill('ok'));
        assert.equal((await sim.stats()).active_streams, 0);
      });
    });
  }

  it('a large answer (embeddings, ~600 KB) arrives intact', async () => {
    const body = {
      model: 'text-embedding-3-small',
      input: Array.from({ length: 100 }, (_, i) => `text ${i}`),
      dimensions: 1024,
      encoding_format: 'float',
    };
    const via = await postJson(`${gw.baseURL}/embeddings`, body);
    const direct = await postJson(`${sim.url}/v1/embeddings`, body);
    assert.equal(via.status, 200);
    assert.ok(via.text.length > 500000, `large (${via.text.length} bytes)`);
    assert.deepEqual(via.json.data, direct.json.data);
  });

  it('a provider restarted on the same port is used again without 502s from stale connections', async () => {
    for (const [, model] of TRANSPORTS) await assertOwnAnswers(model, `${model} before restart`);
    const port = sim.port;
    await sim.stop();
    sim = await startSim({ port });
    assert.equal(sim.port, port);
    for (const [, model] of TRANSPORTS) await assertOwnAnswers(model, `${model} after restart`);
  });

  it('the gateway stops cleanly on SIGTERM with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    gw.checkSanitizers();
  });
});

// A pooled HTTP/1.1 connection keeps one read event from its first answer until it is closed:
// going idle in the pool and being taken again change only the event's timeout, never its epoll
// registration (worker/upstream_h1.c tg_h1_want). What must hold: sequential requests share one
// connection, and a provider closing an idle connection is still noticed at once (the gateway
// closes its side without waiting for a request to find out) and replaced by the next request.
describe('pooled connection events', () => {
  let up, gw;
  const conns = []; // per upstream connection: { requests, peerClosed, sock }

  function answer(sock, st) {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const m = /\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (buf.length < total) return;
        buf = buf.subarray(total);
        st.requests++;
        const body = JSON.stringify({
          id: `chatcmpl-${st.requests}`,
          object: 'chat.completion',
          created: 1741569952,
          model: UPSTREAM,
          choices: [
            { index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
        });
        sock.write(
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n' +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      }
    });
  }

  before(async () => {
    up = net.createServer({ allowHalfOpen: true }, (sock) => {
      const st = { requests: 0, peerClosed: false, sock };
      conns.push(st);
      sock.on('end', () => (st.peerClosed = true));
      sock.on('error', () => {});
      answer(sock, st);
    });
    await new Promise((r) => up.listen(0, '127.0.0.1', r));
    gw = await startGateway({
      workers: 1,
      providers: { raw: { kind: 'openai', base_url: `http://127.0.0.1:${up.address().port}/v1` } },
      models: {
        'gpt-4o': { provider: 'raw', upstream_model: UPSTREAM, price: { input: 2.5, output: 10 } },
      },
    });
  });

  after(async () => {
    await gw?.stop();
    for (const c of conns) c.sock.destroy();
    if (up) await new Promise((r) => up.close(r));
  });

  const ask = () =>
    postJson(`${gw.baseURL}/chat/completions`, {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hello' }],
    });

  it('sequential requests reuse one connection', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await ask();
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.choices[0].message.content, 'hi');
    }
    assert.equal(conns.length, 1, 'one upstream connection for five sequential requests');
    assert.equal(conns[0].requests, 5);
  });

  it('an idle connection the provider closes is closed by the gateway at once', async () => {
    assert.equal(conns.length, 1);
    conns[0].sock.end(); // FIN only: the socket still sees the gateway's FIN
    await waitFor(() => conns[0].peerClosed, {
      timeout: 2000,
      what: 'the gateway to close the idle connection the provider closed',
    });
    const r = await ask();
    assert.equal(r.status, 200, r.text);
    assert.equal(conns.length, 2, 'a new connection for the next request');
    assert.equal(conns[1].requests, 1);
  });

  it('the gateway stops cleanly with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    gw.checkSanitizers();
  });
});
