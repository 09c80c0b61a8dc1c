// The official OpenAI Node SDK (pinned in package.json), used exactly as an application would,
// against the gateway in front of tollgate-sim. What must hold: answers are the provider's,
// usage and cost are metered from what the provider reported, streams behave like OpenAI's,
// and every failure surfaces as the SDK error class a user would catch.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startSim,
  startGateway,
  postJson,
  costUsd,
  defaultModels,
  waitFor,
} from './lib/harness.mjs';

const PRICE = defaultModels()['gpt-4o'].price;
const UPSTREAM = 'gpt-4o-2024-08-06';

describe('OpenAI SDK against tollgate', () => {
  let sim, gw, client;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({
      simPort: sim.port,
      upstream: { first_byte_timeout: '2s', stream_idle_timeout: '2s' },
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-anything', maxRetries: 0 });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  /** The same request sent straight to the simulator, under the upstream model id. */
  async function direct(path, body) {
    const r = await postJson(`${sim.url}/v1${path}`, { ...body, model: UPSTREAM });
    assert.equal(r.status, 200, `direct sim call: ${r.text}`);
    return r.json;
  }

  /** Run p, which must reject; return the error. */
  async function rejection(p) {
    try {
      await p;
    } catch (e) {
      return e;
    }
    assert.fail('expected the SDK call to throw');
  }

  const messages = [{ role: 'user', content: 'Say hello' }]; // 10 prompt tokens at the sim

  it('chat.completions.create returns the provider answer, its usage and the gateway headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages })
      .withResponse();
    const ref = await direct('/chat/completions', { messages });

    assert.equal(data.object, 'chat.completion');
    assert.equal(typeof data.choices[0].message.content, 'string');
    assert.ok(data.choices[0].message.content.length > 0, 'content is not empty');
    assert.equal(data.choices[0].message.content, ref.choices[0].message.content);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.deepEqual(data.usage, ref.usage, 'usage equals what the sim reports');
    assert.equal(data.usage.prompt_tokens, 10);
    assert.equal(data.usage.completion_tokens, 16);

    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-tollgate-provider'), 'sim');
    assert.equal(response.headers.get('x-tollgate-model'), 'gpt-4o');
    assert.match(response.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,64}$/);
    // 10 prompt + 16 completion tokens at $2.50/$10.00 per 1M
    assert.equal(response.headers.get('x-tollgate-cost-usd'), '0.000185');
    assert.equal(response.headers.get('x-tollgate-cost-usd'), costUsd(PRICE, data.usage));

    const upstream = await sim.lastRequest();
    assert.equal(upstream.body.model, UPSTREAM, 'the model is rewritten to upstream_model');
    assert.equal(upstream.body.stream_options, undefined, 'no stream_options on non-stream calls');
  });

  it('the access log records the request with the reported usage and cost', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages }, { headers: { 'x-request-id': 'sdk-log-check-1' } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), 'sdk-log-check-1');
    const line = await waitFor(
      () => gw.readAccessLog().find((l) => l.request_id === 'sdk-log-check-1'),
      { timeout: 3000, what: 'access log line' },
    );
    assert.equal(line.status, 200);
    assert.equal(line.model, 'gpt-4o');
    assert.equal(line.provider, 'sim');
    assert.equal(line.prompt_tokens, 10);
    assert.equal(line.completion_tokens, 16);
    assert.equal(line.cost_usd, '0.000185');
    assert.equal(line.usage_estimated, false);
    assert.equal(typeof line.latency_ms, 'number');
    assert.equal(typeof line.ttfb_ms, 'number');
  });

  it('streaming yields the same text as non-stream and no usage chunk unless asked for', async () => {
    const whole = await client.chat.completions.create({ model: 'gpt-4o', messages });
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', messages, stream: true },
      { headers: { 'x-request-id': 'sdk-stream-no-usage' } },
    );
    let text = '';
    let chunks = 0;
    let finish = null;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.ok(chunk.usage === undefined || chunk.usage === null, 'no usage in any chunk');
      assert.equal(chunk.choices.length, 1, 'no usage-only (empty choices) chunk');
      text += chunk.choices[0].delta?.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    assert.ok(chunks > 2, `several chunks (${chunks})`);
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(finish, 'stop');

    const upstream = await sim.lastRequest();
    assert.equal(upstream.body.stream, true);
    assert.deepEqual(
      upstream.body.stream_options,
      { include_usage: true },
      'the gateway asks the provider for usage on every stream',
    );
    // ...and bills from it, although the client never saw it
    const line = await waitFor(
      () => gw.readAccessLog().find((l) => l.request_id === 'sdk-stream-no-usage'),
      { timeout: 3000, what: 'access log line' },
    );
    assert.equal(line.stream, true);
    assert.equal(line.usage_estimated, false);
    assert.equal(line.prompt_tokens, whole.usage.prompt_tokens);
    assert.equal(line.completion_tokens, whole.usage.completion_tokens);
    assert.equal(line.cost_usd, costUsd(PRICE, whole.usage));
  });

  it('streaming with stream_options.include_usage ends with a usage chunk equal to non-stream usage', async () => {
    const whole = await client.chat.completions.create({ model: 'gpt-4o', messages });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
    assert.deepEqual(last.usage, whole.usage);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, whole.choices[0].message.content);
  });

  it('completions.create answers with the provider text and usage', async () => {
    const { data, response } = await client.completions
      .create({ model: 'gpt-4o', prompt: 'Once upon a time', max_tokens: 5 })
      .withResponse();
    const ref = await direct('/completions', { prompt: 'Once upon a time', max_tokens: 5 });
    assert.equal(data.object, 'text_completion');
    assert.equal(data.choices[0].text, ref.choices[0].text);
    assert.ok(data.choices[0].text.length > 0);
    assert.equal(data.choices[0].finish_reason, 'length');
    assert.deepEqual(data.usage, ref.usage);
    assert.equal(data.usage.completion_tokens, 5);
    assert.equal(response.headers.get('x-tollgate-cost-usd'), costUsd(PRICE, data.usage));
    assert.equal((await sim.lastRequest()).path, '/v1/completions');
  });

  it('completions streaming yields the non-stream text and no usage chunk unless asked', async () => {
    const body = { model: 'gpt-4o', prompt: 'Write a line', max_tokens: 12 };
    const whole = await client.completions.create(body);
    let text = '';
    for await (const chunk of await client.completions.create({ ...body, stream: true })) {
      assert.equal(chunk.choices.length, 1, 'no usage-only chunk');
      text += chunk.choices[0].text;
    }
    assert.equal(text, whole.choices[0].text);
    const chunks = [];
    for await (const c of await client.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    }))
      chunks.push(c);
    assert.deepEqual(chunks[chunks.length - 1].usage, whole.usage);
  });

  it('tool calls come back whole and streamed (arguments reassemble to the same JSON)', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { location: { type: 'string' } } },
        },
      },
    ];
    const ask = { model: 'gpt-4o', messages: [{ role: 'user', content: 'weather in Paris?' }], tools };
    const whole = await client.chat.completions.create(ask);
    const call = whole.choices[0].message.tool_calls?.[0];
    assert.ok(call, 'a tool call');
    assert.equal(whole.choices[0].finish_reason, 'tool_calls');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });

    let args = '';
    let name;
    let finish;
    for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) {
      const tc = chunk.choices[0]?.delta?.tool_calls?.[0];
      if (tc?.function?.name) name = tc.function.name;
      args += tc?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(name, 'get_weather');
    assert.equal(args, call.function.arguments);
    assert.equal(finish, 'tool_calls');
  });

  it('embeddings.create (SDK default base64 encoding) decodes to the provider vector', async () => {
    const { data: res, response } = await client.embeddings
      .create({ model: 'text-embedding-3-small', input: 'hello world' })
      .withResponse();
    const upstream = await sim.lastRequest();
    assert.equal(upstream.path, '/v1/embeddings');
    assert.equal(upstream.body.encoding_format, 'base64', 'the SDK asked for base64');
    assert.equal(res.data.length, 1);
    const vec = res.data[0].embedding;
    assert.ok(Array.isArray(vec), 'decoded to an array');
    assert.equal(vec.length, 8, 'the sim default dimension');
    const norm = Math.sqrt(vec.reduce((a, x) => a + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4, `unit vector (norm ${norm})`);

    const ref = await postJson(`${sim.url}/v1/embeddings`, {
      model: 'text-embedding-3-small',
      input: 'hello world',
      encoding_format: 'float',
    });
    ref.json.data[0].embedding.forEach((x, i) =>
      assert.ok(Math.abs(x - vec[i]) < 1e-6, `component ${i}: ${x} vs ${vec[i]}`),
    );
    assert.equal(res.usage.prompt_tokens, ref.json.usage.prompt_tokens);
    assert.equal(response.headers.get('x-tollgate-model'), 'text-embedding-3-small');
    assert.match(response.headers.get('x-tollgate-cost-usd') ?? '', /^\d+\.\d{6}$/);

    const wide = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['a', 'b', 'c'],
      dimensions: 32,
    });
    assert.equal(wide.data.length, 3);
    for (const d of wide.data) assert.equal(d.embedding.length, 32);
  });

  it('models.list includes every configured model and models.retrieve finds one', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    for (const id of Object.keys(defaultModels())) assert.ok(ids.includes(id), `lists ${id}`);
    assert.equal(ids.length, Object.keys(defaultModels()).length, 'lists only configured models');

    const m = await client.models.retrieve('gpt-4o');
    assert.equal(m.id, 'gpt-4o');
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'sim');

    const e = await rejection(client.models.retrieve('no-such-model'));
    assert.ok(e instanceof OpenAI.NotFoundError, `NotFoundError, got ${e?.constructor?.name}`);
  });

  it('an unknown model is a NotFoundError (code model_not_found) and never reaches the provider', async () => {
    const before = (await sim.stats()).requests;
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-9-imaginary', messages }),
    );
    assert.ok(e instanceof OpenAI.NotFoundError, `NotFoundError, got ${e?.constructor?.name}`);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
    assert.equal(e.type, 'invalid_request_error');
    assert.match(e.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,64}$/);
    assert.equal((await sim.stats()).requests, before, 'the sim saw no request');
  });

  it('a provider 400 is a BadRequestError carrying the provider message', async () => {
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, sim: { status: 400 } }),
    );
    assert.ok(e instanceof OpenAI.BadRequestError, `BadRequestError, got ${e?.constructor?.name}`);
    assert.equal(e.status, 400);
    assert.equal(e.error?.message, 'simulated error 400', 'the provider body is passed through');
    assert.equal(e.type, 'invalid_request_error');
  });

  it('a provider 429 is a RateLimitError with retry-after passed through', async () => {
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, sim: { status: 429 } }),
    );
    assert.ok(e instanceof OpenAI.RateLimitError, `RateLimitError, got ${e?.constructor?.name}`);
    assert.equal(e.status, 429);
    assert.equal(e.headers.get('retry-after'), '1');
    assert.equal(e.code, 'rate_limit_exceeded');
  });

  it('a provider 500 is an InternalServerError with status 502 (upstream_error)', async () => {
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, sim: { status: 500 } }),
    );
    assert.ok(
      e instanceof OpenAI.InternalServerError,
      `InternalServerError, got ${e?.constructor?.name}`,
    );
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_error');
    assert.equal(e.headers.get('x-tollgate-provider'), 'sim');
  });

  it('a provider 503 is status 503 upstream_overloaded', async () => {
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, sim: { status: 503 } }),
    );
    assert.ok(e instanceof OpenAI.InternalServerError);
    assert.equal(e.status, 503);
    assert.equal(e.code, 'upstream_overloaded');
  });

  it('a provider 401 is a 502 upstream_auth_failed, not an AuthenticationError for the client', async () => {
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, sim: { status: 401 } }),
    );
    assert.ok(!(e instanceof OpenAI.AuthenticationError), 'not blamed on the client key');
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_auth_failed');
  });

  it('an unreachable provider is an InternalServerError with status 502 upstream_unreachable', async () => {
    const e = await rejection(client.chat.completions.create({ model: 'broken-model', messages }));
    assert.ok(
      e instanceof OpenAI.InternalServerError,
      `InternalServerError, got ${e?.constructor?.name}`,
    );
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_unreachable');
    assert.equal(e.headers.get('x-tollgate-provider'), 'dead');
  });

  it('a provider slower than first_byte_timeout is a 504 upstream_timeout', async () => {
    const t0 = Date.now();
    const e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, sim: { latency_ms: 4000 } }),
    );
    const took = Date.now() - t0;
    assert.equal(e.status, 504);
    assert.equal(e.code, 'upstream_timeout');
    assert.ok(took >= 1800 && took < 3900, `answered at the 2s deadline (took ${took} ms)`);
  });

  it('missing or malformed messages are a BadRequestError naming the param', async () => {
    let e = await rejection(client.chat.completions.create({ model: 'gpt-4o' }));
    assert.ok(e instanceof OpenAI.BadRequestError, `BadRequestError, got ${e?.constructor?.name}`);
    assert.equal(e.status, 400);
    assert.equal(e.param, 'messages');

    e = await rejection(client.chat.completions.create({ model: 'gpt-4o', messages: 'hello' }));
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'messages');

    e = await rejection(client.chat.completions.create({ messages }));
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'model');

    e = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, stream: 'yes' }),
    );
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'stream');
  });

  it("the client's x-request-id is echoed; an unsafe one is replaced", async () => {
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages }, { headers: { 'x-request-id': 'trace.A-1_b:2' } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), 'trace.A-1_b:2');

    const e = await rejection(
      client.chat.completions.create(
        { model: 'nope', messages },
        { headers: { 'x-request-id': 'err-path-id' } },
      ),
    );
    assert.equal(e.headers.get('x-request-id'), 'err-path-id', 'echoed on errors too');

    const longest = 'L'.repeat(64);
    const { response: r64 } = await client.chat.completions
      .create({ model: 'gpt-4o', messages }, { headers: { 'x-request-id': longest } })
      .withResponse();
    assert.equal(r64.headers.get('x-request-id'), longest, 'a 64-character id is kept');

    for (const bad of ['has space', 'x'.repeat(65), 'semi;colon', 'ünï']) {
      const { response: r } = await client.chat.completions
        .create({ model: 'gpt-4o', messages }, { headers: { 'x-request-id': bad } })
        .withResponse();
      const got = r.headers.get('x-request-id');
      assert.notEqual(got, bad);
      assert.match(got ?? '', /^[A-Za-z0-9._:-]{1,64}$/);
    }
  });

  it('a stream whose upstream resets mid-way makes the SDK iteration throw', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', messages, stream: true, sim: { reset_after: 3 } },
      { headers: { 'x-request-id': 'sdk-midstream-reset' } },
    );
    let got = 0;
    let error;
    try {
      for await (const chunk of stream) {
        if (chunk.choices?.length) got++;
      }
    } catch (e) {
      error = e;
    }
    assert.ok(error, 'the iteration threw');
    assert.ok(error instanceof OpenAI.APIError, `APIError, got ${error?.constructor?.name}`);
    assert.ok(got >= 1 && got <= 3, `the chunks before the reset arrived (${got})`);
    assert.equal(error.code, 'upstream_error', 'a reset is upstream_error (docs/api.md)');
    const line = await waitFor(
      () => gw.readAccessLog().find((l) => l.request_id === 'sdk-midstream-reset'),
      { timeout: 3000, what: 'access log line' },
    );
    assert.ok(line.error, `the access log names the failure: ${JSON.stringify(line)}`);
    assert.equal(line.usage_estimated, true, 'no usage came, so it is estimated');
  });

  it('a stream that goes idle longer than stream_idle_timeout ends with an upstream_timeout error event', async () => {
    const t0 = Date.now();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', messages, stream: true, sim: { stall_after: 3 } },
      { headers: { 'x-request-id': 'sdk-idle-stream' } },
    );
    let got = 0;
    let error;
    try {
      for await (const chunk of stream) if (chunk.choices?.length) got++;
    } catch (e) {
      error = e;
    }
    const took = Date.now() - t0;
    assert.ok(error instanceof OpenAI.APIError, `APIError, got ${error}`);
    assert.equal(error.code, 'upstream_timeout');
    assert.ok(got >= 1, 'the chunks before the stall arrived');
    assert.ok(took >= 1800 && took < 4500, `ended at the 2s idle deadline (${took} ms)`);
    const line = await waitFor(
      () => gw.readAccessLog().find((l) => l.request_id === 'sdk-idle-stream'),
      { timeout: 3000, what: 'access log line' },
    );
    assert.equal(line.error, 'upstream_timeout');
    await waitFor(async () => (await sim.stats()).active_streams === 0, {
      timeout: 2000,
      what: 'the stalled upstream stream to be dropped',
    });
  });

  it('a stream whose first token is later than first_byte_timeout is a 504 before any byte', async () => {
    const e = await rejection(
      client.chat.completions.create({
        model: 'gpt-4o',
        messages,
        stream: true,
        sim: { ttft_ms: 4000 },
      }),
    );
    assert.equal(e.status, 504);
    assert.equal(e.code, 'upstream_timeout');
  });

  it('cached prompt tokens are billed at cached_input (cost rounded half up to 6 decimals)', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages, sim: { cached: 6 } })
      .withResponse();
    assert.equal(data.usage.prompt_tokens_details.cached_tokens, 6);
    // (10 - 6) * 2.50 + 6 * 1.25 + 16 * 10.00 = 177.5 micro-dollars -> 0.000178
    assert.equal(response.headers.get('x-tollgate-cost-usd'), '0.000178');
    assert.equal(response.headers.get('x-tollgate-cost-usd'), costUsd(PRICE, data.usage));

    // deepseek-chat: 0.27 / 1.10 / cached 0.07
    const ds = await client.chat.completions
      .create({ model: 'deepseek-chat', messages, sim: { cached: 8 } })
      .withResponse();
    assert.equal(
      ds.response.headers.get('x-tollgate-cost-usd'),
      costUsd(defaultModels()['deepseek-chat'].price, ds.data.usage),
    );
  });

  it('n=2 streams both choices and the usage covers both', async () => {
    const whole = await client.chat.completions.create({ model: 'gpt-4o', messages, n: 2 });
    assert.equal(whole.choices.length, 2);
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const text = ['', ''];
    let usage;
    for await (const chunk of stream) {
      for (const c of chunk.choices) text[c.index] += c.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.deepEqual(text, whole.choices.map((c) => c.message.content));
    assert.deepEqual(usage, whole.usage);
  });

  it('the gateway stops cleanly on SIGTERM with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    assert.ok(!res.workerKilled, 'workers exited by themselves');
    gw.checkSanitizers();
  });
});
