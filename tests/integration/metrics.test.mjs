// Prometheus /metrics and the admin HTTP API, end to end: a gateway with a store, routes, two
// workers and admin_http, a known mix of requests (whole and streamed answers, upstream
// failures, a dead provider whose breaker opens, a fallback route, 429s from a key's rpm limit,
// a key with a budget). What must hold (docs/analytics.md): the scrape parses with a strict
// text-format parser; its counters equal the requests the clients actually got, per model,
// provider, route and status class, across both workers; histogram counts equal those requests;
// counters never go down; the breaker of the dead provider is open; every request needs the
// token; the JSON API is the admin dispatcher; and no secret is ever in an answer or a log.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startSim, freePort, defaultModels, sseData, waitFor, getStatus } from './lib/harness.mjs';
import {
  admin,
  createKey,
  startKeyedGateway,
  minuteRoom,
  costPico,
} from './lib/meterkit.mjs';
import { parseProm, sampleValue, sampleSum } from './lib/prom.mjs';

const MODELS = defaultModels();
const PROVIDER_OF = Object.fromEntries(Object.entries(MODELS).map(([n, m]) => [n, m.provider]));
const messages = [{ role: 'user', content: 'Say hello' }];

/** "0.0000045" (a USD amount in the scrape) -> pico-dollars, exactly. */
function usdToPico(s) {
  const [w, f = ''] = s.split('.');
  return BigInt(w) * 1000000000000n + BigInt((f + '0'.repeat(12)).slice(0, 12));
}

