// A provider of kind `azure`: OpenAI's wire format at Azure OpenAI's deployment URLs
// (/openai/deployments/{deployment}/...?api-version=...) with an api-key header instead of a
// bearer token, over both upstream transports.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startGateway, postJson, sseData } from './lib/harness.mjs';

describe('azure provider', () => {
  let sim, gw, client;

  before(async () => {
    sim = await startSim({ args: ['--api-key', 'az-secret-key'] });
    const provider = (http2) => ({
      kind: 'azure',
      base_url: `http://127.0.0.1:${sim.port}`,
      api_key: '${AZ_KEY}',
      api_version: '2024-10-21',
      http2,
    });
    gw = await startGateway({
      workers: 1,
      providers: { azpool: provider(false), azcurl: provider(true) },
      models: {
        'gpt-4o-az': { provider: 'azpool', upstream_model: 'my-gpt4o-deployment', price: { input: 2.5, output: 10 } },
        'gpt-4o-az2': { provider: 'azcurl', upstream_model: 'my-gpt4o-deployment', price: { input: 2.5, output: 10 } },
        'embed-az': {
          provider: 'azpool',
          upstream_model: 'my-embedding-deployment',
          price: { input: 0.02, output: 0 },
          capabilities: ['embeddings'],
        },
      },
      env: { AZ_KEY: 'az-secret-key' },
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  for (const model of ['gpt-4o-az', 'gpt-4o-az2']) {
    it(`${model}: chat goes to the deployment URL with api-version and the api-key header`, async () => {
      const r = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'hello azure' }],
      });
      assert.equal(r.object, 'chat.completion');
      assert.ok(r.usage.total_tokens > 0);
      const seen = await sim.lastRequest();
      assert.equal(seen.path, '/openai/deployments/my-gpt4o-deployment/chat/completions');
      assert.equal(seen.query ?? '', 'api-version=2024-10-21');
      assert.equal(seen.headers['api-key'], 'az-secret-key');
      assert.equal(seen.headers.authorization, undefined, 'no bearer token to Azure');
    });

    it(`${model}: streams relay chunk by chunk and meter usage`, async () => {
      const r = await postJson(`${gw.baseURL}/chat/completions`, {
        model,
        stream: true,
        messages: [{ role: 'user', content: 'stream from azure' }],
      });
      assert.equal(r.status, 200, r.text);
      const events = sseData(r.text);
      assert.equal(events.at(-1), '[DONE]');
      const line = gw.readAccessLog().filter((l) => l.model === model && l.stream).at(-1);
      assert.equal(line.usage_estimated, false, JSON.stringify(line));
    });
  }

  it('embeddings go to the embedding deployment', async () => {
    const r = await client.embeddings.create({ model: 'embed-az', input: 'vectors' });
    assert.ok(r.data[0].embedding.length > 0);
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/openai/deployments/my-embedding-deployment/embeddings');
  });

  it('a wrong key is a gateway credential problem: 502 upstream_auth_failed, key never shown', async () => {
    const gw2 = await startGateway({
      workers: 1,
      providers: {
        az: { kind: 'azure', base_url: `http://127.0.0.1:${sim.port}`, api_key: '${AZ_BAD}' },
      },
      models: { m: { provider: 'az', upstream_model: 'd', price: { input: 1, output: 1 } } },
      env: { AZ_BAD: 'az-wrong-key-123' },
    });
    try {
      const r = await postJson(`${gw2.baseURL}/chat/completions`, {
        model: 'm',
        messages: [{ role: 'user', content: 'x' }],
      });
      assert.equal(r.status, 502, r.text);
      assert.equal(r.json.error.code, 'upstream_auth_failed');
      assert.ok(!r.text.includes('az-wrong-key-123'));
    } finally {
      await gw2.stop();
    }
  });
});
