// The promise, in one script: the same OpenAI SDK code (text, a stream, a tool call
// and its result) gives equivalent results through every provider kind on the simulator —
// OpenAI, Azure OpenAI, Anthropic, Gemini and Bedrock — with streamed and non-streamed usage and
// cost agreeing to the micro-dollar. Only `model` changes between runs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startGateway, assertStreamMatchesWhole, assertToolRoundTrip } from './lib/harness.mjs';

const KEY = 'sim-shared-key';
const AKID = 'AKIDSIMPARITY';
const SECRET = 'parity/Secret+Key0123456789';
const PRICE = { input: 1.0, output: 4.0, cached_input: 0.1 };

const MODELS = {
  'via-openai': { provider: 'oai', upstream_model: 'gpt-4o' },
  'via-azure': { provider: 'az', upstream_model: 'gpt-4o-deployment' },
  'via-anthropic': { provider: 'ant', upstream_model: 'claude-sonnet-5-5' },
  'via-gemini': { provider: 'goog', upstream_model: 'gemini-2.5-flash' },
  'via-bedrock': { provider: 'aws', upstream_model: 'anthropic.claude-3-haiku-20240307-v1:0' },
};

describe('the same OpenAI SDK script through every provider kind', () => {
  let sim, gw, client;
  const finishes = {};

  before(async () => {
    sim = await startSim({
      args: ['--api-key', KEY, '--aws-access-key-id', AKID, '--aws-secret-access-key', SECRET],
    });
    const root = `http://127.0.0.1:${sim.port}`;
    const models = {};
    for (const [name, m] of Object.entries(MODELS))
      models[name] = { ...m, price: PRICE, max_output_tokens: 1024, capabilities: ['tools', 'vision'] };
    gw = await startGateway({
      workers: 2,
      providers: {
        oai: { kind: 'openai', base_url: `${root}/v1`, api_key: '${K}' },
        az: { kind: 'azure', base_url: root, api_key: '${K}' },
        ant: { kind: 'anthropic', base_url: `${root}/v1`, api_key: '${K}' },
        goog: { kind: 'gemini', base_url: `${root}/v1beta`, api_key: '${K}' },
        aws: { kind: 'bedrock', base_url: root, region: 'us-east-1', aws_access_key_id: AKID,
               aws_secret_access_key: '${S}' },
      },
      models,
      env: { K: KEY, S: SECRET },
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    const res = await gw?.stop();
    await sim?.stop();
    assert.equal(res?.code, 0);
    gw?.checkSanitizers();
  });

  for (const model of Object.keys(MODELS)) {
    it(`${model}: text, stream, tool call and tool result`, async () => {
      const messages = [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say something about transports.' },
      ];
      const { whole, stream } = await assertStreamMatchesWhole(gw, client, { model, messages, max_tokens: 40 });
      assert.ok(stream.text.length > 0);
      assert.equal(whole.headers.get('x-tollgate-model'), model);
      const { call, streamed, reply } = await assertToolRoundTrip(client, model);
      assert.ok(call.id && streamed.id, 'tool calls carry ids');
      finishes[model] = reply.choices[0].finish_reason;
    });
  }

  it('every provider ended the tool exchange the same way', () => {
    const seen = new Set(Object.values(finishes));
    assert.equal(Object.keys(finishes).length, Object.keys(MODELS).length);
    assert.equal(seen.size, 1, JSON.stringify(finishes));
  });
});
