// Routes: a client names a route in `model` and the gateway picks the model. Rules match on the
// task and complexity (headers, metadata or the estimator), strategies order the targets, and
// a failing provider becomes a fallback to the next target (another provider), never an error
// the client sees; a target that keeps failing has its circuit breaker opened for every
// worker. The official openai SDK works unchanged. `tollgatectl route explain` tells why.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import path from 'node:path';
import {
  startSim, startGateway, postJson, tempDir, freePort, waitFor, run, sseData,
} from './lib/harness.mjs';

const HARD =
  'A train leaves at 3:15 pm at 80 km/h; a second leaves 45 minutes later at 110 km/h. Step by ' +
  'step, derive when the second overtakes the first, then prove your answer is correct and ' +
  'explain why the distance must be exactly equal.';

describe('routes: rules, strategies, fallback and circuit breakers', () => {
  let sim, gw, client;

  before(async () => {
    sim = await startSim();
    const sp = sim.port;
    const dir = tempDir('tg-route-');
    const deadPort = await freePort();
    gw = await startGateway({
      dir,
      workers: 2,
      providers: {
        sim: { kind: 'openai', base_url: `http://127.0.0.1:${sp}/v1` },
        claude: { kind: 'anthropic', base_url: `http://127.0.0.1:${sp}/v1` },
        // nothing listens there: a provider that is down
        dead: { kind: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1` },
      },
      models: {
        cheap: { provider: 'sim', upstream_model: 'cheap-up', price: { input: 0.1, output: 0.2 },
                 context_window: 8000, capabilities: ['tools'] },
        strong: { provider: 'sim', upstream_model: 'strong-up', price: { input: 2.5, output: 10 },
                  context_window: 128000, capabilities: ['tools', 'vision', 'json'] },
        backup: { provider: 'sim', upstream_model: 'backup-up', price: { input: 0.5, output: 1.5 } },
        flaky: { provider: 'sim', upstream_model: 'flaky-up', price: { input: 0.5, output: 1.5 } },
        slow: { provider: 'sim', upstream_model: 'slow-up', price: { input: 0.3, output: 0.6 } },
        tiny: { provider: 'sim', upstream_model: 'tiny-up', price: { input: 0.05, output: 0.1 } },
        sonnet: { provider: 'claude', upstream_model: 'claude-sonnet-5-5',
                  price: { input: 2, output: 10 }, max_output_tokens: 1024 },
        ghost: { provider: 'dead', price: { input: 0.05, output: 0.05 } },
      },
      // with a store, every worker shares the circuit breakers
      extraYaml: `store: {path: ${JSON.stringify(path.join(dir, 'data'))}}
routes:
  auto:
    baseline: strong
    complexity_threshold: 0.3
    rules:
      - {task: faq, targets: [cheap]}
      - {complexity: complex, targets: [strong]}
      - {targets: [cheap]}
    fallback: [sonnet]
  ab:
    strategy: weighted
    sticky: user
    targets: [{model: cheap, weight: 50}, {model: backup, weight: 50}]
  retry1: {targets: [flaky], attempts: 3, retry_backoff: 20ms}
  cheapfirst: {strategy: cheapest, targets: [strong, backup, cheap]}
  bigctx: {targets: [cheap, strong]}
  textonly: {targets: [cheap]}
  outage: {targets: [ghost, cheap]}
  careful:
    strategy: cascade
    targets: [strong, tiny]
    validate: {min_length: 40, refusal: true}
  hedged:
    targets: [slow, cheap]
    hedge: {delay: 150ms, max: 1}
  shadowed:
    targets: [cheap]
    shadow: {target: backup, percent: 100, record_output: true}
  exp:
    sticky: user
    experiment:
      name: cheap-vs-strong
      variants:
        - {name: control, weight: 50, targets: [strong]}
        - {name: candidate, weight: 50, route: auto}
breaker: {failures: 3, cooldown: 1500ms, error_rate: 0}
`,
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    const res = await gw?.stop();
    await sim?.stop();
    assert.equal(res?.code, 0, 'the gateway exits cleanly');
    gw?.checkSanitizers();
  });

  const ask = (model, content, opts = {}) =>
    postJson(`${gw.baseURL}/chat/completions`, {
      model,
      messages: [{ role: 'user', content }],
      max_tokens: 20,
      ...(opts.body ?? {}),
    }, { headers: opts.headers ?? {} });

  it('rules match the task and complexity from headers, metadata or the estimator', async () => {
    let r = await ask('auto', 'How do I reset my password?', { headers: { 'x-tollgate-task': 'faq' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-route'), 'auto');
    assert.equal(r.headers.get('x-tollgate-model'), 'cheap');
    assert.equal(r.headers.get('x-tollgate-attempts'), '1');
    assert.equal(r.headers.get('x-tollgate-fallback-reason'), null);
    r = await ask('auto', 'hi', { headers: { 'x-tollgate-complexity': 'complex' } });
    assert.equal(r.headers.get('x-tollgate-model'), 'strong');
    r = await ask('auto', 'hi', { headers: { 'x-tollgate-complexity': '0.9' } }); // a score
    assert.equal(r.headers.get('x-tollgate-model'), 'strong');
    r = await ask('auto', HARD, { body: { metadata: { task: 'faq' } } });
    assert.equal(r.headers.get('x-tollgate-model'), 'cheap', 'metadata.task matched first');
    // no labels at all: the estimator decides
    r = await ask('auto', 'What is the capital of France?');
    assert.equal(r.headers.get('x-tollgate-model'), 'cheap');
    r = await ask('auto', HARD);
    assert.equal(r.headers.get('x-tollgate-model'), 'strong');
    // the upstream got its own model id, and the answer is billed as the model that served
    const seen = await sim.lastRequest();
    assert.equal(seen.body.model, 'strong-up');
    const line = gw.readAccessLog().at(-1);
    assert.equal(line.route, 'auto');
    assert.equal(line.model, 'strong');
    // a model name still works directly, without route headers
    r = await ask('cheap', 'hi');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-tollgate-route'), null);
    r = await ask('no-such-route', 'hi');
    assert.equal(r.status, 404);
  });

  it('an outage at one provider becomes a fallback to another, invisible to the SDK', async () => {
    await sim.addFault({ model: 'cheap-up', status: 503, count: 1 });
    const { data, response } = await client.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 },
              { headers: { 'x-tollgate-task': 'faq' } })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.ok(data.choices[0].message.content.length > 0);
    assert.equal(response.headers.get('x-tollgate-model'), 'sonnet');
    assert.equal(response.headers.get('x-tollgate-provider'), 'claude');
    assert.equal(response.headers.get('x-tollgate-attempts'), '2');
    assert.equal(response.headers.get('x-tollgate-fallback-reason'), 'upstream_503');
    const seen = await sim.lastRequest();
    assert.equal(seen.path, '/v1/messages', 'the fallback spoke Anthropic');
    const line = gw.readAccessLog().at(-1);
    assert.equal(line.attempts, 2);
    assert.equal(line.model, 'sonnet');
    assert.equal(line.fallback_reason, 'upstream_503');
    assert.equal(line.task, 'faq');
  });

  it('a stream falls back before its first byte and streams whole from the next target', async () => {
    await sim.addFault({ model: 'cheap-up', status: 500, count: 1 });
    const stream = await client.chat.completions.create(
      { model: 'auto', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20, stream: true },
      { headers: { 'x-tollgate-task': 'faq' } },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const line = gw.readAccessLog().at(-1);
    assert.equal(line.model, 'sonnet');
    assert.equal(line.attempts, 2);
    assert.equal(line.stream, true);
  });

  it('retries the same target with back-off within the attempt budget', async () => {
    await sim.addFault({ model: 'flaky-up', status: 429, count: 2 });
    const r = await ask('retry1', 'hello');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-attempts'), '3');
    assert.equal(r.headers.get('x-tollgate-fallback-reason'), 'upstream_429');
    // a budget of 3: three failures in a row reach the client as the last failure
    await sim.addFault({ model: 'flaky-up', status: 503, count: 3 });
    const bad = await ask('retry1', 'hello');
    assert.equal(bad.status, 503);
    assert.equal(bad.headers.get('x-tollgate-attempts'), '3');
    await sim.clearFaults();
  });

  it("the client's own mistakes are not retried", async () => {
    await sim.addFault({ model: 'cheap-up', status: 400, count: 1 });
    const r = await ask('auto', 'hello', { headers: { 'x-tollgate-task': 'faq' } });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('x-tollgate-attempts'), '1');
    await sim.clearFaults();
  });

  it('strategies: cheapest first; a weighted split sticks to the user', async () => {
    let r = await ask('cheapfirst', 'hi');
    assert.equal(r.headers.get('x-tollgate-model'), 'cheap');
    const seen = new Set();
    for (let u = 0; u < 12; u++) {
      const first = (await ask('ab', 'hi', { body: { user: `user-${u}` } })).headers.get('x-tollgate-model');
      seen.add(first);
      for (let k = 0; k < 2; k++) {
        r = await ask('ab', 'hi', { body: { user: `user-${u}` } });
        assert.equal(r.headers.get('x-tollgate-model'), first, `user-${u} sticks`);
      }
    }
    assert.deepEqual([...seen].sort(), ['backup', 'cheap'], 'both variants get traffic');
  });

  it('eligibility: a prompt too long for a model skips it; no eligible target is a 400', async () => {
    const big = 'lorem ipsum dolor '.repeat(2500); // ~45 KB: over cheap's 8k-token window
    let r = await ask('bigctx', big);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-model'), 'strong');
    r = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'textonly',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'no_eligible_target');
    assert.match(r.json.error.message, /cheap: no image input/);
  });

  it('a provider that stays down opens its circuit for every worker; a probe closes it later', async () => {
    // ghost is unreachable: each request falls back to cheap
    for (let i = 0; i < 3; i++) {
      const r = await ask('outage', 'hi');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-tollgate-model'), 'cheap');
      assert.equal(r.headers.get('x-tollgate-fallback-reason'), 'upstream_unreachable');
    }
    // three failures (in any worker): open. Now every request skips ghost without trying it.
    for (let i = 0; i < 4; i++) {
      const r = await ask('outage', 'hi');
      assert.equal(r.headers.get('x-tollgate-model'), 'cheap');
      assert.equal(r.headers.get('x-tollgate-attempts'), '1');
      assert.equal(r.headers.get('x-tollgate-fallback-reason'), 'circuit_open');
    }
    // after the cooldown one request probes ghost again (and fails over again)
    await new Promise((res) => setTimeout(res, 1600));
    const probe = await ask('outage', 'hi');
    assert.equal(probe.status, 200);
    assert.equal(probe.headers.get('x-tollgate-fallback-reason'), 'upstream_unreachable');
  });

  it('an A/B experiment splits by weight, sticks to the user and records the variant', async () => {
    const byVariant = {};
    for (let u = 0; u < 16; u++) {
      const r = await ask('exp', 'What is the capital of France?', { body: { user: `ab-${u}` } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-tollgate-experiment'), 'cheap-vs-strong');
      const v = r.headers.get('x-tollgate-variant');
      // control runs its own targets; the candidate runs route auto (the estimator: cheap)
      assert.equal(r.headers.get('x-tollgate-model'), v === 'control' ? 'strong' : 'cheap');
      byVariant[v] = (byVariant[v] ?? 0) + 1;
      const again = await ask('exp', 'hello', { body: { user: `ab-${u}` } });
      assert.equal(again.headers.get('x-tollgate-variant'), v, 'sticky per user');
    }
    assert.deepEqual(Object.keys(byVariant).sort(), ['candidate', 'control']);
    const lines = gw.readAccessLog().filter((l) => l.route === 'exp');
    assert.equal(lines.length, 32);
    assert.ok(lines.every((l) => l.experiment === 'cheap-vs-strong' && l.variant));
    // metering files each request under its variant: cost, requests per arm
    const r = await gw.ctl(['--json', 'usage', '--by', 'variant']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout).rows ?? JSON.parse(r.stdout).usage;
    const arms = Object.fromEntries(rows.filter((x) => x.group.startsWith('cheap-vs-strong/'))
      .map((x) => [x.group, x.requests]));
    assert.equal(arms['cheap-vs-strong/control'] + arms['cheap-vs-strong/candidate'], 32, JSON.stringify(rows));
  });

  it('shadow traffic mirrors requests in the background and is metered apart', async () => {
    const r = await ask('shadowed', 'Say something about transports.', { body: { stream: true } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-tollgate-model'), 'cheap', 'the client gets the primary only');
    const id = r.headers.get('x-request-id');
    let shadow;
    await waitFor(() => (shadow = gw.readAccessLog().find((l) => l.shadow_of === id)), {
      what: 'the shadow line',
    });
    assert.equal(shadow.route, 'shadowed:shadow');
    assert.equal(shadow.model, 'backup');
    assert.equal(shadow.status, 200);
    assert.equal(shadow.stream, false, 'a shadow is never streamed');
    assert.ok(shadow.completion_tokens > 0 && Number(shadow.cost_usd) > 0);
    assert.equal(shadow.key_id, undefined, 'never charged to the client key');
    const primary = gw.readAccessLog().find((l) => l.request_id === id);
    assert.equal(primary.route, 'shadowed');
    // usage keeps the shadow's cost apart from the route's
    const u = await gw.ctl(['--json', 'usage', '--by', 'route']);
    assert.equal(u.code, 0, u.stderr);
    const rows = JSON.parse(u.stdout).rows ?? JSON.parse(u.stdout).usage;
    assert.ok(rows.find((x) => x.group === 'shadowed:shadow'), JSON.stringify(rows));
    assert.ok(rows.find((x) => x.group === 'shadowed'));
    // record_output: the shadow's answer text is in its request event
    await waitFor(async () => {
      const d = await run('mdb_dump', ['-p', '-s', 'events', path.join(gw.dir, 'data', 'meter')]);
      return d.stdout.includes(id) && d.stdout.includes('output');
    }, { what: 'the shadow event with its output' });
  });

  it('hedging: a slow first target is raced by the next; the loser is cancelled and metered', async () => {
    // a quick answer: no hedge
    let r = await ask('hedged', 'hello');
    assert.equal(r.headers.get('x-tollgate-model'), 'slow');
    assert.equal(r.headers.get('x-tollgate-attempts'), '1');
    await sim.addFault({ model: 'slow-up', latency_ms: 2000 });
    for (const stream of [false, true]) {
      const t0 = Date.now();
      r = await ask('hedged', 'hello', { body: { stream } });
      const took = Date.now() - t0;
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-tollgate-model'), 'cheap', 'the hedge won');
      assert.equal(r.headers.get('x-tollgate-attempts'), '2');
      assert.equal(r.headers.get('x-tollgate-fallback-reason'), 'hedge');
      assert.ok(took < 1500, `answered in ${took} ms, not after the slow target's 2 s`);
      const id = r.headers.get('x-request-id');
      const lines = gw.readAccessLog();
      const loser = lines.find((l) => l.request_id === `${id}-2`);
      assert.ok(loser, 'the cancelled attempt has its own line');
      assert.equal(loser.model, 'slow');
      assert.equal(loser.error, 'hedge_lost');
      assert.ok(Number(loser.cost_usd) > 0, 'what it consumed is metered');
      const winner = lines.find((l) => l.request_id === id);
      assert.equal(winner.model, 'cheap');
    }
    await sim.clearFaults();
  });

  it('quality cascade: cheapest first, a rejected answer escalates, every attempt is metered', async () => {
    let r = await ask('careful', 'Tell me about transports.');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-model'), 'tiny', 'the cheapest goes first');
    assert.equal(r.headers.get('x-tollgate-validation'), 'passed');
    // now tiny answers in two tokens: too short, so the answer escalates to strong
    await sim.addFault({ model: 'tiny-up', tokens: 2 });
    for (const stream of [false, true]) {
      r = await ask('careful', 'Tell me about transports.', {
        body: stream ? { stream: true, stream_options: { include_usage: true } } : {},
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-tollgate-model'), 'strong');
      assert.equal(r.headers.get('x-tollgate-attempts'), '2');
      assert.equal(r.headers.get('x-tollgate-fallback-reason'), 'cascade_rejected');
      // the last target's stream is not held (nothing to escalate to), so it is not judged
      assert.equal(r.headers.get('x-tollgate-validation'), stream ? null : 'passed');
      let text;
      if (stream) {
        const events = sseData(r.text);
        assert.equal(events.at(-1), '[DONE]');
        text = events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('');
      } else {
        text = r.json.choices[0].message.content;
      }
      assert.ok(text.length >= 40, 'the client got only the accepted answer');
      const id = r.headers.get('x-request-id');
      const lines = gw.readAccessLog();
      const rejected = lines.find((l) => l.request_id === `${id}-1`);
      assert.ok(rejected, 'the rejected answer has its own line');
      assert.equal(rejected.model, 'tiny');
      assert.equal(rejected.error, 'cascade_rejected');
      assert.equal(rejected.usage_estimated, false, 'its real usage');
      assert.ok(rejected.completion_tokens > 0 && Number(rejected.cost_usd) > 0);
      assert.equal(lines.find((l) => l.request_id === id).model, 'strong');
    }
    await sim.clearFaults();
    // a held stream that breaks off mid-way: what it produced is metered, the next target answers
    await sim.addFault({ model: 'tiny-up', reset_after: 4, count: 1 });
    r = await ask('careful', 'Tell me about transports.', { body: { stream: true } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-model'), 'strong');
    const broken = gw.readAccessLog().find((l) => l.request_id === `${r.headers.get('x-request-id')}-1`);
    assert.ok(broken, 'the broken held attempt has its own line');
    assert.equal(broken.error, 'stream_failed_held');
    assert.ok(Number(broken.cost_usd) > 0);
    // a held stream that passes is sent whole, as the stream it was, with its usage
    r = await ask('careful', 'Tell me about transports.', {
      body: { stream: true, stream_options: { include_usage: true } },
    });
    assert.equal(r.headers.get('x-tollgate-model'), 'tiny');
    assert.equal(r.headers.get('x-tollgate-validation'), 'passed');
    const events = sseData(r.text);
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(JSON.parse(events.at(-2)).usage.completion_tokens > 0);
  });

  it('tollgatectl route explain shows the decision path', async () => {
    const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: HARD }] });
    let r = await gw.ctl(['--json', 'route', 'explain'], { input: body });
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout);
    assert.equal(e.route, 'auto');
    assert.equal(e.complexity, 'complex');
    assert.equal(e.complexity_source, 'estimator');
    assert.ok(e.score >= 0.3);
    assert.equal(e.rule.index, 1);
    assert.deepEqual(e.targets.map((t) => t.model), ['strong', 'sonnet']);
    assert.ok(e.features.find((f) => f.name === 'math').contribution > 0);
    r = await gw.ctl(['route', 'explain', '--task', 'faq'], { input: body });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^route auto/m);
    assert.match(r.stdout, /task: faq \(header\)/);
    assert.match(r.stdout, /1\. cheap \(sim\)/);
    assert.match(r.stdout, /2\. sonnet \(claude\)/);
    // the breaker the workers opened shows in the explanation (the store is shared)
    r = await gw.ctl(['--json', 'route', 'explain'],
      { input: JSON.stringify({ model: 'outage', messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).targets[0].breaker, 'open');
    r = await gw.ctl(['--json', 'route', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).routes.map((x) => x.name),
      ['ab', 'auto', 'bigctx', 'careful', 'cheapfirst', 'exp', 'hedged', 'outage', 'retry1',
        'shadowed', 'textonly']);
  });
});
