// Rate limits, budgets and key states, end to end: the real gateway (2 workers, an LMDB store,
// auth: keys) in front of tollgate-sim, keys and tenants managed over the admin socket. What
// must hold (docs/storage.md): limits are exact across workers because admission is one LMDB
// write transaction; budgets reserve the worst case so concurrent requests never spend more than
// the budget; settlement and the death of a worker give reservations back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, defaultModels, sleep, waitFor, assertOpenAIError, sseData } from './lib/harness.mjs';
import {
  admin,
  createKey,
  usage,
  ZERO_ROW,
  startKeyedGateway,
  workerPids,
  waitWorkers,
  postFresh,
  openStream,
  connOwners,
  minuteRoom,
  costPico,
  usdToMicros,
  formatUsd,
} from './lib/meterkit.mjs';

const PRICE = defaultModels()['gpt-4o'].price;
const messages = [{ role: 'user', content: 'Say hello' }]; // 10 prompt tokens at the sim
const RESET_RE = /^(\d+ms|\d+s|\d+m\d+s)$/;

/** A reset header ("20ms", "6s", "1m0s") in ms. */
function resetMs(v) {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$|^(\d+)ms$/.exec(v);
  assert.ok(m, `reset value ${v}`);
  if (m[3] !== undefined) return Number(m[3]);
  return Number(m[1] ?? 0) * 60000 + Number(m[2] ?? 0) * 1000;
}

/** Tokens the gateway reserves for a body: ceil(bytes / 4) + max_tokens. */
function estTokens(body) {
  return Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4) + body.max_tokens;
}

