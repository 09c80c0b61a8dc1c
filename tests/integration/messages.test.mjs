// Anthropic's Messages API in front of any provider: the official @anthropic-ai/sdk points its
// baseURL at the gateway and reaches an openai-kind, an anthropic-kind and a gemini-kind model
// (all tollgate-sim) with the same virtual key, limits and metering as /v1/chat/completions.
// What must hold: answers, streams (messages.stream(), finalMessage(), text events), tool use
// both ways, images and system prompts translate correctly; errors raise the SDK's typed
// errors; the same exchange costs exactly the same via /v1/messages and /v1/chat/completions,
// streamed or not.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startSim, postJson, costUsd, sseData } from './lib/harness.mjs';
import { startKeyedGateway, createKey, usage } from './lib/meterkit.mjs';
import { exchange, request } from './lib/rawhttp.mjs';

const PRICE = { input: 2.5, output: 10.0, cached_input: 1.25 };
const SIM_KEY = 'sk-sim-messages';
// a 1x1 PNG
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } } },
};

// the upstream kinds behind the same Anthropic client, and where each one's calls land
const KINDS = [
  { model: 'gpt-4o', kind: 'openai', path: '/v1/chat/completions' },
  { model: 'claude', kind: 'anthropic', path: '/v1/messages' },
  { model: 'gemini', kind: 'gemini', path: '/v1beta/models/gemini-2.5-flash:generateContent' },
];

