// Metering, end to end: the real gateway (2 workers, an LMDB store, auth: keys) in front of
// tollgate-sim. What must hold (docs/storage.md): every proxied request is settled exactly once
// into the per-minute usage rollups, with the provider's reported usage and its exact cost (or
// an estimate, marked as such, when the provider reported none); requests cut off by a dead
// worker are not metered; the store survives restarts and crashes; and a key's secret never
// leaks into logs, the store, the upstream or admin replies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import {
  startSim,
  defaultModels,
  sleep,
  waitFor,
  postJson,
  sseData,
  costUsd,
  pidAlive,
  storeFileText,
} from './lib/harness.mjs';
import {
  admin,
  adminCall,
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
  formatUsd,
  simChatPromptTokens,
} from './lib/meterkit.mjs';

const MODELS = defaultModels();
const PRICE = {
  'gpt-4o': MODELS['gpt-4o'].price,
  'deepseek-chat': MODELS['deepseek-chat'].price,
  'text-embedding-3-small': MODELS['text-embedding-3-small'].price,
};
const COUNTERS = [
  'requests',
  'errors',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'estimated',
  'fallbacks',
  'cost_pico',
];

/** after - before, counter by counter (rows may be missing: zero). */
function delta(afterRow, beforeRow) {
  const out = {};
  for (const c of COUNTERS) out[c] = (afterRow?.[c] ?? 0) - (beforeRow?.[c] ?? 0);
  return out;
}

/** Only the counters of a row. */
function counters(row) {
  return delta(row, undefined);
}

/** Sum of expected usages into a row. */
function expectRow(items) {
  const row = { ...ZERO_ROW };
  for (const it of items) {
    row.requests += 1;
    row.errors += it.error ? 1 : 0;
    row.prompt_tokens += it.prompt_tokens;
    row.completion_tokens += it.completion_tokens;
    row.cached_tokens += it.cached_tokens ?? 0;
    row.estimated += it.estimated ? 1 : 0;
    row.cost_pico += Number(costPico(PRICE[it.model], it));
  }
  return row;
}

