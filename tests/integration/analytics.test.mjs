// Analytics: feedback on answers (idempotent, tenant-isolated), quality and cost per slice,
// savings against a baseline model to the micro-dollar, A/B experiments compared with a
// significance test, and the request event feed — through the real daemon, its store and
// tollgatectl.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, postJson, waitFor } from './lib/harness.mjs';
import { startKeyedGateway, createKey, admin, costPico, formatUsd } from './lib/meterkit.mjs';

const PRICES = {
  strong: { input: 2.5, output: 10 },
  cheap: { input: 0.27, output: 1.1 },
  small: { input: 0.1, output: 0.3 },
};

describe('analytics: feedback, quality, savings, experiments, events', () => {
  let sim, gw, acme, acme2, other;

  before(async () => {
    sim = await startSim();
    const models = {};
    for (const [name, price] of Object.entries(PRICES))
      models[name] = { provider: 'sim', upstream_model: `${name}-up`, price };
    gw = await startKeyedGateway({
      simPort: sim.port,
      models,
      extraYaml: `baseline: strong
routes:
  support:
    baseline: strong
    rules:
      - {task: faq, targets: [cheap]}
      - {targets: [small]}
  ab:
    sticky: user
    experiment:
      name: cheap-vs-small
      variants:
        - {name: control, weight: 50, targets: [cheap]}
        - {name: candidate, weight: 50, targets: [small]}
`,
    });
    acme = await createKey(gw, { tenant: 'acme' });
    acme2 = await createKey(gw, { tenant: 'acme' });
    other = await createKey(gw, { tenant: 'globex' });
  });

  after(async () => {
    const res = await gw?.stop();
    await sim?.stop();
    assert.equal(res?.code, 0);
    gw?.checkSanitizers();
  });

  const auth = (k) => ({ authorization: `Bearer ${k.secret}` });
  const chat = (k, model, extra = {}, headers = {}) =>
    postJson(`${gw.baseURL}/chat/completions`, {
      model,
      messages: [{ role: 'user', content: 'How do I reset my password?' }],
      max_tokens: 20,
      ...extra,
    }, { headers: { ...auth(k), ...headers } });
  const feedback = (k, body) => postJson(`${gw.baseURL}/feedback`, body, { headers: auth(k) });

  it('feedback is stored per request id, replaced by a later value, and tenant-isolated', async () => {
    const r = await chat(acme, 'support', {}, { 'x-tollgate-task': 'faq' });
    assert.equal(r.status, 200, r.text);
    const id = r.headers.get('x-request-id');
    await waitFor(async () => (await feedback(acme, { request_id: id, rating: 'up' })).status === 200,
      { what: 'the request to be settled' });
    let f = await feedback(acme, { request_id: id, rating: 'down', escalated: true, comment: 'wrong' });
    assert.equal(f.status, 200, f.text);
    assert.deepEqual(f.json, { object: 'feedback', request_id: id, rating: 'down', score: null, escalated: true });
    // another key of the same tenant may rate it; another tenant may not even see it exists
    f = await feedback(acme2, { request_id: id, rating: 'up', score: 0.9 });
    assert.equal(f.status, 200, f.text);
    f = await feedback(other, { request_id: id, rating: 'up' });
    assert.equal(f.status, 404);
    assert.equal(f.json.error.code, 'request_not_found');
    f = await feedback(acme, { request_id: 'req_nope', rating: 'up' });
    assert.equal(f.status, 404);
    // bad input: clear OpenAI-style errors
    for (const [body, param] of [
      [{ rating: 'up' }, 'request_id'],
      [{ request_id: id, rating: 'meh' }, 'rating'],
      [{ request_id: id, score: 2 }, 'score'],
      [{ request_id: id, escalated: 'yes' }, 'escalated'],
    ]) {
      f = await feedback(acme, body);
      assert.equal(f.status, 400, JSON.stringify(body));
      assert.equal(f.json.error.param, param);
    }
    f = await feedback(acme, { request_id: id });
    assert.equal(f.status, 400);
    // idempotent: one request, one feedback record, the latest value (up, score 0.9)
    const u = await admin(gw, { cmd: 'usage', by: 'route' });
    const row = u.rows.find((x) => x.group === 'support');
    assert.equal(row.feedback, 1);
    assert.equal(row.ratings, 1);
    assert.equal(row.thumbs_up_ratio, 1);
    assert.equal(row.mean_score, 0.9);
    assert.equal(row.escalation_rate, null, 'the latest feedback did not say');
  });

  it('usage per slice has cost per request, latency percentiles, error and quality rates', async () => {
    const u = await admin(gw, { cmd: 'usage', by: 'task' });
    const faq = u.rows.find((x) => x.group === 'faq');
    assert.ok(faq.requests >= 1);
    assert.ok(faq.latency_p50_ms >= 1 && faq.latency_p95_ms >= faq.latency_p50_ms);
    assert.ok(faq.ttft_p95_ms >= 1);
    assert.equal(faq.error_rate, 0);
    const r = await gw.ctl(['usage', '--by', 'route']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /COST\/REQ +P50 MS +P95 MS +TTFT P95 +UP% +ESCALATED%/);
    assert.match(r.stdout, /^support .* 100\.0% +- *$/m);
  });

  it('savings: the baseline cost of the same tokens, exact to the micro-dollar', async () => {
    const since = Math.floor(Date.now() / 1000) - 3600;
    const before = (await admin(gw, { cmd: 'savings', by: 'route', since })).rows.find((x) => x.group === 'support');
    const sent = [];
    for (const task of ['faq', 'faq', 'other']) {
      const r = await chat(acme, 'support', {}, { 'x-tollgate-task': task });
      assert.equal(r.status, 200);
      sent.push({ model: r.headers.get('x-tollgate-model'), usage: r.json.usage });
    }
    let cost = BigInt(before.cost_pico);
    let base = BigInt(before.baseline_pico);
    for (const s of sent) {
      cost += costPico(PRICES[s.model], s.usage);
      base += costPico(PRICES.strong, s.usage);
    }
    await waitFor(async () => {
      const sv = await admin(gw, { cmd: 'savings', by: 'route', since });
      const row = sv.rows.find((x) => x.group === 'support');
      return row && BigInt(row.cost_pico) === cost;
    }, { what: 'the requests to be settled' });
    const sv = await admin(gw, { cmd: 'savings', by: 'route', since });
    const row = sv.rows.find((x) => x.group === 'support');
    assert.equal(BigInt(row.cost_pico), cost);
    assert.equal(BigInt(row.baseline_pico), base);
    assert.equal(row.cost_usd, formatUsd(cost));
    assert.equal(row.baseline_cost_usd, formatUsd(base));
    assert.equal(row.savings_usd, formatUsd(base - cost));
    assert.ok(base - BigInt(before.baseline_pico) > 0n);
    assert.ok(row.savings_ratio > 0.8, 'cheap models instead of the strong one');
    const p = await gw.ctl(['savings', '--by', 'route', '--since', '1m']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /BEFORE +AFTER +SAVINGS +SAVINGS%/);
    assert.match(p.stdout, /projected per month: \$[0-9.,]+ before, \$[0-9.,]+ after, \$[0-9.,]+ saved/);
  });

  it('experiments: variants compared, with a two-proportion test on thumbs-up', async () => {
    const ids = { control: [], candidate: [] };
    for (let i = 0; i < 24; i++) {
      const r = await chat(acme, 'ab', { user: `u${i}` });
      assert.equal(r.status, 200);
      ids[r.headers.get('x-tollgate-variant')].push(r.headers.get('x-request-id'));
    }
    assert.ok(ids.control.length > 0 && ids.candidate.length > 0);
    // the control is liked every time, the candidate never: a significant difference
    for (const [v, list] of Object.entries(ids))
      for (const id of list)
        await waitFor(async () => (await feedback(acme, { request_id: id, rating: v === 'control' ? 'up' : 'down' })).status === 200,
          { what: 'settled' });
    const e = await admin(gw, { cmd: 'experiments' });
    const exp = e.experiments.find((x) => x.experiment === 'cheap-vs-small');
    const [ctl, cand] = exp.variants;
    assert.equal(ctl.variant, 'control');
    assert.equal(ctl.requests, ids.control.length);
    assert.equal(cand.requests, ids.candidate.length);
    assert.equal(ctl.thumbs_up_ratio, 1);
    assert.equal(cand.thumbs_up_ratio, 0);
    // pooled two-proportion z-test, computed here independently
    const n1 = cand.ratings, n2 = ctl.ratings, p = n2 / (n1 + n2);
    const z = (0 - 1) / Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
    assert.ok(Math.abs(cand.vs_control.thumbs_up.z - z) < 1e-9);
    assert.equal(cand.vs_control.thumbs_up.significant, true);
    const out = await gw.ctl(['experiments']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /experiment cheap-vs-small \(route ab\)/);
    assert.match(out.stdout, /thumbs-up 0\.0% vs 100\.0% \(z=-[0-9.]+, p=[0-9.]+: significant\)/);
  });

  it('events: the latest request events, and --follow prints new ones as they come', async () => {
    const r = await gw.ctl(['--json', 'events', '--limit', '3']);
    assert.equal(r.code, 0, r.stderr);
    const ev = JSON.parse(r.stdout).events;
    assert.equal(ev.length, 3);
    assert.ok(ev.every((x) => x.request_id && x.model && 'cost_pico' in x && !('messages' in x)));
    const cursor = JSON.parse(r.stdout).cursor;
    const next = await admin(gw, { cmd: 'events.tail', after: cursor });
    assert.equal(next.events.length, 0, 'nothing newer than the cursor yet');
    const c = await chat(acme, 'support');
    const later = await waitFor(async () => {
      const n = await admin(gw, { cmd: 'events.tail', after: cursor });
      return n.events.length > 0 && n;
    }, { what: 'the new event' });
    assert.equal(later.events.at(-1).request_id, c.headers.get('x-request-id'));
  });
});