describe('Anthropic SDK on /v1/messages', () => {
  let sim, gw, key, client;

  before(async () => {
    sim = await startSim({ args: ['--api-key', SIM_KEY] });
    const base = `http://127.0.0.1:${sim.port}`;
    gw = await startKeyedGateway({
      providers: {
        oai: { kind: 'openai', base_url: `${base}/v1`, api_key: '${SIM_KEY}' },
        ant: { kind: 'anthropic', base_url: `${base}/v1`, api_key: '${SIM_KEY}' },
        gem: { kind: 'gemini', base_url: `${base}/v1beta`, api_key: '${SIM_KEY}' },
      },
      models: {
        'gpt-4o': { provider: 'oai', upstream_model: 'gpt-4o-2024-08-06', price: PRICE },
        claude: { provider: 'ant', upstream_model: 'claude-sonnet-4-5', price: PRICE },
        gemini: { provider: 'gem', upstream_model: 'gemini-2.5-flash', price: PRICE },
      },
      env: { SIM_KEY },
    });
    key = await createKey(gw, { tenant: 'anthropic-sdk' });
    client = new Anthropic({ baseURL: gw.url, apiKey: key.secret, maxRetries: 0 });
  });

  after(async () => {
    try {
      await gw?.stop();
    } finally {
      await sim?.stop();
    }
    gw?.checkSanitizers();
  });

  const system = 'You are terse.';
  const ask = [{ role: 'user', content: 'Say something about transports.' }];

  it('messages.create answers in Anthropic shape from every upstream kind', async () => {
    for (const { model, path } of KINDS) {
      const { data: msg, response } = await client.messages
        .create({ model, max_tokens: 50, system, messages: ask })
        .withResponse();
      assert.equal(msg.type, 'message', model);
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.model, model, 'the model the client asked for');
      assert.match(msg.id, /^msg_/);
      assert.equal(msg.content.length, 1);
      assert.equal(msg.content[0].type, 'text');
      assert.ok(msg.content[0].text.length > 0);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.stop_sequence, null);
      assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg));
      assert.equal(msg.usage.cache_read_input_tokens, 0);
      // the request id in both headers, and where the SDK exposes it
      assert.equal(response.headers.get('request-id'), response.headers.get('x-request-id'));
      assert.equal(msg._request_id, response.headers.get('request-id'));
      assert.equal(msg.id, `msg_${msg._request_id.replace(/^req_/, '')}`);
      assert.equal(response.headers.get('x-tollgate-model'), model);
      assert.match(response.headers.get('x-tollgate-cost-usd'), /^\d+\.\d{6}$/);
      const seen = await sim.lastRequest();
      assert.equal(seen.path, path, `${model} went upstream in its own wire format`);
      assert.match(JSON.stringify(seen.body), /You are terse\./, 'the system prompt reached it');
    }
  });

  it('the same exchange costs the same via /v1/messages and /v1/chat/completions, streamed or not', async () => {
    for (const { model } of KINDS) {
      const params = { model, max_tokens: 40, system, messages: ask };
      const { data: whole, response } = await client.messages.create(params).withResponse();
      const cost = response.headers.get('x-tollgate-cost-usd');

      // streamed: text events and finalMessage() give the same text, usage and stop reason
      let text = '';
      const stream = client.messages.stream(params);
      stream.on('text', (delta) => {
        text += delta;
      });
      const final = await stream.finalMessage();
      assert.equal(text, whole.content[0].text, model);
      assert.deepEqual(final.content, whole.content);
      assert.equal(final.stop_reason, whole.stop_reason);
      assert.deepEqual(final.usage, whole.usage, `${model}: streamed usage`);
      assert.equal(final.model, model);

      // the OpenAI-shaped twin of the request
      const chat = await postJson(
        `${gw.baseURL}/chat/completions`,
        {
          model,
          max_tokens: 40,
          messages: [{ role: 'system', content: system }, ...ask],
        },
        { headers: { authorization: `Bearer ${key.secret}` } },
      );
      assert.equal(chat.status, 200, chat.text);
      assert.equal(chat.json.choices[0].message.content, whole.content[0].text);
      assert.equal(chat.json.usage.prompt_tokens, whole.usage.input_tokens);
      assert.equal(chat.json.usage.completion_tokens, whole.usage.output_tokens);
      assert.equal(chat.headers.get('x-tollgate-cost-usd'), cost, `${model}: same cost`);
      assert.equal(costUsd(PRICE, chat.json.usage), cost);

      // the access log bills all three the same, none estimated
      const lines = gw.readAccessLog().filter((l) => l.model === model && l.status === 200);
      const last3 = lines.slice(-3);
      assert.deepEqual(
        last3.map((l) => [l.path, l.stream]),
        [
          ['/v1/messages', false],
          ['/v1/messages', true],
          ['/v1/chat/completions', false],
        ],
      );
      for (const l of last3) {
        assert.equal(l.cost_usd, cost, JSON.stringify(last3));
        assert.equal(l.usage_estimated, false);
      }
    }
  });

  it('cache reads and writes are split out of input_tokens, streamed or not', async () => {
    // an anthropic-kind provider reports both; the same numbers reach the Anthropic client
    const params = { model: 'claude', max_tokens: 20, messages: ask, sim: { cached: 3, cache_write: 4 } };
    const { data: msg, response } = await client.messages.create(params).withResponse();
    assert.equal(msg.usage.cache_read_input_tokens, 3);
    assert.equal(msg.usage.cache_creation_input_tokens, 4);
    const final = await client.messages.stream(params).finalMessage();
    assert.deepEqual(final.usage, msg.usage);
    const chat = await postJson(
      `${gw.baseURL}/chat/completions`,
      { model: 'claude', max_tokens: 20, messages: ask, sim: { cached: 3, cache_write: 4 } },
      { headers: { authorization: `Bearer ${key.secret}` } },
    );
    const u = chat.json.usage;
    assert.equal(u.prompt_tokens, msg.usage.input_tokens + 3 + 4);
    assert.equal(u.prompt_tokens_details.cache_write_tokens, 4);
    assert.equal(chat.headers.get('x-tollgate-cost-usd'), response.headers.get('x-tollgate-cost-usd'));
  });

  it('cache reads are split out of input_tokens and billed at the cached price', async () => {
    const params = { model: 'gpt-4o', max_tokens: 20, messages: ask, sim: { cached: 6 } };
    const { data: msg, response } = await client.messages.create(params).withResponse();
    assert.equal(msg.usage.cache_read_input_tokens, 6);
    const stream = await client.messages.stream(params).finalMessage();
    assert.deepEqual(stream.usage, msg.usage);
    const prompt = msg.usage.input_tokens + 6;
    assert.equal(
      response.headers.get('x-tollgate-cost-usd'),
      costUsd(PRICE, {
        prompt_tokens: prompt,
        completion_tokens: msg.usage.output_tokens,
        prompt_tokens_details: { cached_tokens: 6 },
      }),
    );
  });

  it('a multi-turn conversation keeps its turns in order', async () => {
    const messages = [
      { role: 'user', content: 'Name a colour.' },
      { role: 'assistant', content: [{ type: 'text', text: 'Blue.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Another one.' }] },
    ];
    // both wire formats have a messages list with these roles
    for (const { model } of KINDS.slice(0, 2)) {
      const msg = await client.messages.create({ model, max_tokens: 30, messages });
      assert.equal(msg.content[0].type, 'text');
      const turns = (await sim.lastRequest()).body.messages;
      assert.deepEqual(
        turns.map((m) => m.role),
        ['user', 'assistant', 'user'],
      );
      assert.match(JSON.stringify(turns[1]), /Blue\./);
      assert.match(JSON.stringify(turns[2]), /Another one\./);
    }
  });

  it('tool use, streamed and not, and the tool_result going back', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    for (const { model, kind } of KINDS) {
      const msg = await client.messages.create({
        model,
        max_tokens: 100,
        messages,
        tools: [WEATHER_TOOL],
      });
      assert.equal(msg.stop_reason, 'tool_use', `${model}: ${JSON.stringify(msg)}`);
      const use = msg.content.find((b) => b.type === 'tool_use');
      assert.ok(use, JSON.stringify(msg));
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { location: 'Paris' });
      assert.ok(use.id.length > 0);

      // streamed: input_json_delta fragments add up to the same input
      const stream = client.messages.stream({
        model,
        max_tokens: 100,
        messages,
        tools: [WEATHER_TOOL],
        tool_choice: { type: 'any' },
      });
      let json = '';
      stream.on('inputJson', (partial) => {
        json += partial;
      });
      const final = await stream.finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      const streamed = final.content.find((b) => b.type === 'tool_use');
      assert.deepEqual(streamed.input, { location: 'Paris' });
      assert.deepEqual(JSON.parse(json), { location: 'Paris' });
      assert.deepEqual(final.usage, msg.usage, `${model}: streamed tool usage`);

      // the result goes back; the provider sees its own shape of both halves
      const next = await client.messages.create({
        model,
        max_tokens: 50,
        tools: [WEATHER_TOOL],
        tool_choice: { type: 'none' },
        messages: [
          ...messages,
          { role: 'assistant', content: msg.content },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: use.id, content: '21 degrees' },
              { type: 'text', text: 'Thanks.' },
            ],
          },
        ],
      });
      assert.equal(next.type, 'message');
      const sent = (await sim.lastRequest()).body;
      const text = JSON.stringify(sent);
      assert.match(text, /21 degrees/);
      if (kind === 'openai') {
        const roles = sent.messages.map((m) => m.role);
        assert.deepEqual(roles, ['user', 'assistant', 'tool', 'user'], text);
        assert.equal(sent.messages[1].tool_calls[0].id, use.id);
        assert.deepEqual(JSON.parse(sent.messages[1].tool_calls[0].function.arguments), use.input);
        assert.equal(sent.messages[2].tool_call_id, use.id);
        assert.equal(sent.tool_choice, 'none');
      } else if (kind === 'anthropic') {
        const blocks = sent.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : []));
        assert.ok(blocks.some((b) => b.type === 'tool_use' && b.id === use.id), text);
        assert.ok(blocks.some((b) => b.type === 'tool_result' && b.tool_use_id === use.id), text);
      }
    }
  });

  it('base64 images reach every provider in its own shape', async () => {
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
          { type: 'text', text: 'What is in this image?' },
        ],
      },
    ];
    for (const { model, kind } of KINDS) {
      const msg = await client.messages.create({ model, max_tokens: 20, messages });
      assert.ok(msg.usage.input_tokens >= 85, 'the sim counts 85 tokens per image');
      const sent = (await sim.lastRequest()).body;
      const text = JSON.stringify(sent);
      assert.ok(text.includes(PNG), `${model}: the image data went upstream`);
      if (kind === 'openai')
        assert.equal(sent.messages[0].content[0].image_url.url, `data:image/png;base64,${PNG}`);
      if (kind === 'anthropic')
        assert.deepEqual(sent.messages[0].content[0].source, {
          type: 'base64',
          media_type: 'image/png',
          data: PNG,
        });
    }
  });

  it('count_tokens answers the estimate admission uses', async () => {
    const r = await client.messages.countTokens({ model: 'gpt-4o', system, messages: ask });
    const canonical = JSON.stringify({
      model: 'gpt-4o',
      messages: [{ role: 'system', content: system }, ...ask],
    });
    assert.equal(r.input_tokens, Math.ceil(Buffer.byteLength(canonical) / 4));
  });

  it('errors raise the SDK classes, with Anthropic error types', async () => {
    const params = { model: 'gpt-4o', max_tokens: 20, messages: ask };
    const rejects = (promise, Class, status, type) =>
      assert.rejects(promise, (e) => {
        assert.ok(e instanceof Class, `${e?.constructor?.name}: ${e}`);
        assert.equal(e.status, status);
        assert.equal(e.error?.type, 'error', JSON.stringify(e.error));
        assert.equal(e.error?.error?.type, type, JSON.stringify(e.error));
        assert.equal(typeof e.error.error.message, 'string');
        assert.ok(e.requestID, 'request-id header');
        return true;
      });

    const bad = new Anthropic({ baseURL: gw.url, apiKey: 'tg_nope', maxRetries: 0 });
    await rejects(bad.messages.create(params), Anthropic.AuthenticationError, 401, 'authentication_error');
    const { max_tokens, ...noMax } = params;
    const cases = [
      [noMax, Anthropic.BadRequestError, 400, 'invalid_request_error'],
      [{ ...params, model: 'no-such-model' }, Anthropic.NotFoundError, 404, 'not_found_error'],
      // the provider failing: 5xx upstream, 529 overloaded upstream
      [{ ...params, sim: { status: 500 } }, Anthropic.InternalServerError, 502, 'api_error'],
      [
        { ...params, model: 'claude', sim: { status: 529 } },
        Anthropic.InternalServerError,
        503,
        'overloaded_error',
      ],
      // the provider's own 400 explanation, in Anthropic's shape
      [{ ...params, sim: { status: 400 } }, Anthropic.BadRequestError, 400, 'invalid_request_error'],
    ];
    for (const [body, Class, status, type] of cases) {
      await rejects(client.messages.create(body), Class, status, type);
    }
    // a secret never appears in an error
    const r = await postJson(`${gw.url}/v1/messages`, params, { headers: { 'x-api-key': 'tg_nope' } });
    assert.equal(r.status, 401);
    assert.ok(!r.text.includes('tg_nope'));
    assert.ok(!gw.readErrorLog().includes(SIM_KEY));
  });

  it('a rate-limited key gets RateLimitError with retry-after', async () => {
    const k = await createKey(gw, { tenant: 'anthropic-sdk-limited', rpm: 1 });
    const limited = new Anthropic({ baseURL: gw.url, apiKey: k.secret, maxRetries: 0 });
    const params = { model: 'claude', max_tokens: 10, messages: ask };
    await limited.messages.create(params);
    await assert.rejects(limited.messages.create(params), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError, `${e?.constructor?.name}: ${e}`);
      assert.equal(e.status, 429);
      assert.equal(e.error.error.type, 'rate_limit_error');
      assert.match(e.headers.get('retry-after'), /^\d+$/);
      return true;
    });
    const row = (await usage(gw, 'key')).get(k.id);
    assert.equal(row.requests, 2);
    assert.equal(row.errors, 1);
  });

  it('errors inside a stream end it with an error event the SDK raises', async () => {
    // the anthropic provider's own error event, and a connection reset from the openai one
    for (const [model, sim, type] of [
      ['claude', { error_event: 3 }, 'overloaded_error'],
      ['gpt-4o', { reset_after: 3 }, 'api_error'],
    ]) {
      const stream = client.messages.stream({ model, max_tokens: 30, messages: ask, sim });
      await assert.rejects(stream.finalMessage(), (e) => {
        assert.ok(e instanceof Anthropic.APIError, `${e?.constructor?.name}: ${e}`);
        assert.equal(e.error?.error?.type, type, JSON.stringify(e.error));
        return true;
      });
    }
    // a provider refusing before the stream starts: an HTTP error, as for messages.create
    await assert.rejects(
      client.messages.stream({ model: 'claude', max_tokens: 30, messages: ask, sim: { status: 529 } }).finalMessage(),
      (e) => e instanceof Anthropic.InternalServerError && e.status === 503 && e.error.error.type === 'overloaded_error',
    );
    // on the wire: event: error with Anthropic's error object, and nothing after it
    const r = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key.secret },
      body: JSON.stringify({ model: 'gpt-4o', max_tokens: 30, messages: ask, stream: true, sim: { reset_after: 3 } }),
    });
    const text = await r.text();
    assert.equal(r.status, 200);
    const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    assert.equal(events[0], 'message_start');
    assert.equal(events.at(-1), 'error', text);
    const last = JSON.parse(sseData(text).at(-1));
    assert.equal(last.type, 'error');
    assert.equal(last.error.type, 'api_error');
  });

  it('keys work as x-api-key on every /v1 route; Authorization wins when both are sent', async () => {
    const models = await fetch(`${gw.baseURL}/models`, { headers: { 'x-api-key': key.secret } });
    assert.equal(models.status, 200);
    await models.arrayBuffer();
    const both = await postJson(
      `${gw.baseURL}/chat/completions`,
      { model: 'gpt-4o', messages: ask },
      { headers: { authorization: 'Bearer tg_wrong', 'x-api-key': key.secret } },
    );
    assert.equal(both.status, 401);
    assert.equal(both.json.error.code, 'invalid_api_key', 'OpenAI shape off /v1/messages');
    const bearer = new Anthropic({ baseURL: gw.url, authToken: key.secret, apiKey: null, maxRetries: 0 });
    const msg = await bearer.messages.create({ model: 'gpt-4o', max_tokens: 5, messages: ask });
    assert.equal(msg.type, 'message');
  });

  it('routes under /v1/messages answer in Anthropic shape', async () => {
    const h = { 'x-api-key': key.secret };
    const get = await fetch(`${gw.url}/v1/messages`, { headers: h });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal((await get.json()).error.type, 'invalid_request_error');
    const unknown = await postJson(`${gw.url}/v1/messages/batches`, {}, { headers: h });
    assert.equal(unknown.status, 404);
    assert.deepEqual(Object.keys(unknown.json), ['type', 'error', 'request_id']);
    assert.equal(unknown.json.error.type, 'not_found_error');
    const broken = await postJson(`${gw.url}/v1/messages`, '{"model":', { headers: h });
    assert.equal(broken.status, 400);
    assert.equal(broken.json.error.type, 'invalid_request_error');
    const missing = await postJson(`${gw.url}/v1/messages`, {});
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.type, 'authentication_error');
    // refused by the HTTP layer before any handler ran: still Anthropic's shape
    const big = await exchange(gw.port, [
      request('POST', '/v1/messages', { headers: { 'Content-Length': 9 << 20 } }),
    ]);
    const [res] = big.responses;
    assert.equal(res.status, 413);
    assert.equal(res.headers['request-id'], res.headers['x-request-id']);
    assert.equal(JSON.parse(res.body).error.type, 'request_too_large');
  });
});