describe('metering', () => {
  let sim, gw, chatURL;
  const auth = (secret) => ({ headers: { authorization: `Bearer ${secret}` } });
  const gwOpts = () => ({ simPort: sim.port, workers: 2, log: { level: 'debug' } });

  before(async () => {
    sim = await startSim();
    gw = await startKeyedGateway(gwOpts());
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

  it('usage rollups by key/tenant/model/provider/route/task equal what the sim reported, to the pico-dollar', async () => {
    const before = {};
    for (const by of ['model', 'provider', 'route']) before[by] = await usage(gw, by);
    const kA = await createKey(gw, { tenant: 'mix-a', task: 'support' });
    const kB = await createKey(gw, { tenant: 'mix-b', task: 'search' });
    const A = new OpenAI({ baseURL: gw.baseURL, apiKey: kA.secret, maxRetries: 0 });
    const B = new OpenAI({ baseURL: gw.baseURL, apiKey: kB.secret, maxRetries: 0 });
    const expA = [];
    const expB = [];

    // A1: non-stream chat
    {
      const { data, response } = await A.chat.completions
        .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] })
        .withResponse();
      assert.deepEqual(
        [data.usage.prompt_tokens, data.usage.completion_tokens],
        [10, 16],
        'the sim rule: 3 + (ceil(9/4) + 4) prompt tokens, 16 completion tokens',
      );
      assert.equal(response.headers.get('x-tollgate-cost-usd'), costUsd(PRICE['gpt-4o'], data.usage));
      expA.push({ model: 'gpt-4o', ...data.usage });
    }
    // A2: stream with include_usage
    {
      const stream = await A.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Tell me a story' }],
        max_tokens: 30,
        stream: true,
        stream_options: { include_usage: true },
        sim: { tokens: 12 },
      });
      let u = null;
      for await (const chunk of stream) if (chunk.usage) u = chunk.usage;
      assert.ok(u, 'the usage chunk reached the client');
      assert.equal(u.completion_tokens, 12);
      expA.push({ model: 'gpt-4o', ...u });
    }
    // A3: stream without include_usage (the gateway asks for usage upstream, keeps it to itself)
    {
      const msgs = [{ role: 'user', content: 'Count to seven' }];
      const stream = await A.chat.completions.create({
        model: 'deepseek-chat',
        messages: msgs,
        stream: true,
        sim: { tokens: 7 },
      });
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        assert.ok(!chunk.usage, `no usage for a client that did not ask: ${JSON.stringify(chunk)}`);
      }
      assert.ok(chunks >= 8);
      expA.push({
        model: 'deepseek-chat',
        prompt_tokens: simChatPromptTokens(msgs),
        completion_tokens: 7,
      });
    }
    // A4: stream_options.include_usage false, explicitly: metered from the provider all the same
    {
      const msgs = [{ role: 'user', content: 'No usage for me' }];
      const r = await postJson(
        chatURL,
        { model: 'gpt-4o', messages: msgs, stream: true, stream_options: { include_usage: false }, sim: { tokens: 6 } },
        auth(kA.secret),
      );
      assert.equal(r.status, 200);
      const events = sseData(r.text);
      assert.equal(events.at(-1), '[DONE]');
      for (const ev of events.slice(0, -1)) assert.ok(!JSON.parse(ev).usage, `no usage chunk: ${ev}`);
      expA.push({ model: 'gpt-4o', prompt_tokens: simChatPromptTokens(msgs), completion_tokens: 6 });
    }
    // B1: embeddings (the SDK asks for base64)
    {
      const { data } = await B.embeddings
        .create({ model: 'text-embedding-3-small', input: ['alpha beta', 'gamma'] })
        .withResponse();
      assert.equal(data.usage.prompt_tokens, 5); // ceil(10/4) + ceil(5/4)
      expB.push({ model: 'text-embedding-3-small', prompt_tokens: 5, completion_tokens: 0 });
    }
    // B2: non-stream chat with cached prompt tokens (billed at the cached price)
    {
      const r = await postJson(
        chatURL,
        {
          model: 'deepseek-chat',
          messages: [{ role: 'user', content: 'A rather longer question about caching prompts' }],
          sim: { cached: 8, tokens: 21 },
        },
        auth(kB.secret),
      );
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.usage.prompt_tokens_details.cached_tokens, 8);
      assert.equal(r.headers.get('x-tollgate-cost-usd'), costUsd(PRICE['deepseek-chat'], r.json.usage));
      expB.push({
        model: 'deepseek-chat',
        prompt_tokens: r.json.usage.prompt_tokens,
        completion_tokens: r.json.usage.completion_tokens,
        cached_tokens: 8,
      });
    }
    // B3: legacy completions, streamed with include_usage
    {
      const stream = await B.completions.create({
        model: 'gpt-4o',
        prompt: 'Once upon a time',
        max_tokens: 9,
        stream: true,
        stream_options: { include_usage: true },
      });
      let u = null;
      for await (const chunk of stream) if (chunk.usage) u = chunk.usage;
      assert.deepEqual([u.prompt_tokens, u.completion_tokens], [4, 9]);
      expB.push({ model: 'gpt-4o', ...u });
    }

    const byKey = await usage(gw, 'key');
    assert.deepEqual(counters(byKey.get(kA.id)), expectRow(expA), 'key A');
    assert.deepEqual(counters(byKey.get(kB.id)), expectRow(expB), 'key B');
    for (const k of [kA, kB]) {
      const row = byKey.get(k.id);
      assert.equal(row.cost_usd, formatUsd(row.cost_pico), 'cost_usd is cost_pico formatted');
    }
    const byTenant = await usage(gw, 'tenant');
    assert.deepEqual(counters(byTenant.get('mix-a')), expectRow(expA), 'tenant mix-a');
    assert.deepEqual(counters(byTenant.get('mix-b')), expectRow(expB), 'tenant mix-b');
    const byTask = await usage(gw, 'task');
    assert.deepEqual(counters(byTask.get('support')), expectRow(expA), 'task support');
    assert.deepEqual(counters(byTask.get('search')), expectRow(expB), 'task search');

    const all = [...expA, ...expB];
    for (const by of ['model', 'route']) {
      const rows = await usage(gw, by);
      for (const m of Object.keys(PRICE)) {
        assert.deepEqual(
          delta(rows.get(m), before[by].get(m)),
          expectRow(all.filter((x) => x.model === m)),
          `by ${by}: ${m}`,
        );
      }
    }
    const prov = await usage(gw, 'provider');
    assert.deepEqual(delta(prov.get('sim'), before.provider.get('sim')), expectRow(all), 'provider sim');

    // the time range is honoured: nothing before this file started
    const old = await admin(gw, { cmd: 'usage', by: 'key', since: 1000000000, until: 1000000600 });
    assert.deepEqual(old.rows, []);
    // a bad grouping is an error, not an empty answer
    const bad = await adminCall(gw.adminSocket, { cmd: 'usage', by: 'colour' });
    assert.equal(bad.ok, false);
  });

  it('a client abort mid-stream is settled once, estimated, and frees the concurrency slot', async () => {
    const k = await createKey(gw, { tenant: 'abort', concurrency: 1 });
    const body = {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Write a long poem' }],
      max_tokens: 200,
      stream: true,
      sim: { tokens: 200, tps: 20 }, // ~10 s
    };
    const ac = new AbortController();
    const res = await fetch(chatURL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${k.secret}` },
      body: JSON.stringify(body),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id');
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    while (sseData(text).length < 4) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'the stream goes on');
      text += dec.decode(value, { stream: true });
    }
    ac.abort();
    await reader.closed.catch(() => {});

    // the slot comes back as soon as the gateway notices (a 429 until then, metered as one)
    const t0 = Date.now();
    let refusals = 0;
    for (;;) {
      const r = await postFresh(chatURL, { model: 'gpt-4o', messages: body.messages, max_tokens: 5 }, auth(k.secret));
      if (r.status === 200) break;
      assert.equal(r.status, 429, r.text);
      refusals++;
      assert.ok(Date.now() - t0 < 2000, 'the concurrency slot is free again within 2 s');
      await sleep(50);
    }
    // the upstream call was cancelled too
    await waitFor(async () => (await sim.stats()).active_streams === 0, {
      timeout: 3000,
      what: 'the sim stream to be cancelled',
    });

    const row = (await usage(gw, 'key')).get(k.id);
    assert.equal(row.requests, 1 + refusals + 1, 'the aborted stream counts once');
    assert.equal(row.errors, refusals);
    assert.equal(row.estimated, 1, 'only the aborted stream is estimated');
    await sleep(200);
    const lines = gw.readAccessLog().filter((l) => l.request_id === requestId);
    assert.equal(lines.length, 1, 'one access-log line for the aborted request');
    const l = lines[0];
    assert.equal(l.usage_estimated, true);
    assert.equal(l.error, 'client_closed');
    assert.equal(l.prompt_tokens, Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4));
    assert.ok(l.completion_tokens >= 1 && l.completion_tokens <= body.max_tokens, `${l.completion_tokens}`);
    assert.equal(l.cost_usd, formatUsd(costPico(PRICE['gpt-4o'], l)));
    // the rollup holds the aborted one plus the follow-up's reported prompt and 5 tokens
    assert.equal(row.prompt_tokens, l.prompt_tokens + simChatPromptTokens(body.messages));
    assert.equal(row.completion_tokens, l.completion_tokens + 5);
  });

  it('an upstream 500 is a metered error with zero cost; a gateway 429 is an error with zero tokens, not estimated', async () => {
    const k = await createKey(gw, { tenant: 'errs' });
    let r = await postFresh(
      chatURL,
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'fail please' }], sim: { status: 500 } },
      auth(k.secret),
    );
    assert.ok(r.status >= 500, `upstream 500 answers 5xx: ${r.status}`);
    // and as a stream request
    r = await postFresh(
      chatURL,
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'fail please' }], stream: true, sim: { status: 500 } },
      auth(k.secret),
    );
    assert.ok(r.status >= 500, `${r.status}`);
    // a provider nobody listens on
    r = await postFresh(chatURL, { model: 'broken-model', messages: [{ role: 'user', content: 'x' }] }, auth(k.secret));
    assert.equal(r.status, 502, r.text);
    let row = (await usage(gw, 'key')).get(k.id);
    assert.deepEqual(counters(row), { ...ZERO_ROW, requests: 3, errors: 3 });

    await minuteRoom(5000);
    const lim = await createKey(gw, { tenant: 'errs', rpm: 1 });
    r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(lim.secret));
    assert.equal(r.status, 200);
    r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(lim.secret));
    assert.equal(r.status, 429);
    row = (await usage(gw, 'key')).get(lim.id);
    assert.deepEqual(counters(row), {
      ...ZERO_ROW,
      requests: 2,
      errors: 1,
      prompt_tokens: 10,
      completion_tokens: 16,
      cost_pico: Number(costPico(PRICE['gpt-4o'], { prompt_tokens: 10, completion_tokens: 16 })),
    });
  });

  it('a stream cut by the provider before its usage chunk is metered as estimated', async () => {
    const k = await createKey(gw, { tenant: 'cut' });
    const r = await postFresh(
      chatURL,
      {
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Say hello' }],
        max_tokens: 50,
        stream: true,
        sim: { tokens: 30, reset_after: 5 },
      },
      auth(k.secret),
    ).catch((e) => ({ status: 'cut', error: e }));
    assert.ok(r.status === 200 || r.status === 'cut', `${r.status}`);
    const row = (await usage(gw, 'key')).get(k.id);
    assert.equal(row.requests, 1);
    assert.equal(row.estimated, 1);
    assert.ok(row.completion_tokens > 0 && row.completion_tokens <= 50);
  });

  it('kill -9 of a worker under load: only answered requests are metered, and the store stays sound', async (t) => {
    const k = await createKey(gw, { tenant: 'load' });
    const N = 100;
    const C = 8;
    const bodies = [
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'load' }], max_tokens: 20, sim: { latency_ms: 120 } },
      {
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'load stream' }],
        max_tokens: 20,
        stream: true,
        sim: { tokens: 12, ttft_ms: 60, tps: 100 },
      },
    ];
    let next = 0;
    let finished = 0;
    const outcome = { ok: 0, err: 0, cut: 0 };
    const okByBody = [0, 0];
    let killed = null;
    const killer = (async () => {
      await waitFor(() => finished >= 30, { timeout: 30000, interval: 5, what: '30 requests done' });
      // a worker that holds connections right now
      const owners = [...(await connOwners(gw.port)).values()];
      const pids = await workerPids(gw);
      killed = owners.find((p) => pids.includes(p)) ?? pids[0];
      process.kill(killed, 'SIGKILL');
    })();
    const runner = async () => {
      while (next < N) {
        const i = next++;
        const body = bodies[i % 2];
        try {
          const r = await postFresh(chatURL, body, auth(k.secret));
          const whole = r.status !== 200 || !body.stream || sseData(r.text).at(-1) === '[DONE]';
          if (r.status === 200 && whole) {
            outcome.ok++;
            okByBody[i % 2]++;
          }
          else if (r.status === 200) outcome.cut++; // a stream the kill cut short
          else outcome.err++;
        } catch {
          outcome.cut++;
        }
        finished++;
      }
    };
    await Promise.all(Array.from({ length: C }, runner));
    await killer;
    assert.equal(outcome.ok + outcome.err + outcome.cut, N);
    assert.ok(outcome.cut >= 1, `the kill cut some requests off: ${JSON.stringify(outcome)}`);
    await waitWorkers(gw, 2, [killed]);
    t.diagnostic(`outcomes: ${JSON.stringify(outcome)}`);

    const row = (await usage(gw, 'key')).get(k.id);
    assert.equal(
      row.requests,
      outcome.ok + outcome.err,
      `metered = answered (${JSON.stringify(outcome)}; rollup ${JSON.stringify(counters(row))})`,
    );
    // and exactly their usage, as the sim reports it (a cut-off request adds nothing)
    const per = bodies.map((b) => ({
      model: 'gpt-4o',
      prompt_tokens: simChatPromptTokens(b.messages),
      completion_tokens: b.stream ? b.sim.tokens : 16,
    }));
    const expected = expectRow([
      ...Array(okByBody[0]).fill(per[0]),
      ...Array(okByBody[1]).fill(per[1]),
    ]);
    expected.requests += outcome.err;
    expected.errors += outcome.err;
    assert.deepEqual(counters(row), expected);
    // the store is sound: new requests are served and metered, usage answers for every grouping
    const r = await postFresh(chatURL, bodies[0], auth(k.secret));
    assert.equal(r.status, 200, r.text);
    const after = (await usage(gw, 'key')).get(k.id);
    assert.equal(after.requests, row.requests + 1);
    for (const by of ['tenant', 'model', 'provider', 'route', 'task']) await usage(gw, by);
    const released = [...gw.readErrorLog().matchAll(/released (\d+) in-flight reservations of worker/g)];
    const n = released.reduce((s, m) => s + Number(m[1]), 0);
    assert.ok(n <= outcome.cut, `released ${n} reservations, ${outcome.cut} requests cut off`);
  });

  it('usage and rate-limit windows survive a gateway restart (SIGTERM, then a new master on the same store)', async () => {
    await minuteRoom(15000);
    const k = await createKey(gw, { tenant: 'restart', rpm: 2 });
    let r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(k.secret));
    assert.equal(r.status, 200);
    const snap = {};
    for (const by of ['key', 'tenant', 'model', 'provider']) snap[by] = (await usage(gw, by)).raw;
    const dir = gw.dir;
    await gw.stop();
    gw.checkSanitizers();
    gw = await startKeyedGateway({ ...gwOpts(), dir });
    chatURL = `${gw.baseURL}/chat/completions`;
    for (const by of ['key', 'tenant', 'model', 'provider']) {
      const now = await usage(gw, by);
      const was = JSON.parse(snap[by]).rows;
      assert.deepEqual([...now.values()].map((x) => ({ ...x })), was, `usage by ${by} after restart`);
    }
    // the key (control store, pepper) still works, and metering goes on from there
    r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(k.secret));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ratelimit-remaining-requests'], '0', 'the minute window was kept');
    r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(k.secret));
    assert.equal(r.status, 429, 'rpm=2 still holds across the restart');
    const row = (await usage(gw, 'key')).get(k.id);
    assert.equal(row.requests, 3);
    assert.equal(row.errors, 1);
  });

  it('a crash of every process loses no settled usage, and in-flight reservations are released at the next start', async () => {
    const k = await createKey(gw, { tenant: 'crash', concurrency: 1 });
    let r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(k.secret));
    assert.equal(r.status, 200);
    const s = await openStream(
      chatURL,
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }], stream: true, sim: { tokens: 300, tps: 5 } },
      auth(k.secret),
    );
    assert.equal(s.status, 200);
    r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, auth(k.secret));
    assert.equal(r.status, 429, 'the stream holds the only slot');
    const snap = (await usage(gw, 'key')).raw;
    const pids = [gw.pid, ...(await workerPids(gw))];
    for (const p of pids) process.kill(p, 'SIGKILL');
    await waitFor(() => pids.every((p) => !pidAlive(p)), { what: 'every process gone' });
    await s.done;
    await gw.stop();
    const dir = gw.dir;
    gw = await startKeyedGateway({ ...gwOpts(), dir });
    chatURL = `${gw.baseURL}/chat/completions`;
    assert.deepEqual(
      [...(await usage(gw, 'key')).values()].map((x) => ({ ...x })),
      JSON.parse(snap).rows,
      'settled usage survived the crash (the in-flight stream was never answered: not metered)',
    );
    assert.match(gw.readErrorLog(), /released in-flight reservations left by a previous run/);
    r = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, auth(k.secret));
    assert.equal(r.status, 200, `the dead stream's slot is free: ${r.text}`);
  });

  it("canary: a key's secret never appears in logs, the store, the upstream or admin replies (but the create reply)", async () => {
    await minuteRoom(8000);
    const created = await adminCall(gw.adminSocket, { cmd: 'keys.create', tenant: 'canary', name: 'canary-key' });
    assert.equal(created.ok, true);
    const secret = created.secret;
    const id = created.key.id;
    const secretPart = secret.slice(`tg_${id}_`.length);
    assert.ok(created._raw.includes(secret), 'the create reply carries the secret');
    assert.ok(secretPart.length >= 32);
    const replies = [];
    const call = async (obj) => {
      const r = await adminCall(gw.adminSocket, obj);
      replies.push(r._raw);
      return r;
    };

    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: secret, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const st = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    for await (const _ of st); // eslint-disable-line no-unused-vars
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    // failures of every kind
    await postFresh(chatURL, '{"model":', auth(secret));
    await postFresh(chatURL, { model: 'no-such-model', messages: [] }, auth(secret));
    await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], sim: { status: 500 } }, auth(secret));
    await postFresh(chatURL, { model: 'broken-model', messages: [{ role: 'user', content: 'x' }] }, auth(secret));
    await postFresh(chatURL, { model: 'gpt-4o', messages: [] }, auth(secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A')));
    await postFresh(chatURL, { model: 'gpt-4o', messages: [] }, { headers: { authorization: secret } }); // no "Bearer"
    await call({ cmd: 'keys.set', id, rpm: 1 });
    await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, auth(secret));
    const limited = await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, auth(secret));
    assert.equal(limited.status, 429);
    await call({ cmd: 'keys.set', id, rpm: 0 });
    const s = await openStream(
      chatURL,
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], stream: true, sim: { tokens: 50, tps: 20 } },
      auth(secret),
    );
    s.close();
    // admin: everything that shows keys, usage or the audit trail
    const rot = await call({ cmd: 'keys.rotate', id, grace_seconds: 60 });
    assert.equal(rot.ok, true);
    assert.ok(rot.secret && rot.secret !== secret, 'rotation gives a new secret');
    replies.pop(); // the rotate reply carries the new secret by design; checked below for the old one
    assert.ok(!rot._raw.includes(secretPart), 'the rotate reply does not carry the old secret');
    assert.equal((await postFresh(chatURL, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, auth(secret))).status, 200, 'old secret works in grace');
    await call({ cmd: 'keys.list' });
    await call({ cmd: 'keys.list', tenant: 'canary' });
    await call({ cmd: 'keys.show', id });
    await call({ cmd: 'keys.show', id: secret }); // people paste whole keys
    await call({ cmd: 'tenants.list' });
    await call({ cmd: 'tenants.show', name: 'canary' });
    for (const by of ['key', 'tenant', 'model', 'provider', 'route', 'task']) await call({ cmd: 'usage', by });
    await call({ cmd: 'audit.tail', n: 50 });
    await call({ cmd: 'audit.export' });
    await call({ cmd: 'audit.verify' });
    await call({ cmd: 'status' });
    await call({ cmd: 'workers' });
    await call({ cmd: 'keys.revoke', id });
    const rev = await postFresh(chatURL, { model: 'gpt-4o', messages: [] }, auth(secret));
    assert.equal(rev.status, 401);
    assert.ok(!rev.text.includes(secretPart), 'the 401 does not echo the secret');
    await call({ cmd: secret }); // a secret pasted as a command: may be echoed back to its sender,
    replies.pop(); // but must not reach the logs (checked below)
    await call({ cmd: 'keys.show', id: `tg_${id}_${secretPart}` });

    await sleep(300); // access-log buffers are written at the end of a loop turn
    // any sizeable piece of a secret counts (a mistyped key differs from the real one in one char)
    const secrets = [secretPart, rot.secret.slice(`tg_${id}_`.length)].flatMap((x) => [
      x.slice(0, 16),
      x.slice(-16),
    ]);
    const where = {
      'error log': gw.readErrorLog(),
      'access log': fs.readFileSync(gw.accessLog, 'utf8'),
      'gateway stderr': gw.stderr(),
      'admin replies': replies.join('\n'),
      'sim requests': JSON.stringify((await sim.stats()).last),
    };
    // the store keeps only HMACs: no file under the store holds a secret's bytes
    const walk = (d) =>
      fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)],
      );
    for (const f of walk(path.join(gw.dir, 'data'))) where[`store file ${f}`] = storeFileText(f);
    for (const [name, text] of Object.entries(where)) {
      for (const sec of secrets) {
        const at = text.indexOf(sec);
        assert.ok(at === -1, `a secret appears in the ${name}: ...${text.slice(Math.max(0, at - 80), at + 40)}...`);
      }
    }
    assert.ok(where['access log'].includes(id), 'the key id (public) is logged');
  });
});