describe('limits and budgets', () => {
  let sim, gw, chatURL;
  const auth = (secret) => ({ headers: { authorization: `Bearer ${secret}` } });

  before(async () => {
    sim = await startSim();
    gw = await startKeyedGateway({ simPort: sim.port, workers: 2 });
    chatURL = `${gw.baseURL}/chat/completions`;
  });

  after(async () => {
    try {
      await gw?.stop();
    } finally {
      await sim?.stop();
    }
    gw?.checkSanitizers();
  });

  it('rpm=10: 200 simultaneous requests over both workers admit exactly 10, refuse 190 with 429', async (t) => {
    await minuteRoom(15000);
    const workers = await workerPids(gw);
    assert.equal(workers.length, 2);
    const k = await createKey(gw, { tenant: 'burst', rpm: 10 });
    const body = { model: 'gpt-4o', messages, max_tokens: 20 };
    // all 200 connect and send their heads first; the bodies then go out together
    let open;
    const gate = new Promise((resolve) => {
      open = resolve;
    });
    const pending = Array.from({ length: 200 }, () =>
      postFresh(chatURL, body, { ...auth(k.secret), gate }),
    );
    const owners = await waitFor(
      async () => {
        const m = await connOwners(gw.port);
        return m.size === 200 ? m : null;
      },
      { timeout: 10000, interval: 50, what: '200 connections accepted' },
    ).catch(async (e) => {
      open();
      await Promise.allSettled(pending);
      throw e;
    });
    const perWorker = {};
    for (const pid of owners.values()) perWorker[pid] = (perWorker[pid] ?? 0) + 1;
    t.diagnostic(`connections per worker: ${JSON.stringify(perWorker)}`);
    open();
    const results = await Promise.all(pending);
    // the requests were spread over both workers (so the limit held across processes)
    for (const pid of workers) assert.ok(perWorker[pid] > 0, `worker ${pid} got some: ${JSON.stringify(perWorker)}`);

    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(ok.length, 10, `statuses: ${JSON.stringify(results.map((r) => r.status))}`);
    assert.equal(refused.length, 190);
    for (const r of refused) {
      assertOpenAIError(r.json, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      assert.match(r.headers['retry-after'] ?? '', /^\d+$/, 'retry-after on a 429');
      const ra = Number(r.headers['retry-after']);
      assert.ok(ra >= 1 && ra <= 60, `retry-after ${ra} is within the minute window`);
      assert.equal(r.headers['x-ratelimit-limit-requests'], '10');
      assert.equal(r.headers['x-ratelimit-remaining-requests'], '0');
    }
    // the gateway's own bookkeeping agrees: 200 requests, 190 errors
    const row = (await usage(gw, 'key')).get(k.id);
    assert.equal(row.requests, 200);
    assert.equal(row.errors, 190);

    // what an application sees: the SDK raises RateLimitError
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: k.secret, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages }).then(
      () => assert.fail('expected RateLimitError'),
      (e) => e,
    );
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.match(err.headers.get('retry-after') ?? '', /^\d+$/);
  });

  it('200 answers carry OpenAI rate-limit headers: limit, remaining counting down, reset; tokens with tpm', async () => {
    await minuteRoom(10000);
    const k = await createKey(gw, { tenant: 'hdr', rpm: 5, tpm: 10000 });
    const body = { model: 'gpt-4o', messages, max_tokens: 40 };
    const est = estTokens(body);
    let used = 0;
    for (let i = 0; i < 3; i++) {
      const r = await postFresh(chatURL, body, auth(k.secret));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-ratelimit-limit-requests'], '5');
      assert.equal(r.headers['x-ratelimit-remaining-requests'], String(4 - i));
      assert.match(r.headers['x-ratelimit-reset-requests'] ?? '', RESET_RE);
      const reset = resetMs(r.headers['x-ratelimit-reset-requests']);
      assert.ok(reset > 0 && reset <= 60000, `reset ${reset} ms within the minute`);
      assert.equal(r.headers['x-ratelimit-limit-tokens'], '10000');
      // what was used so far (settled to the provider's usage) plus this one's reservation
      assert.equal(r.headers['x-ratelimit-remaining-tokens'], String(10000 - used - est));
      assert.match(r.headers['x-ratelimit-reset-tokens'] ?? '', RESET_RE);
      assert.equal(r.headers['retry-after'], undefined, 'no retry-after on a 200');
      used += r.json.usage.total_tokens;
    }
    // a stream carries them too
    const s = await openStream(chatURL, { ...body, stream: true }, auth(k.secret));
    assert.equal(s.status, 200);
    assert.equal(s.headers['x-ratelimit-remaining-requests'], '1');
    assert.equal(s.headers['x-ratelimit-limit-tokens'], '10000');
    const { error } = await s.done;
    assert.equal(error, null);

    // only rpm: no tokens trio; no limits at all: no rate-limit headers
    const onlyRpm = await createKey(gw, { tenant: 'hdr', rpm: 7 });
    let r = await postFresh(chatURL, body, auth(onlyRpm.secret));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ratelimit-limit-requests'], '7');
    assert.equal(r.headers['x-ratelimit-limit-tokens'], undefined);
    const none = await createKey(gw, { tenant: 'hdr-free' });
    r = await postFresh(chatURL, body, auth(none.secret));
    assert.equal(r.status, 200);
    for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith('x-ratelimit-'), `unexpected ${h}`);
  });

  it('tenant rpm=6 is shared by the keys of the tenant: 6 admitted in total', async () => {
    await minuteRoom(15000);
    const t = await admin(gw, { cmd: 'tenants.create', name: 'shared6', rpm: 6 });
    assert.equal(t.tenant.limits.rpm, 6);
    const a = await createKey(gw, { tenant: 'shared6' });
    const b = await createKey(gw, { tenant: 'shared6' });
    const other = await createKey(gw, { tenant: 'elsewhere' });
    const body = { model: 'gpt-4o', messages, max_tokens: 20 };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postFresh(chatURL, body, auth(i % 2 ? a.secret : b.secret))),
    );
    const ok = results.filter((r) => r.status === 200).length;
    assert.equal(ok, 6, `statuses: ${results.map((r) => r.status)}`);
    for (const r of results.filter((x) => x.status !== 200)) {
      assert.equal(r.status, 429);
      const e = assertOpenAIError(r.json, { code: 'rate_limit_exceeded' });
      assert.match(e.message, /tenant/);
    }
    // another tenant is not affected
    const r = await postFresh(chatURL, body, auth(other.secret));
    assert.equal(r.status, 200);
    const rows = await usage(gw, 'tenant');
    assert.equal(rows.get('shared6').requests, 20);
    assert.equal(rows.get('shared6').errors, 14);
  });

  it('tpm: usage that reaches the limit refuses the next request within the minute', async () => {
    await minuteRoom(10000);
    // the first request is admitted (nothing used yet); its 26 tokens exhaust tpm=20
    const k = await createKey(gw, { tenant: 'tpm', tpm: 20 });
    const body = { model: 'gpt-4o', messages, max_tokens: 16 };
    let r = await postFresh(chatURL, body, auth(k.secret));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.total_tokens, 26);
    r = await postFresh(chatURL, body, auth(k.secret));
    assert.equal(r.status, 429, r.text);
    const e = assertOpenAIError(r.json, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    assert.match(e.message, /tokens per minute/);
    assert.equal(r.headers['x-ratelimit-limit-tokens'], '20');
    assert.equal(r.headers['x-ratelimit-remaining-tokens'], '0');
    assert.match(r.headers['retry-after'] ?? '', /^\d+$/);
  });

  it('tpm: an in-flight reservation counts, and settlement refunds what was not used', async () => {
    await minuteRoom(15000);
    const k = await createKey(gw, { tenant: 'tpm2', tpm: 150 });
    // reserves ceil(bytes/4) + 150 tokens >= tpm while in flight (~1 s); uses 10 + 5
    const slow = {
      model: 'gpt-4o',
      messages,
      max_tokens: 150,
      stream: true,
      sim: { tokens: 5, tps: 5 },
    };
    const s = await openStream(chatURL, slow, auth(k.secret));
    assert.equal(s.status, 200);
    const quick = { model: 'gpt-4o', messages, max_tokens: 10 };
    let r = await postFresh(chatURL, quick, auth(k.secret));
    assert.equal(r.status, 429, `the reservation exhausts tpm while in flight: ${r.text}`);
    const { error } = await s.done;
    assert.equal(error, null);
    // settled at 15 tokens: the rest of the reservation is back
    r = await postFresh(chatURL, quick, auth(k.secret));
    assert.equal(r.status, 200, `after settlement the refund admits again: ${r.text}`);
    assert.equal(Number(r.headers['x-ratelimit-remaining-tokens']), 150 - 15 - estTokens(quick));
  });

  it('concurrency=2: of 5 slow streams exactly 2 are admitted; the count goes back down', async () => {
    const k = await createKey(gw, { tenant: 'conc', concurrency: 2 });
    const body = {
      model: 'gpt-4o',
      messages,
      max_tokens: 50,
      stream: true,
      sim: { tokens: 16, ttft_ms: 200, tps: 20 }, // ~1 s
    };
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => openStream(chatURL, body, auth(k.secret))),
    );
    const admitted = streams.filter((s) => s.status === 200);
    const refused = streams.filter((s) => s.status === 429);
    assert.equal(admitted.length, 2, `statuses ${streams.map((s) => s.status)}`);
    assert.equal(refused.length, 3);
    for (const s of refused) {
      const { text } = await s.done;
      const e = assertOpenAIError(JSON.parse(text), { code: 'rate_limit_exceeded' });
      assert.match(e.message, /concurrent/);
      assert.equal(s.headers['retry-after'], '1');
    }
    for (const s of admitted) {
      const { text, error } = await s.done;
      assert.equal(error, null);
      assert.equal(sseData(text).at(-1), '[DONE]');
    }
    // both finished: two more may run at once, immediately
    const again = await Promise.all(
      [0, 1].map(() => postFresh(chatURL, { ...body, stream: false, sim: {} }, auth(k.secret))),
    );
    assert.deepEqual(
      again.map((r) => r.status),
      [200, 200],
    );
  });

  it('a client that leaves before a non-stream answer frees its concurrency slot at once', async () => {
    const k = await createKey(gw, { tenant: 'leave', concurrency: 1 });
    const ac = new AbortController();
    const pending = fetch(chatURL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${k.secret}` },
      body: JSON.stringify({ model: 'gpt-4o', messages, sim: { latency_ms: 5000 } }),
      signal: ac.signal,
    }).catch((e) => e);
    await sleep(300);
    let r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 5 }, auth(k.secret));
    assert.equal(r.status, 429, 'the slot is taken while the answer is pending');
    ac.abort();
    assert.equal((await pending).name, 'AbortError');
    const t0 = Date.now();
    await waitFor(
      async () => (await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 5 }, auth(k.secret))).status === 200,
      { timeout: 2000, interval: 50, what: 'the slot to be free' },
    );
    assert.ok(Date.now() - t0 < 2000);
    // and the provider call was given up too
    await waitFor(async () => (await sim.stats()).active_streams === 0, { timeout: 2000, what: 'sim idle' });
  });

  it('keys.set takes effect at the next request (nothing is cached)', async () => {
    const k = await createKey(gw, { tenant: 'set', concurrency: 1 });
    // the head comes with the first event; the stream then lasts ~1 s
    const slow = { model: 'gpt-4o', messages, max_tokens: 20, stream: true, sim: { tokens: 8, tps: 8 } };
    const s = await openStream(chatURL, slow, auth(k.secret));
    assert.equal(s.status, 200);
    let r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 5 }, auth(k.secret));
    assert.equal(r.status, 429);
    const set = await admin(gw, { cmd: 'keys.set', id: k.id, concurrency: 2 });
    assert.equal(set.key.limits.concurrency, 2);
    r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 5 }, auth(k.secret));
    assert.equal(r.status, 200, r.text);
    await s.done;
  });

  it('daily budget: 10 concurrent streams never spend more than the budget; refusals are insufficient_quota', async () => {
    const body = {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'budget probe' }],
      max_tokens: 50,
      stream: true,
      stream_options: { include_usage: true },
      sim: { tokens: 10, ttft_ms: 300, tps: 20 }, // ~0.8 s each
    };
    // worst case = (bytes/4 + max_tokens) tokens: the prompt at the input price, the rest at output
    const worst = costPico(PRICE, {
      prompt_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4),
      completion_tokens: body.max_tokens,
    });
    const budgetMicros = (3n * worst + 999999n) / 1000000n; // three worst cases fit, four do not
    assert.ok(budgetMicros * 1000000n < 4n * worst);
    const budgetUsd = formatUsd(budgetMicros * 1000000n);
    const k = await createKey(gw, { tenant: 'budget', daily_budget_usd: budgetUsd });
    assert.equal(k.key.limits.daily_budget_usd, budgetUsd);

    const wave = async (n) => {
      const streams = await Promise.all(
        Array.from({ length: n }, () => openStream(chatURL, body, auth(k.secret))),
      );
      for (const s of streams) s.result = await s.done;
      return streams;
    };
    const first = await wave(10);
    const admitted = first.filter((s) => s.status === 200);
    assert.equal(admitted.length, 3, `statuses ${first.map((s) => s.status)}`);
    for (const s of first.filter((x) => x.status !== 200)) {
      assert.equal(s.status, 429);
      assertOpenAIError(JSON.parse(s.result.text), { type: 'insufficient_quota', code: 'insufficient_quota' });
      assert.match(s.headers['retry-after'] ?? '', /^\d+$/);
    }
    // settlement refunded the unused part of the reservations: more fit while the budget lasts
    let more = 0;
    for (let i = 0; i < 30; i++) {
      const [s] = await wave(1);
      if (s.status !== 200) {
        assert.equal(s.status, 429);
        assertOpenAIError(JSON.parse(s.result.text), { code: 'insufficient_quota' });
        break;
      }
      more++;
    }
    assert.ok(more > 0, 'refunds let further requests in');
    // exactly: each billed 10 + 10 tokens; admission needs billed + worst <= budget
    const actual = costPico(PRICE, { prompt_tokens: 10, completion_tokens: 10 });
    let billed = 3n * actual;
    let expectMore = 0;
    while (billed + worst <= budgetMicros * 1000000n) {
      billed += actual;
      expectMore++;
    }
    assert.equal(more, expectMore);

    // the invariant, from both the rollups and the access log
    const row = (await usage(gw, 'key')).get(k.id);
    assert.ok(BigInt(row.cost_pico) <= budgetMicros * 1000000n, `billed ${row.cost_usd} > budget ${budgetUsd}`);
    assert.equal(BigInt(row.cost_pico), billed);
    await sleep(200); // access log lines are written at the end of a loop turn
    const logged = gw
      .readAccessLog()
      .filter((l) => l.key_id === k.id)
      .reduce((sum, l) => sum + usdToMicros(l.cost_usd), 0n);
    assert.ok(logged <= budgetMicros, `access log total ${logged} µ$ > budget ${budgetMicros} µ$`);
  });

  it('a tenant monthly budget is shared by its keys and refused as insufficient_quota for the tenant', async () => {
    const body = { model: 'gpt-4o', messages, max_tokens: 30 };
    const worst = costPico(PRICE, {
      prompt_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4),
      completion_tokens: body.max_tokens,
    });
    // exactly one worst case: after the first request has spent anything, no second one fits
    const budget = formatUsd(((worst + 999999n) / 1000000n) * 1000000n);
    await admin(gw, { cmd: 'tenants.create', name: 'monthly', monthly_budget_usd: budget });
    const a = await createKey(gw, { tenant: 'monthly' });
    const b = await createKey(gw, { tenant: 'monthly' });
    let r = await postFresh(chatURL, body, auth(a.secret));
    assert.equal(r.status, 200, r.text);
    r = await postFresh(chatURL, body, auth(b.secret));
    assert.equal(r.status, 429, r.text);
    const e = assertOpenAIError(r.json, { type: 'insufficient_quota', code: 'insufficient_quota' });
    assert.match(e.message, /month/);
    assert.match(e.message, /tenant/);
    const ra = Number(r.headers['retry-after']);
    assert.ok(ra >= 1 && ra <= 31 * 86400, `retry-after ${ra} s is until the end of the month`);
    const row = (await usage(gw, 'tenant')).get('monthly');
    assert.ok(BigInt(row.cost_pico) <= usdToMicros(budget) * 1000000n);
  });

  it('daily budget: n choices cannot spend past the budget either', async () => {
    // n=4 choices: the completion is 4 x max_tokens; the worst case must include that
    const body = {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'many choices' }],
      max_tokens: 50,
      n: 4,
      sim: { tokens: 50, latency_ms: 300 },
    };
    const worstOneChoice = costPico(PRICE, {
      prompt_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4),
      completion_tokens: body.max_tokens,
    });
    const budgetMicros = (3n * worstOneChoice + 999999n) / 1000000n;
    const k = await createKey(gw, { tenant: 'budget-n', daily_budget_usd: formatUsd(budgetMicros * 1000000n) });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => postFresh(chatURL, body, auth(k.secret))),
    );
    for (const r of results) assert.ok([200, 429].includes(r.status), r.text);
    const row = (await usage(gw, 'key')).get(k.id);
    assert.ok(
      BigInt(row.cost_pico) <= budgetMicros * 1000000n,
      `billed ${row.cost_usd} USD > budget ${formatUsd(budgetMicros * 1000000n)} USD ` +
        `(${results.filter((r) => r.status === 200).length} admitted)`,
    );
  });

  it('daily budget: a worst case too large to count is refused, not wrapped around', async () => {
    const k = await createKey(gw, { tenant: 'budget-big', daily_budget_usd: '1' });
    // spend something first, so the day's counter is not zero
    let r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 16 }, auth(k.secret));
    assert.equal(r.status, 200, r.text);
    // 10^15 tokens at $10/1M: far beyond any budget (and beyond int64 pico-dollars): refused,
    // as over budget or as an invalid max_tokens, but never admitted
    r = await postFresh(
      chatURL,
      { model: 'gpt-4o', messages, max_tokens: 1000000000000000 },
      auth(k.secret),
    ).catch((e) => ({ status: `socket error: ${e.message}` }));
    assert.ok([400, 429].includes(r.status), `huge max_tokens on a budgeted key: ${r.status} ${r.text ?? ''}`);
    if (r.status === 400) assertOpenAIError(r.json, { type: 'invalid_request_error', param: 'max_tokens' });
    else assertOpenAIError(r.json, { code: 'insufficient_quota' });
    // the largest worst case a valid request can ask for is refused by the budget
    r = await postFresh(
      chatURL,
      { model: 'gpt-4o', messages, max_tokens: 100000000, n: 128 },
      auth(k.secret),
    ).catch((e) => ({ status: `socket error: ${e.message}` }));
    assert.ok([400, 429].includes(r.status), `max_tokens 1e8 x n 128: ${r.status} ${r.text ?? ''}`);
    if (r.status === 429) assertOpenAIError(r.json, { code: 'insufficient_quota' });
    // and the worker is still there
    r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 16 }, auth(k.secret));
    assert.equal(r.status, 200, r.text);
  });

  it('a max_tokens beyond int64 is refused or bounded, never wraps the tpm window or kills a worker', async () => {
    const k = await createKey(gw, { tenant: 'tpm-big', tpm: 1000 });
    let r = await postFresh(
      chatURL,
      '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}],"max_tokens":9999999999999999999}',
      auth(k.secret),
    ).catch((e) => ({ status: `socket error: ${e.message}` }));
    assert.ok([400, 429].includes(r.status), `19-digit max_tokens: ${r.status} ${r.text ?? ''}`);
    // the window was not pushed negative: a normal request sees at most the limit
    r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 16 }, auth(k.secret));
    assert.equal(r.status, 200, r.text);
    const rem = Number(r.headers['x-ratelimit-remaining-tokens']);
    assert.ok(rem >= 0 && rem <= 1000, `remaining tokens ${rem} within [0, tpm]`);
  });

  it('a revoked key gets 401; a disabled tenant gets 403 tenant_disabled', async () => {
    const k = await createKey(gw, { tenant: 'states' });
    const body = { model: 'gpt-4o', messages, max_tokens: 5 };
    assert.equal((await postFresh(chatURL, body, auth(k.secret))).status, 200);

    await admin(gw, { cmd: 'tenants.set', name: 'states', disabled: true });
    let r = await postFresh(chatURL, body, auth(k.secret));
    assert.equal(r.status, 403, r.text);
    assertOpenAIError(r.json, { type: 'permission_error', code: 'tenant_disabled' });
    await admin(gw, { cmd: 'tenants.set', name: 'states', disabled: false });
    assert.equal((await postFresh(chatURL, body, auth(k.secret))).status, 200);

    const rev = await admin(gw, { cmd: 'keys.revoke', id: k.id });
    assert.equal(rev.key.status, 'revoked');
    r = await postFresh(chatURL, body, auth(k.secret));
    assert.equal(r.status, 401, r.text);
    const e = assertOpenAIError(r.json, { code: 'invalid_api_key' });
    assert.ok(!e.message.includes(k.secret.slice(-32)), 'the secret is not echoed');
    // the SDK sees AuthenticationError
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: k.secret, maxRetries: 0 });
    const err = await client.chat.completions.create(body).then(
      () => assert.fail('expected AuthenticationError'),
      (x) => x,
    );
    assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err}`);
  });

  it('kill -9 of a worker holding 4 in-flight requests (concurrency=4) releases them after respawn', async () => {
    const k = await createKey(gw, { tenant: 'kill', concurrency: 4 });
    const slow = {
      model: 'gpt-4o',
      messages,
      max_tokens: 400,
      stream: true,
      sim: { tokens: 400, tps: 4 }, // ~100 s: still running when the worker dies
    };
    // gather 4 admitted streams on one worker (streams landing on the other are dropped again)
    const held = [];
    let target = null;
    let issued = 0; // every request but the 4 killed ones must be settled exactly once
    for (let tries = 0; held.length < 4 && tries < 80; tries++) {
      issued++;
      const s = await openStream(chatURL, slow, auth(k.secret));
      if (s.status !== 200) {
        s.close(); // a dropped stream not yet settled: try again in a moment
        await sleep(50);
        continue;
      }
      const owner = await waitFor(async () => (await connOwners(gw.port)).get(s.localPort), {
        timeout: 2000,
        interval: 20,
        what: 'the worker owning a stream',
      });
      target ??= owner;
      if (owner === target) held.push(s);
      else s.close();
    }
    assert.equal(held.length, 4, 'four streams held by one worker');
    // the limit is reached: a fifth is refused
    await sleep(300); // let the dropped ones settle
    issued++;
    const r = await postFresh(chatURL, { model: 'gpt-4o', messages, max_tokens: 5 }, auth(k.secret));
    assert.equal(r.status, 429, r.text);

    const before = await workerPids(gw);
    assert.ok(before.includes(target));
    process.kill(target, 'SIGKILL');
    for (const s of held) {
      const { error } = await s.done;
      assert.ok(error, 'a stream of the killed worker ends incomplete');
    }
    await waitWorkers(gw, 2, [target]);

    // four may run at once again (poll: the master releases them when it reaps the worker)
    await waitFor(
      async () => {
        issued += 4;
        const again = await Promise.all(
          [0, 1, 2, 3].map(() =>
            openStream(chatURL, { ...slow, sim: { tokens: 3, ttft_ms: 300 } }, auth(k.secret)),
          ),
        );
        await Promise.all(again.map((s) => s.done));
        return again.every((s) => s.status === 200);
      },
      { timeout: 5000, interval: 200, what: '4 concurrent requests admitted after the respawn' },
    );
    assert.match(gw.readErrorLog(), /released 4 in-flight reservations/);
    // the killed requests were never answered, so they are not metered; all others once
    const row = (await usage(gw, 'key')).get(k.id) ?? ZERO_ROW;
    assert.equal(row.requests, issued - 4);
  });
});
