// A provider of kind `anthropic` behind the OpenAI API: the official openai SDK talks to the
// gateway, the gateway talks Anthropic's Messages API to tollgate-sim. Text, streams and tool
// calls must come back in OpenAI's shape, and streamed and non-streamed usage and cost must
// agree to the micro-dollar.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startSim, startGateway, postJson, assertStreamMatchesWhole, assertToolRoundTrip,
} from './lib/harness.mjs';

const PRICE = { input: 3.0, output: 15.0, cached_input: 0.3, cache_write: 3.75 };

describe('anthropic provider through the OpenAI API', () => {
  let sim, gw, client;

  before(async () => {
    sim = await startSim({ args: ['--api-key', 'sk-ant-test'] });
    gw = await startGateway({
      workers: 2,
      providers: {
        anthropic: {
          kind: 'anthropic',
          base_url: `http://127.0.0.1:${sim.port}/v1`,
          api_key: '${ANT_KEY}',
        },
      },
      models: {
        'claude-sonnet': {
          provider: 'anthropic',
          upstream_model: 'claude-sonnet-5-5',
          price: PRICE,
          max_output_tokens: 1024,
          capabilities: ['tools', 'vision'],
        },
      },
      env: { ANT_KEY: 'sk-ant-test' },
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say something about transports.' },
  ];

  it('a chat completion comes back in OpenAI shape, sent upstream as Anthropic Messages', async () => {
    const { data: r, response } = await client.chat.completions
      .create({ model: 'claude-sonnet', messages, max_tokens: 50 })
      .withResponse();
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.equal(response.headers.get('x-tollgate-provider'), 'anthropic');
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], 'sk-ant-test');
    assert.ok(seen.headers['anthropic-version']);
    assert.equal(seen.body.model, 'claude-sonnet-5-5');
    assert.equal(seen.body.max_tokens, 50);
    assert.match(JSON.stringify(seen.body.system), /terse/);
    assert.equal(seen.body.messages[0].role, 'user');
  });

  it('streamed and non-streamed answers agree on text, usage and cost', async () => {
    await assertStreamMatchesWhole(gw, client, { model: 'claude-sonnet', messages, max_tokens: 40 });
  });

  it('cache reads and cache writes are billed at their own prices, streamed and not', async () => {
    // Anthropic splits the prompt into uncached input, cache reads and cache writes (1.25x).
    const body = { model: 'claude-sonnet', messages, max_tokens: 30, sim: { cached: 5, cache_write: 4 } };
    const whole = await postJson(`${gw.baseURL}/chat/completions`, body);
    assert.equal(whole.status, 200, whole.text);
    const u = whole.json.usage;
    assert.equal(u.prompt_tokens_details.cached_tokens, 5);
    assert.equal(u.prompt_tokens_details.cache_write_tokens, 4);
    const uncached = u.prompt_tokens - 5 - 4;
    assert.ok(uncached > 0, JSON.stringify(u));
    // prices are per 1M tokens: compute in pico-dollars (integers) and compare to the micro-dollar
    const pico = uncached * 3_000_000 + 5 * 300_000 + 4 * 3_750_000 + u.completion_tokens * 15_000_000;
    const micros = Math.round(pico / 1e6);
    const header = whole.headers.get('x-tollgate-cost-usd');
    assert.equal(Math.round(Number(header) * 1e6), micros, `header ${header}`);

    const streamed = await postJson(`${gw.baseURL}/chat/completions`, {
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(streamed.status, 200);
    const lines = gw.readAccessLog().filter((l) => l.model === 'claude-sonnet' && l.status === 200);
    const last2 = lines.slice(-2);
    assert.equal(last2[0].cache_write_tokens, 4);
    assert.equal(last2[1].cache_write_tokens, 4);
    assert.equal(last2[0].cached_tokens, 5);
    assert.equal(last2[0].cost_usd, last2[1].cost_usd, JSON.stringify(last2));
    assert.equal(Math.round(Number(last2[0].cost_usd) * 1e6), micros);
  });

  it('tool calls come back as OpenAI tool_calls, streamed and not', async () => {
    const { call } = await assertToolRoundTrip(client, 'claude-sonnet');
    const [first, , last] = (await sim.stats()).last.slice(-3);
    assert.equal(first.body.tools[0].name, 'get_weather');
    assert.ok(first.body.tools[0].input_schema);
    // the tool result goes back as an Anthropic tool_result block
    const sent = last.body.messages;
    const blocks = sent.flatMap((m) => (Array.isArray(m.content) ? m.content : []));
    assert.ok(blocks.some((b) => b.type === 'tool_use' && b.id === call.id), JSON.stringify(sent));
    assert.ok(
      blocks.some((b) => b.type === 'tool_result' && b.tool_use_id === call.id),
      JSON.stringify(sent),
    );
  });

  it("Anthropic's own error bodies reach the client in OpenAI's error shape", async () => {
    const r = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'claude-sonnet',
      messages,
      sim: { status: 400 },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.type, undefined, 'not the Anthropic envelope');
    assert.equal(r.json.error.type, 'invalid_request_error', r.text);
    assert.ok('param' in r.json.error && 'code' in r.json.error, r.text);
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-sonnet', messages, sim: { status: 400 } }),
      (e) => e instanceof OpenAI.BadRequestError && e.type === 'invalid_request_error',
    );
  });

  it('a model of a chat-only provider refuses embeddings with 400 unsupported_endpoint', async () => {
    const r = await postJson(`${gw.baseURL}/embeddings`, { model: 'claude-sonnet', input: 'x' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'unsupported_endpoint');
  });

  it('a request Anthropic cannot express (n > 1) is a 400 saying why, before any upstream call', async () => {
    const before = (await sim.stats()).requests;
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'claude-sonnet', messages, n: 2 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'unsupported_for_provider');
    assert.equal((await sim.stats()).requests, before, 'nothing reached the provider');
  });

  it('an overloaded provider (529) becomes 503 upstream_overloaded, an InternalServerError', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-sonnet', messages, sim: { status: 529 } }),
      (e) => e instanceof OpenAI.InternalServerError && e.status === 503,
    );
  });
});