describe('/metrics and the admin HTTP API', () => {
  const token = crypto.randomBytes(24).toString('hex');
  const providerKey = `sk-sim-${crypto.randomBytes(16).toString('hex')}`;
  const secrets = [token, providerKey];
  const seen = []; // every admin HTTP answer's text, searched for secrets at the end
  // what the clients got: `${model}|${provider}|${route}` -> {2xx, 4xx, 5xx, fallbacks, cost, tokens}
  const got = new Map();
  let sim, gw, adminURL, adminPort, keyA, keyB, keyC, scrape1;

  const series = (model, provider, route) => {
    const k = `${model}|${provider}|${route}`;
    if (!got.has(k)) {
      got.set(k, { '2xx': 0, '4xx': 0, '5xx': 0, fallbacks: 0, cost: 0n, prompt: 0, completion: 0 });
    }
    return got.get(k);
  };

  /** Fetch from the admin listener (token by default); keeps the text for the secret check. */
  async function adminHttp(p, { method = 'GET', body, auth = `Bearer ${token}` } = {}) {
    const headers = auth ? { authorization: auth } : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`${adminURL}${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    seen.push(text);
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, text, json };
  }

  async function scrape() {
    const r = await adminHttp('/metrics');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const f = parseProm(r.text);
    f.text = r.text;
    return f;
  }

  /** A USD sample as exact pico-dollars, from the exposition's decimal text (not a float). */
  function usdSample(f, name, labels) {
    const head = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
    const line = f.text.split('\n').find((x) => x.startsWith(head));
    assert.ok(line, `no ${head}`);
    return usdToPico(line.slice(head.length));
  }

  /**
   * One chat request; tallies the answer under the labels the gateway reports in its headers
   * (a refusal has none: the model asked for, its provider, no route).
   */
  async function chat(secret, body) {
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    const model = r.headers.get('x-tollgate-model') ?? body.model;
    const s = series(
      model,
      r.headers.get('x-tollgate-provider') ?? PROVIDER_OF[body.model],
      r.headers.get('x-tollgate-route') ?? body.model,
    );
    s[`${Math.floor(r.status / 100)}xx`]++;
    if (Number(r.headers.get('x-tollgate-attempts') ?? 1) > 1) s.fallbacks++;
    let usage = null;
    if (r.status === 200 && body.stream) {
      usage = sseData(text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)).find((c) => c.usage)?.usage;
    } else if (r.status === 200) {
      usage = JSON.parse(text).usage;
    }
    if (usage) {
      s.prompt += usage.prompt_tokens;
      s.completion += usage.completion_tokens;
      s.cost += costPico(MODELS[model].price, {
        ...usage,
        cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
      });
    }
    return r.status;
  }

  before(async () => {
    sim = await startSim({ args: ['--api-key', providerKey] });
    adminPort = await freePort();
    adminURL = `http://127.0.0.1:${adminPort}`;
    gw = await startKeyedGateway({
      simPort: sim.port,
      workers: 2,
      env: { TG_ADMIN_TOKEN: token, SIM_KEY: providerKey },
      extraYaml:
        `admin_http:\n  listen: 127.0.0.1:${adminPort}\n  token: \${TG_ADMIN_TOKEN}\n` +
        'breaker: {failures: 3, cooldown: 300s}\n' +
        'routes:\n' +
        '  cheap: {targets: [deepseek-chat]}\n' +
        '  guarded: {targets: [broken-model], fallback: [gpt-4o]}\n',
    });
    keyA = await createKey(gw, { tenant: 'metrics-a' });
    keyB = await createKey(gw, { tenant: 'metrics-b', rpm: 2 });
    keyC = await createKey(gw, { tenant: 'metrics-c', daily_budget_usd: '1' });
    await admin(gw, { cmd: 'tenants.set', name: 'metrics-c', monthly_budget_usd: '50' });
    secrets.push(keyA.secret, keyB.secret, keyC.secret);

    // the rpm refusals below must fall in one minute window
    await minuteRoom(20000);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(chat(keyA.secret, { model: 'gpt-4o', messages }));
    for (let i = 0; i < 3; i++) {
      statuses.push(chat(keyA.secret, { model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true } }));
    }
    for (let i = 0; i < 4; i++) statuses.push(chat(keyA.secret, { model: 'cheap', messages }));
    // the provider fails: the gateway passes the error on
    for (let i = 0; i < 2; i++) {
      statuses.push(chat(keyA.secret, { model: 'deepseek-chat', messages, sim: { status: 500 } }));
    }
    await Promise.all(statuses);
    // one at a time: each of these fails over from the dead provider until its breaker opens
    for (let i = 0; i < 3; i++) await chat(keyA.secret, { model: 'guarded', messages });
    for (let i = 0; i < 2; i++) await chat(keyA.secret, { model: 'broken-model', messages });
    for (let i = 0; i < 5; i++) await chat(keyB.secret, { model: 'gpt-4o', messages });
    assert.equal(await chat(keyC.secret, { model: 'gpt-4o', messages }), 200);
  });

  after(async () => {
    try {
      await gw?.stop();
    } finally {
      await sim?.stop();
    }
    gw?.checkSanitizers();
  });

  it('every request needs the token: 401 with a JSON error without it or with a wrong one', async () => {
    for (const auth of [null, `Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`, `Basic ${token}`, 'Bearer ']) {
      for (const p of ['/metrics', '/admin/v1/status', '/admin/v1/usage?by=route', '/nope']) {
        const r = await adminHttp(p, { auth });
        assert.equal(r.status, 401, `${p} with ${auth?.slice(0, 12)}: ${r.text}`);
        assert.equal(r.json.error.type, 'authentication_error');
        assert.match(r.headers.get('www-authenticate'), /^Bearer /);
      }
    }
    const w = await adminHttp('/admin/v1/status', { method: 'POST', auth: `Bearer ${token.toUpperCase()}` });
    assert.equal(w.status, 401);
  });

  it('the scrape parses strictly and its counters equal the requests the clients got', async () => {
    const f = (scrape1 = await scrape());
    for (const [k, want] of got) {
      const [model, provider, route] = k.split('|');
      const l = { model, provider, route };
      for (const cls of ['2xx', '4xx', '5xx']) {
        assert.equal(
          sampleValue(f, 'tollgate_requests_total', { ...l, status_class: cls }),
          want[cls],
          `${k} ${cls}`,
        );
      }
      assert.equal(sampleValue(f, 'tollgate_request_errors_total', l), want['4xx'] + want['5xx'], k);
      assert.equal(sampleValue(f, 'tollgate_fallbacks_total', l), want.fallbacks, `${k} fallbacks`);
      assert.equal(sampleValue(f, 'tollgate_tokens_total', { ...l, type: 'prompt' }), want.prompt, k);
      assert.equal(sampleValue(f, 'tollgate_tokens_total', { ...l, type: 'completion' }), want.completion, k);
      assert.equal(usdSample(f, 'tollgate_cost_usd_total', l), want.cost, `${k} cost`);
      // no route here names a baseline and neither does the gateway: the model's own price
      assert.equal(usdSample(f, 'tollgate_baseline_cost_usd_total', l), want.cost, `${k} baseline`);
    }
    // nothing else was counted: the series are exactly what the clients saw
    const total = [...got.values()].reduce((n, s) => n + s['2xx'] + s['4xx'] + s['5xx'], 0);
    assert.equal(total, 5 + 3 + 4 + 2 + 3 + 2 + 5 + 1);
    assert.equal(sampleSum(f, 'tollgate_requests_total'), total);
    // the mix did what it was meant to: fallbacks, upstream errors, refusals
    assert.equal(got.get('gpt-4o|sim|guarded').fallbacks, 3);
    assert.equal(got.get('broken-model|dead|broken-model')['5xx'], 2);
    assert.equal(got.get('deepseek-chat|sim|deepseek-chat')['5xx'], 2);
    assert.equal(got.get('gpt-4o|sim|gpt-4o')['4xx'], 3);
  });

  it('histograms: cumulative, +Inf = _count = the requests (TTFB: the answered ones)', () => {
    const f = scrape1;
    for (const [k, want] of got) {
      const [model, provider, route] = k.split('|');
      const pick = (name) => f.get(name).histograms.find((h) =>
        h.labels.model === model && h.labels.provider === provider && h.labels.route === route);
      const d = pick('tollgate_request_duration_seconds');
      const t = pick('tollgate_time_to_first_byte_seconds');
      assert.equal(d.count, want['2xx'] + want['4xx'] + want['5xx'], `${k} durations`);
      assert.equal(t.count, want['2xx'], `${k} time to first byte`);
      assert.equal(d.buckets.length, 16);
      assert.ok(d.sum >= 0 && (d.count === 0 || d.sum > 0), `${k} _sum ${d.sum}`);
      // exact sums: no request took longer than the test
      assert.ok(d.sum < d.count * 30, `${k} _sum ${d.sum}`);
    }
  });

  it('rate-limit refusals, breakers, budgets and the master counters', async () => {
    const f = scrape1;
    assert.equal(sampleValue(f, 'tollgate_rate_limited_total', { scope: 'key', limit: 'rpm' }), 3);
    assert.equal(sampleSum(f, 'tollgate_rate_limited_total'), 3);
    assert.equal(sampleValue(f, 'tollgate_breaker_state', { model: 'broken-model' }), 1);
    assert.ok(sampleValue(f, 'tollgate_breaker_opens_total', { model: 'broken-model' }) >= 1);
    assert.equal(sampleValue(f, 'tollgate_breaker_state', { model: 'gpt-4o' }), 0);
    // key C spent exactly its one request's cost; its tenant too, of the monthly budget
    const cRow = (await admin(gw, { cmd: 'usage', by: 'key', since: 0, until: Math.floor(Date.now() / 1000) + 120 }))
      .rows.find((r) => r.group === keyC.id);
    const spent = BigInt(cRow.cost_pico);
    assert.ok(spent > 0n);
    const remaining = (scope, id, window) =>
      usdSample(f, 'tollgate_budget_remaining_usd', { scope, id, window });
    assert.equal(sampleValue(f, 'tollgate_budget_usd', { scope: 'key', id: keyC.id, window: 'day' }), 1);
    assert.equal(remaining('key', keyC.id, 'day'), 1000000000000n - spent);
    assert.equal(remaining('tenant', 'metrics-c', 'month'), 50000000000000n - spent);
    assert.equal(sampleValue(f, 'tollgate_budget_usd', { scope: 'key', id: keyA.id, window: 'day' }), undefined);
    const status = await gw.status();
    assert.equal(sampleValue(f, 'tollgate_build_info', { version: status.version }), 1);
    assert.equal(sampleValue(f, 'tollgate_config_generation'), status.generation);
    assert.equal(sampleValue(f, 'tollgate_workers'), 2);
    assert.equal(sampleValue(f, 'tollgate_worker_slots'), 2);
    assert.equal(sampleValue(f, 'tollgate_worker_restarts_total'), 0);
  });

  it('counters never go down, and one more request counts exactly once', async () => {
    const before = await scrape();
    assert.equal(await chat(keyA.secret, { model: 'cheap', messages }), 200);
    const after = await scrape();
    for (const [name, fam] of before) {
      if (fam.type !== 'counter') continue;
      for (const s of fam.samples) {
        const v = sampleValue(after, name, s.labels);
        assert.ok(v >= s.value, `${name} ${JSON.stringify(s.labels)}: ${s.value} -> ${v}`);
      }
    }
    const l = { model: 'deepseek-chat', provider: 'sim', route: 'cheap', status_class: '2xx' };
    assert.equal(sampleValue(after, 'tollgate_requests_total', l), sampleValue(before, 'tollgate_requests_total', l) + 1);
    assert.equal(sampleSum(after, 'tollgate_requests_total'), sampleSum(before, 'tollgate_requests_total') + 1);
  });

  it('/admin/v1/usage?by=route is tollgatectl --json usage --by route', async () => {
    const since = Math.floor(Date.now() / 1000) - 3600;
    const until = since + 7200;
    const viaHttp = await adminHttp(`/admin/v1/usage?by=route&since=${since}&until=${until}`);
    assert.equal(viaHttp.status, 200, viaHttp.text);
    const ctl = await gw.ctl(['--json', 'usage', '--by', 'route', '--since', `@${since}`, '--until', `@${until}`]);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.deepEqual(viaHttp.json, JSON.parse(ctl.stdout));
    assert.ok(viaHttp.json.rows.some((r) => r.group === 'guarded'));
    // the other read commands answer as over the socket
    for (const [p, cmd] of [['status', 'status'], ['workers', 'workers'], ['routes/list', 'routes.list'],
      ['providers/list', 'providers.list'], ['keys/list', 'keys.list'], ['tenants/list', 'tenants.list']]) {
      const r = await adminHttp(`/admin/v1/${p}`);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      const sock = await admin(gw, { cmd });
      delete sock._raw;
      if (cmd === 'workers') {
        for (const w of [...r.json.workers, ...sock.workers]) delete w.uptime_ms;
      }
      assert.deepEqual(r.json, sock, p);
    }
    // the analytics commands too, with their parameters typed from the query
    for (const [p, req] of [
      [`savings?by=route&since=${since}&until=${until}`, { cmd: 'savings', by: 'route', since, until }],
      [`experiments?since=${since}&until=${until}`, { cmd: 'experiments', since, until }],
      ['events/tail?limit=3', { cmd: 'events.tail', limit: 3 }],
    ]) {
      const r = await adminHttp(`/admin/v1/${p}`);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      const sock = await admin(gw, req);
      delete sock._raw;
      assert.deepEqual(r.json, sock, p);
    }
    const tail = await adminHttp('/admin/v1/audit/tail?n=2');
    assert.equal(tail.json.entries.length, 2);
    const explain = await adminHttp('/admin/v1/routes/explain', {
      method: 'POST',
      body: { request: { model: 'cheap', messages } },
    });
    assert.equal(explain.status, 200, explain.text);
    assert.equal(explain.json.route, 'cheap');
  });

  it('the API refuses what it does not offer: 404, 405, 400 with an error object', async () => {
    const cases = [
      ['/admin/v1/keys/create', { method: 'POST', body: { tenant: 'x', name: 'y' } }, 404],
      ['/admin/v1/keys/rotate', { method: 'POST', body: { id: keyA.id } }, 404],
      ['/admin/v1/providers/rotate_key', { method: 'POST', body: { name: 'sim', secret: 'x' } }, 404],
      ['/admin/v1/drain', { method: 'POST' }, 404],
      ['/admin/v1/keys.list', {}, 404],
      ['/admin/v2/status', {}, 404],
      ['/admin/v1/reload', {}, 405],
      ['/admin/v1/status', { method: 'PUT' }, 405],
      ['/metrics', { method: 'POST' }, 405],
      ['/admin/v1/usage?by=route&bogus=1', {}, 400],
      ['/admin/v1/usage?since=yesterday', {}, 400],
      ['/admin/v1/usage?by=colour', {}, 400],
      ['/admin/v1/keys/show', { method: 'POST', body: '[1,2]' }, 400],
      ['/admin/v1/keys/show?id=nope', { method: 'POST', body: {} }, 400],
    ];
    for (const [p, opts, status] of cases) {
      const r = await adminHttp(p, opts);
      assert.equal(r.status, status, `${opts.method ?? 'GET'} ${p}: ${r.text}`);
      assert.equal(typeof r.json.error.message, 'string', r.text);
      assert.equal(typeof r.json.error.type, 'string', r.text);
    }
    // the path names the command: a "cmd" in the body is ignored
    const sneaky = await adminHttp('/admin/v1/keys/list', { method: 'POST', body: { cmd: 'keys.create', tenant: 'x', name: 'y' } });
    assert.equal(sneaky.status, 200);
    assert.ok(Array.isArray(sneaky.json.keys) && !('secret' in sneaky.json));
  });

  it('changes go over POST and are audited as http', async () => {
    const r = await adminHttp('/admin/v1/keys/revoke', { method: 'POST', body: { id: keyB.id } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.key.status, 'revoked');
    const audit = await admin(gw, { cmd: 'audit.tail', n: 1 });
    assert.equal(audit.entries[0].action, 'key.revoke');
    assert.equal(audit.entries[0].uid, -2, 'actor: the HTTP API');
    assert.equal(audit.entries[0].pid, 0);
    const ctl = await gw.ctl(['audit', 'tail', '-n', '1']);
    assert.match(ctl.stdout, /\bhttp\b.*key\.revoke/);
  });

  it('a reload applies a new token at once and moves the listener', async () => {
    const newToken = crypto.randomBytes(24).toString('hex');
    const tokenFile = path.join(gw.dir, 'admin.token');
    fs.writeFileSync(tokenFile, `${newToken}\n`, { mode: 0o600 });
    secrets.push(newToken);
    const newPort = await freePort();
    const cfg = fs.readFileSync(gw.configPath, 'utf8')
      .replace(`listen: 127.0.0.1:${adminPort}`, `listen: 127.0.0.1:${newPort}`)
      .replace('token: ${TG_ADMIN_TOKEN}', `token_file: ${tokenFile}`);
    fs.writeFileSync(gw.configPath, cfg);
    const r = await adminHttp('/admin/v1/reload', { method: 'POST' });
    assert.equal(r.status, 200, r.text);
    const oldURL = adminURL;
    adminURL = `http://127.0.0.1:${newPort}`;
    assert.equal((await adminHttp('/admin/v1/status', { auth: `Bearer ${token}` })).status, 401);
    assert.equal((await adminHttp('/admin/v1/status', { auth: `Bearer ${newToken}` })).status, 200);
    await assert.rejects(getStatus(`${oldURL}/metrics`), /ECONNREFUSED/, 'the old address is closed');
    // a token file others may read is refused, and the running configuration stays
    fs.chmodSync(tokenFile, 0o644);
    const bad = await adminHttp('/admin/v1/reload', { method: 'POST', auth: `Bearer ${newToken}` });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /token_file .* may be read by others/);
    assert.ok(!bad.text.includes(newToken));
    assert.equal((await adminHttp('/metrics', { auth: `Bearer ${newToken}` })).status, 200);
  });

  it('no secret in any answer, the error log or the access log', async () => {
    await waitFor(() => fs.existsSync(gw.accessLog), { what: 'the access log' });
    const logs = gw.readErrorLog() + fs.readFileSync(gw.accessLog, 'utf8') + gw.stderr();
    const answers = seen.join('\n');
    assert.ok(answers.length > 10000, 'answers were kept');
    for (const s of secrets) {
      assert.ok(!answers.includes(s), `an answer holds ${s.slice(0, 6)}...`);
      assert.ok(!logs.includes(s), `a log holds ${s.slice(0, 6)}...`);
    }
    // the key ids are there (they are not secrets), the secret halves never
    for (const k of [keyA, keyB, keyC]) assert.ok(!answers.includes(k.secret.split('_')[2]));
  });
});
