// A provider of kind `gemini` behind the OpenAI API: the official openai SDK talks to the
// gateway, the gateway talks Google's generateContent API to tollgate-sim. Text, streams and tool
// calls must come back in OpenAI's shape, streamed and non-streamed usage and cost must agree to
// the micro-dollar, and the API key must travel in x-goog-api-key, never in the URL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startSim, startGateway, postJson, assertStreamMatchesWhole, assertToolRoundTrip,
} from './lib/harness.mjs';

const PRICE = { input: 0.3, output: 2.5, cached_input: 0.075 };

describe('gemini provider through the OpenAI API', () => {
  let sim, gw, client;

  before(async () => {
    sim = await startSim({ args: ['--api-key', 'AIza-sim-test'] });
    gw = await startGateway({
      workers: 2,
      providers: {
        google: {
          kind: 'gemini',
          base_url: `http://127.0.0.1:${sim.port}/v1beta`,
          api_key: '${GEMINI_KEY}',
        },
        // the same simulator in OpenAI's format: it embeds a text identically in both
        oai: { kind: 'openai', base_url: `http://127.0.0.1:${sim.port}/v1`, api_key: '${GEMINI_KEY}' },
      },
      models: {
        'gemini-flash': {
          provider: 'google',
          upstream_model: 'gemini-2.5-flash',
          price: PRICE,
          max_output_tokens: 1024,
          capabilities: ['tools', 'vision'],
        },
        'gemini-embed': {
          provider: 'google',
          upstream_model: 'gemini-embedding-001',
          price: { input: 0.15, output: 0 },
          capabilities: ['embeddings'],
        },
        'oai-embed': { provider: 'oai', upstream_model: 'text-embedding-3-small', price: { input: 0.02, output: 0 } },
        'gemini-faulty': {
          provider: 'google',
          upstream_model: 'gemini-faulty-model',
          price: PRICE,
        },
      },
      env: { GEMINI_KEY: 'AIza-sim-test' },
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

  it('a chat completion comes back in OpenAI shape, sent upstream as generateContent', async () => {
    const { data: r, response } = await client.chat.completions
      .create({ model: 'gemini-flash', messages, max_tokens: 50 })
      .withResponse();
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.equal(response.headers.get('x-tollgate-provider'), 'google');
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(seen.query, null);
    assert.equal(seen.key_in_url, false);
    assert.equal(seen.headers['x-goog-api-key'], 'AIza-sim-test');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.body.generationConfig.maxOutputTokens, 50);
    assert.match(JSON.stringify(seen.body.systemInstruction), /terse/);
    assert.equal(seen.body.contents[0].role, 'user');
    assert.equal(seen.body.model, undefined);
    assert.equal(seen.body.messages, undefined);
  });

  it('max_tokens reached is finish_reason length', async () => {
    const r = await client.chat.completions.create({ model: 'gemini-flash', messages, max_tokens: 3 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 3);
  });

  it('streamed and non-streamed answers agree on text, usage and cost', async () => {
    const { stream } = await assertStreamMatchesWhole(gw, client, { model: 'gemini-flash', messages, max_tokens: 40 });
    assert.equal(stream.finish, 'stop');
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    assert.equal(seen.query, 'alt=sse');
    assert.equal(seen.key_in_url, false);
  });

  it('without include_usage the stream has no usage chunk and still ends', async () => {
    const stream = await client.chat.completions.create({
      model: 'gemini-flash',
      messages,
      max_tokens: 5,
      stream: true,
    });
    let n = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.usage ?? null, null);
      n++;
    }
    assert.ok(n >= 3);
  });

  it('tool calls come back as OpenAI tool_calls, streamed and not, and results go back', async () => {
    await assertToolRoundTrip(client, 'gemini-flash');
    const [first, , last] = (await sim.stats()).last.slice(-3);
    assert.equal(first.body.tools[0].functionDeclarations[0].name, 'get_weather');
    const sent = last.body.contents;
    const parts = sent.flatMap((c) => c.parts);
    assert.ok(parts.some((p) => p.functionCall?.name === 'get_weather'), JSON.stringify(sent));
    assert.ok(
      parts.some((p) => p.functionResponse?.name === 'get_weather' && p.functionResponse.response.temp === 21),
      JSON.stringify(sent),
    );
  });

  it("Google's error bodies reach the client in OpenAI's error shape", async () => {
    await sim.addFault({ model: 'gemini-faulty-model', status: 400 });
    try {
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gemini-faulty', messages });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.status, undefined, 'not the Google envelope');
      assert.equal(r.json.error.type, 'invalid_request_error', r.text);
      assert.ok('param' in r.json.error && 'code' in r.json.error, r.text);
      await assert.rejects(
        client.chat.completions.create({ model: 'gemini-faulty', messages }),
        (e) => e instanceof OpenAI.BadRequestError && e.type === 'invalid_request_error',
      );
    } finally {
      await sim.clearFaults();
    }
  });

  it('embeddings go to batchEmbedContents and come back as an OpenAI list, base64 and float', async () => {
    const input = ['vectors are lists of numbers', 'a second text'];
    // the SDK asks for base64 by default and decodes little-endian float32s
    const { data: r, response } = await client.embeddings
      .create({ model: 'gemini-embed', input, dimensions: 16 })
      .withResponse();
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 2);
    assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
    assert.equal(r.data[0].embedding.length, 16);
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/v1beta/models/gemini-embedding-001:batchEmbedContents');
    assert.equal(seen.headers['x-goog-api-key'], 'AIza-sim-test');
    assert.ok(!seen.path.includes('key='), 'the key is never in the URL');
    assert.deepEqual(seen.body, {
      requests: input.map((t) => ({
        model: 'models/gemini-embedding-001',
        content: { parts: [{ text: t }] },
        outputDimensionality: 16,
      })),
    });
    // floats when asked; the same vectors (to float32 precision) as base64
    const floats = await client.embeddings.create({
      model: 'gemini-embed', input, dimensions: 16, encoding_format: 'float',
    });
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(Array.from(r.data[i].embedding), floats.data[i].embedding.map((v) => Math.fround(v)));
    }
    // the simulator embeds a text the same in both wire formats: Gemini's answer, translated,
    // equals the OpenAI-format answer for the same text
    const viaOpenAI = await client.embeddings.create({
      model: 'oai-embed', input, dimensions: 16, encoding_format: 'float',
    });
    assert.deepEqual(floats.data.map((d) => d.embedding), viaOpenAI.data.map((d) => d.embedding));
    // Google reports no token counts for embeddings: the cost is an estimate, and says so
    assert.ok(Number(response.headers.get('x-tollgate-cost-usd')) > 0);
    const line = gw.readAccessLog().filter((l) => l.model === 'gemini-embed').at(-1);
    assert.equal(line.usage_estimated, true);
    assert.ok(line.prompt_tokens > 0);
  });

  it('embeddings Gemini cannot express (token ids) are a 400 before any upstream call', async () => {
    const before = (await sim.stats()).requests;
    const r = await postJson(`${gw.baseURL}/embeddings`, { model: 'gemini-embed', input: [[1, 2, 3]] });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'unsupported_for_provider');
    assert.match(r.json.error.message, /text only/);
    assert.equal((await sim.stats()).requests, before, 'nothing reached the provider');
  });

  it('a Gemini model refuses legacy completions with 400 unsupported_endpoint', async () => {
    const r = await postJson(`${gw.baseURL}/completions`, { model: 'gemini-flash', prompt: 'x' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'unsupported_endpoint');
  });

  it('a request Gemini cannot express (n > 1) is a 400 saying why, before any upstream call', async () => {
    const before = (await sim.stats()).requests;
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gemini-flash', messages, n: 2 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'unsupported_for_provider');
    assert.equal((await sim.stats()).requests, before, 'nothing reached the provider');
  });
});
