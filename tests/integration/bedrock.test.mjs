// A provider of kind `bedrock` behind the OpenAI API: the official openai SDK talks to the
// gateway, the gateway talks AWS Bedrock's Converse / ConverseStream to tollgate-sim, which
// verifies every SigV4 signature with its own copy of the secret. Text, binary event streams,
// multi-turn conversations, tool calls, images, errors and mid-stream exceptions must come back in
// OpenAI's shape (and Anthropic's, through /v1/messages); streamed and non-streamed usage and cost
// must agree exactly; a wrong secret is an upstream-auth error, fixed live with `tollgatectl
// providers rotate-key`; no secret is shown.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  startSim, startGateway, postJson, sseData, assertOpenAIError, run, BIN, assertStreamMatchesWhole,
  assertToolRoundTrip,
} from './lib/harness.mjs';

const AKID = 'AKIDSIMEXAMPLE';
const SECRET = 'sim/Secret+Access-Key0123456789';
const WRONG = 'not/the-right-secret';
const API_KEY = 'ABSKsimbedrockapikey';
const MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';
const FAULTY_ID = 'faulty.model-v1:0';
const PRICE = { input: 0.25, output: 1.25, cached_input: 0.03, cache_write: 0.3 };

describe('bedrock provider through the OpenAI API', () => {
  let sim, gw, client;

  before(async () => {
    sim = await startSim({
      args: ['--aws-access-key-id', AKID, '--aws-secret-access-key', SECRET, '--api-key', API_KEY],
    });
    const base = { kind: 'bedrock', base_url: `http://127.0.0.1:${sim.port}`, region: 'us-east-1' };
    const sigv4 = { ...base, aws_access_key_id: AKID, aws_secret_access_key: '${BR_SECRET}' };
    const model = (provider, id = MODEL_ID) => ({
      provider,
      upstream_model: id,
      price: PRICE,
      max_output_tokens: 1024,
      capabilities: ['tools', 'vision'],
    });
    gw = await startGateway({
      workers: 2,
      providers: {
        aws: sigv4,
        aws_h2: { ...sigv4, http2: true },
        aws_bad: { ...sigv4, aws_secret_access_key: '${BR_WRONG}' },
        aws_key: { ...base, api_key: '${BR_API_KEY}' },
      },
      models: {
        haiku: model('aws'),
        'haiku-h2': model('aws_h2'),
        'haiku-bad': model('aws_bad'),
        'haiku-key': model('aws_key'),
        faulty: model('aws', FAULTY_ID),
      },
      env: { BR_SECRET: SECRET, BR_WRONG: WRONG, BR_API_KEY: API_KEY },
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await gw?.stop();
    gw?.checkSanitizers();
    await sim?.stop();
  });

  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say something about transports.' },
  ];

  it('a chat completion comes back in OpenAI shape, sent as a SigV4-signed Converse request', async () => {
    const { data: r, response } = await client.chat.completions
      .create({ model: 'haiku', messages, max_tokens: 50, seed: 3 })
      .withResponse();
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-bedrock-/);
    assert.equal(r.model, MODEL_ID);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.equal(response.headers.get('x-tollgate-provider'), 'aws');
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
    assert.match(
      seen.headers.authorization,
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${AKID}/\\d{8}/us-east-1/bedrock/aws4_request, ` +
        'SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$'),
    );
    assert.match(seen.headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
    assert.deepEqual(seen.body.system, [{ text: 'You are terse.' }]);
    assert.deepEqual(seen.body.messages, [
      { role: 'user', content: [{ text: 'Say something about transports.' }] },
    ]);
    assert.deepEqual(seen.body.inferenceConfig, { maxTokens: 50 });
    assert.equal(seen.body.model, undefined);
    assert.equal(seen.body.seed, undefined, 'fields Converse does not know are dropped');
  });

  it('max_tokens reached is finish_reason length', async () => {
    const r = await client.chat.completions.create({ model: 'haiku', messages, max_tokens: 3 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 3);
  });

  it('streamed (binary event-stream) and non-streamed answers agree on text, usage and cost', async () => {
    const { stream } = await assertStreamMatchesWhole(gw, client, { model: 'haiku', messages, max_tokens: 40 });
    assert.equal(stream.finish, 'stop');
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream');
    assert.equal(seen.headers.accept, 'application/vnd.amazon.eventstream');
  });

  it('cache reads and writes are billed at their own prices, streamed and not, to the micro-dollar', async () => {
    await sim.addFault({ model: MODEL_ID, cached: 5, cache_write: 4, count: 2 });
    const body = { model: 'haiku', messages, max_tokens: 30 };
    const whole = await postJson(`${gw.baseURL}/chat/completions`, body);
    assert.equal(whole.status, 200, whole.text);
    const u = whole.json.usage;
    assert.equal(u.prompt_tokens_details.cached_tokens, 5);
    assert.equal(u.prompt_tokens_details.cache_write_tokens, 4);
    const uncached = u.prompt_tokens - 5 - 4;
    assert.ok(uncached > 0, JSON.stringify(u));
    // USD per 1M tokens = pico-dollars per token / 1e6: integers, compared to the micro-dollar
    const pico = uncached * 250_000 + 5 * 30_000 + 4 * 300_000 + u.completion_tokens * 1_250_000;
    const micros = Math.round(pico / 1e6);
    assert.equal(Math.round(Number(whole.headers.get('x-tollgate-cost-usd')) * 1e6), micros);
    const streamed = await postJson(`${gw.baseURL}/chat/completions`, {
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(streamed.status, 200);
    const events = sseData(streamed.text);
    assert.equal(events.at(-1), '[DONE]');
    assert.deepEqual(JSON.parse(events.at(-2)).usage, u);
    const last2 = gw.readAccessLog().filter((l) => l.model === 'haiku' && l.status === 200).slice(-2);
    assert.equal(last2[0].cost_usd, last2[1].cost_usd, JSON.stringify(last2));
    assert.equal(Math.round(Number(last2[1].cost_usd) * 1e6), micros);
    assert.equal(last2[1].cache_write_tokens, 4);
  });

  it('a multi-turn conversation becomes alternating Converse turns', async () => {
    const r = await client.chat.completions.create({
      model: 'haiku',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello.' },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: 'Tell me about rivers.' },
        { role: 'user', content: [{ type: 'text', text: 'And lakes.' }] },
      ],
    });
    assert.equal(r.choices[0].finish_reason, 'stop');
    const seen = await sim.lastRequest();
    assert.deepEqual(
      seen.body.messages.map((m) => [m.role, m.content.map((b) => b.text)]),
      [
        ['user', ['Hello.']],
        ['assistant', ['Hi! How can I help?']],
        ['user', ['Tell me about rivers.', 'And lakes.']],
      ],
    );
    // the same last user text gives the same words through any wire format of the simulator
    const direct = await postJson(`${sim.url}/v1/chat/completions`, {
      model: MODEL_ID,
      messages: [{ role: 'user', content: 'Tell me about rivers.And lakes.' }],
    }, { headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(r.choices[0].message.content, direct.json.choices[0].message.content);
  });

  it('tool calls come back as OpenAI tool_calls, streamed and not, and results go back', async () => {
    const { call, streamed } = await assertToolRoundTrip(client, 'haiku');
    assert.match(call.id, /^tooluse_/);
    assert.equal(streamed.id, call.id, 'the toolUseId is the call id, streamed or not');
    const [first, , last] = (await sim.stats()).last.slice(-3);
    assert.equal(first.body.toolConfig.tools[0].toolSpec.name, 'get_weather');
    assert.deepEqual(first.body.toolConfig.toolChoice, { auto: {} });
    const sent = last.body.messages;
    assert.deepEqual(sent[1].content[0].toolUse, { toolUseId: call.id, name: 'get_weather', input: { location: 'Paris' } });
    assert.deepEqual(sent[2], { role: 'user', content: [{ toolResult: { toolUseId: call.id, content: [{ json: { temp: 21 } }] } }] });
    // an empty tool result: Converse refuses blank text blocks, so it travels as {json: {}}
    const empty = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'haiku',
      tools: [{ type: 'function', function: { name: 'get_weather' } }],
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '' },
        { role: 'user', content: 'Thanks anyway.' },
      ],
    });
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual((await sim.lastRequest()).body.messages[2].content, [
      { toolResult: { toolUseId: call.id, content: [{ json: {} }] } },
      { text: 'Thanks anyway.' },
    ]);
  });

  it('images travel as image blocks; image URLs Bedrock cannot read are refused before any call', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const r = await client.chat.completions.create({
      model: 'haiku',
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
      ] }],
    });
    assert.equal(r.object, 'chat.completion');
    const seen = await sim.lastRequest();
    assert.deepEqual(seen.body.messages[0].content[1], { image: { format: 'png', source: { bytes: png } } });
    const before = (await sim.stats()).requests;
    const bad = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'haiku',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
    });
    assert.equal(bad.status, 400, bad.text);
    assertOpenAIError(bad.json, { type: 'invalid_request_error', code: 'unsupported_for_provider' });
    assert.equal((await sim.stats()).requests, before, 'nothing reached the provider');
  });

  it("Bedrock's errors reach the client in OpenAI's shape: throttling is a 429, validation a 400", async () => {
    await sim.addFault({ model: FAULTY_ID, status: 429, count: 1 });
    await assert.rejects(
      client.chat.completions.create({ model: 'faulty', messages }),
      (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.type === 'rate_limit_error' &&
        e.code === 'rate_limit_exceeded' && /simulated error 429/.test(e.message),
    );
    await sim.addFault({ model: FAULTY_ID, status: 400, count: 1 });
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'faulty', messages });
    assert.equal(r.status, 400, r.text);
    assertOpenAIError(r.json, { type: 'invalid_request_error', code: null });
    assert.equal(r.json.error.message, 'simulated error 400');
    // a real validation failure of the simulator (temperature above Bedrock's 1) passes through too
    const hot = await postJson(`${gw.baseURL}/chat/completions`, { model: 'haiku', messages, temperature: 1.5 });
    assert.equal(hot.status, 400, hot.text);
    assert.match(hot.json.error.message, /temperature/);
  });

  it('a mid-stream exception becomes an OpenAI error event and ends the stream', async () => {
    await sim.addFault({ model: MODEL_ID, error_event: 3, count: 1 });
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'haiku', messages, stream: true });
    assert.equal(r.status, 200);
    const events = sseData(r.text);
    const last = JSON.parse(events.at(-1));
    assertOpenAIError(last, { type: 'server_error', code: 'upstream_overloaded' });
    assert.ok(!events.includes('[DONE]'), 'no [DONE] after an exception');
    assert.equal(events.filter((e) => JSON.parse(e).choices?.[0]?.delta?.content).length, 2);
    const line = gw.readAccessLog().filter((l) => l.model === 'haiku').at(-1);
    assert.equal(line.status, 200);
    assert.equal(line.error, 'upstream_incomplete_stream');
  });

  it('a wrong secret is an upstream-auth error, fixed live by rotating the key; no secret is shown', async () => {
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'haiku-bad', messages });
    assert.equal(r.status, 502, r.text);
    assertOpenAIError(r.json, { type: 'server_error', code: 'upstream_auth_failed' });
    assert.match(r.json.error.message, /^Provider 'aws_bad' refused the gateway's credentials \(HTTP 403\)/);
    assert.match(gw.readErrorLog(), /provider "aws_bad" answered HTTP 403 InvalidSignatureException/);
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse', 'it was the signature');

    // the right secret on stdin, as an ops script would pipe it
    const rot = await run(BIN.ctl, ['-s', gw.adminSocket, 'providers', 'rotate-key', 'aws_bad'], { input: `${SECRET}\n` });
    assert.equal(rot.code, 0, rot.stderr);
    const ok = await postJson(`${gw.baseURL}/chat/completions`, { model: 'haiku-bad', messages });
    assert.equal(ok.status, 200, ok.text);
    const list = await gw.ctl(['--json', 'providers', 'list']);
    const p = JSON.parse(list.stdout).providers.find((x) => x.name === 'aws_bad');
    assert.equal(p.kind, 'bedrock');
    assert.equal(p.has_key, true);
    assert.equal(p.key_source, 'rotated');
    for (const text of [list.stdout, rot.stdout, rot.stderr, r.text, gw.readErrorLog(), gw.stderr(),
      JSON.stringify(gw.readAccessLog())]) {
      assert.ok(!text.includes(SECRET) && !text.includes(WRONG), 'a secret leaked');
    }
  });

  it('a Bedrock API key is sent as a bearer token', async () => {
    const r = await client.chat.completions.create({ model: 'haiku-key', messages });
    assert.equal(r.object, 'chat.completion');
    const seen = await sim.lastRequest();
    assert.equal(seen.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(seen.headers['x-amz-date'], undefined);
  });

  it('a provider on libcurl\'s HTTP stack (http2: true) signs the same way', async () => {
    const whole = await postJson(`${gw.baseURL}/chat/completions`, { model: 'haiku-h2', messages, max_tokens: 8 });
    assert.equal(whole.status, 200, whole.text);
    const streamed = await postJson(`${gw.baseURL}/chat/completions`, { model: 'haiku-h2', messages, max_tokens: 8, stream: true });
    assert.equal(streamed.status, 200);
    const events = sseData(streamed.text);
    assert.equal(events.at(-1), '[DONE]');
    const text = events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, whole.json.choices[0].message.content);
  });

  it("Anthropic's SDK reaches a Bedrock model through /v1/messages, streamed and not", async () => {
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
    const ask = { model: 'haiku', max_tokens: 20, messages: [{ role: 'user', content: 'Say something about transports.' }] };
    const viaOpenAI = await client.chat.completions.create({ ...ask, messages: ask.messages });
    const msg = await anthropic.messages.create(ask);
    assert.equal(msg.content[0].text, viaOpenAI.choices[0].message.content);
    assert.equal(msg.usage.output_tokens, viaOpenAI.usage.completion_tokens);
    const final = await anthropic.messages.stream(ask).finalMessage();
    assert.equal(final.content[0].text, msg.content[0].text);
    assert.equal(final.usage.output_tokens, msg.usage.output_tokens);
    assert.equal((await sim.lastRequest()).path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream');
  });

  it('a Bedrock model refuses legacy completions with 400 unsupported_endpoint', async () => {
    const r = await postJson(`${gw.baseURL}/completions`, { model: 'haiku', prompt: 'x' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'unsupported_endpoint');
  });
});
