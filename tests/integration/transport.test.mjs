// The two upstream transports: the default HTTP/1.1 keep-alive pool (libcurl connect-only
// connections) and libcurl's full HTTP stack (`http2: true`). Both must give the client the
// same answers, usage and errors; the pool must survive a provider that drops its idle
// connections, and both must enforce the first-byte and idle deadlines.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startSim,
  startGateway,
  postJson,
  sseData,
  sleep,
  assertOpenAIError,
} from './lib/harness.mjs';

const MSG = [{ role: 'user', content: 'tell me about transports' }];

function models() {
  return {
    'pool-model': { provider: 'pool', upstream_model: 'gpt-4o', price: { input: 2.5, output: 10 } },
    'curl-model': { provider: 'curl', upstream_model: 'gpt-4o', price: { input: 2.5, output: 10 } },
  };
}

function providers(simPort) {
  return {
    pool: { kind: 'openai', base_url: `http://127.0.0.1:${simPort}/v1` },
    curl: { kind: 'openai', base_url: `http://127.0.0.1:${simPort}/v1`, http2: true },
  };
}

describe('upstream transports', () => {
  let sim;
  let gw;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({
      workers: 1,
      providers: providers(sim.port),
      models: models(),
      upstream: { first_byte_timeout: '1s', stream_idle_timeout: '1s' },
    });
  });

  after(async () => {
    if (gw) await gw.stop();
    if (sim) await sim.stop();
  });

  it('the pool and curl transports answer identically, streamed and not', async () => {
    const answers = {};
    for (const model of ['pool-model', 'curl-model']) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model, messages: MSG });
      assert.equal(r.status, 200, r.text);
      const s = await postJson(`${gw.baseURL}/chat/completions`, {
        model,
        messages: MSG,
        stream: true,
        stream_options: { include_usage: true },
      });
      assert.equal(s.status, 200, s.text);
      const events = sseData(s.text);
      assert.equal(events.at(-1), '[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      const text = chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
      answers[model] = {
        content: r.json.choices[0].message.content,
        usage: r.json.usage,
        cost: r.headers.get('x-tollgate-cost-usd'),
        streamText: text,
        streamUsage: chunks.at(-1).usage,
      };
    }
    assert.deepEqual(answers['pool-model'], answers['curl-model']);
    assert.equal(answers['pool-model'].content, answers['pool-model'].streamText);
    assert.deepEqual(answers['pool-model'].usage, answers['pool-model'].streamUsage);
  });

  it('the pool reuses one connection for sequential requests', async () => {
    await sim.reset();
    for (let i = 0; i < 5; i++) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'pool-model', messages: MSG });
      assert.equal(r.status, 200, r.text);
    }
    const stats = await sim.stats();
    assert.equal(stats.requests, 5);
    // the simulator sees no Connection: close and a keep-alive request line each time
    for (const req of stats.last) assert.notEqual(req.headers.connection, 'close');
  });

  it('a provider restart (its pooled connections dead) costs no client request', async () => {
    const r1 = await postJson(`${gw.baseURL}/chat/completions`, { model: 'pool-model', messages: MSG });
    assert.equal(r1.status, 200, r1.text);
    // restart the simulator on the same port: the pooled connection is now stale
    const port = sim.port;
    await sim.stop();
    sim = await startSim({ port });
    for (let i = 0; i < 3; i++) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'pool-model', messages: MSG });
      assert.equal(r.status, 200, `request ${i} after the restart: ${r.text}`);
    }
  });

  for (const model of ['pool-model', 'curl-model']) {
    it(`${model}: no first byte within first_byte_timeout is a 504 upstream_timeout`, async () => {
      const t0 = Date.now();
      const r = await postJson(`${gw.baseURL}/chat/completions`, {
        model,
        messages: MSG,
        sim: { latency_ms: 3000 },
      });
      assert.equal(r.status, 504, r.text);
      assertOpenAIError(r.json, { type: 'server_error', code: 'upstream_timeout' });
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 2900, `answered after ${took} ms`);
    });

    it(`${model}: a stream that goes idle past stream_idle_timeout ends with an error event`, async () => {
      const r = await postJson(`${gw.baseURL}/chat/completions`, {
        model,
        messages: MSG,
        stream: true,
        sim: { stall_after: 2 },
      });
      assert.equal(r.status, 200);
      const events = sseData(r.text);
      const last = JSON.parse(events.at(-1));
      assert.equal(last.error.code, 'upstream_timeout', r.text);
    });

    it(`${model}: upstream 5xx maps to 502 and provider errors pass through`, async () => {
      let r = await postJson(`${gw.baseURL}/chat/completions`, { model, messages: MSG, sim: { status: 500 } });
      assert.equal(r.status, 502);
      assertOpenAIError(r.json, { type: 'server_error', code: 'upstream_error' });
      r = await postJson(`${gw.baseURL}/chat/completions`, { model, messages: MSG, sim: { status: 429 } });
      assert.equal(r.status, 429);
      assert.ok(r.headers.get('retry-after'), 'retry-after passes through');
    });

    it(`${model}: a connection reset mid-stream ends the stream with an error event`, async () => {
      const r = await postJson(`${gw.baseURL}/chat/completions`, {
        model,
        messages: MSG,
        stream: true,
        sim: { reset_after: 3 },
      });
      assert.equal(r.status, 200);
      const events = sseData(r.text);
      const last = JSON.parse(events.at(-1));
      assert.ok(last.error, `last event is an error: ${events.at(-1)}`);
    });
  }

  it('after all of the above the pool still serves', async () => {
    await sleep(50);
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'pool-model', messages: MSG });
    assert.equal(r.status, 200, r.text);
  });
});
