// Process lifecycle of the real daemon: command-line checks, configuration errors pointing at
// file:line:col, a worker killed under load being replaced, reloads that are all-or-nothing,
// graceful drain on TERM, cancellation when a client leaves, and the tollgatectl admin CLI.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  BIN,
  SOURCE_DIR,
  run,
  startSim,
  startGateway,
  postJson,
  sseData,
  tempDir,
  waitFor,
  waitExit,
  sleep,
  pidAlive,
} from './lib/harness.mjs';
import { connect, request } from './lib/rawhttp.mjs';

const UPSTREAM = 'gpt-4o-2024-08-06';
const msg = (content) => [{ role: 'user', content }];

/** Fire total chat requests, concurrency at a time; returns one record per request. */
async function loadLoop(baseURL, { total, concurrency, onDone, extra = {} }) {
  const results = [];
  let next = 0;
  async function lane() {
    while (next < total) {
      const i = next++;
      const rec = { i, start: Date.now() };
      try {
        const r = await postJson(
          `${baseURL}/chat/completions`,
          { model: 'gpt-4o', messages: msg(`load ${i}`), ...extra },
          { timeout: 15000 },
        );
        rec.status = r.status;
        rec.ok = r.status === 200 && typeof r.json?.choices?.[0]?.message?.content === 'string';
        if (!rec.ok) rec.error = r.text.slice(0, 200);
      } catch (e) {
        rec.ok = false;
        rec.error = String(e.cause?.code ?? e.message);
      }
      rec.end = Date.now();
      results.push(rec);
      onDone?.(rec, results.length);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return results.sort((a, b) => a.i - b.i);
}

function ppidOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('command line', () => {
  let dir;
  before(() => {
    dir = tempDir('tg-cli-');
  });

  const write = (name, lines) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, lines.join('\n') + '\n');
    return f;
  };

  it('tollgate -V prints the project version and exits 0', async () => {
    const cmake = fs.readFileSync(path.join(SOURCE_DIR, 'CMakeLists.txt'), 'utf8');
    const version = /project\(tollgate VERSION (\S+)/.exec(cmake)[1];
    const r = await run(BIN.tollgate, ['-V']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), `tollgate ${version}`);
  });

  it('tollgate -t -c GOOD exits 0 and says the test is successful', async () => {
    const f = write('good.yaml', [
      'listen: [127.0.0.1:8999]',
      'workers: 1',
      'providers:',
      '  sim: {kind: openai, base_url: "http://127.0.0.1:9/v1"}',
      'models:',
      '  m1: {provider: sim, price: {input: 1, output: 1}}',
      '  m2: {provider: sim, upstream_model: x, price: {input: 0.5, output: 2, cached_input: 0.1}}',
    ]);
    const r = await run(BIN.tollgate, ['-t', '-c', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /test is successful/);
    assert.match(r.stdout, /1 providers, 2 models/);
  });

  it('tollgate -t on an unknown key exits 1 with FILE:LINE:COL: reason', async () => {
    const f = write('unknown-key.yaml', [
      'listen: [127.0.0.1:8999]', // 1
      'workers: 1', // 2
      'http:', // 3
      '  max_body_size: 8m', // 4
      '  max_body_sise: 8m', // 5: the typo, column 3
      'providers:',
      '  sim: {kind: openai, base_url: "http://127.0.0.1:9/v1"}',
      'models:',
      '  m1: {provider: sim, price: {input: 1, output: 1}}',
    ]);
    const r = await run(BIN.tollgate, ['-t', '-c', f]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr.includes(`${f}:5:3: unknown key "max_body_sise" in http`),
      `stderr: ${r.stderr}`,
    );
  });

  it('tollgate -t on a model naming an undefined provider points at the provider value', async () => {
    const f = write('undefined-provider.yaml', [
      'listen: [127.0.0.1:8999]', // 1
      'providers:', // 2
      '  sim: {kind: openai, base_url: "http://127.0.0.1:9/v1"}', // 3
      'models:', // 4
      '  good: {provider: sim, price: {input: 1, output: 1}}', // 5
      '  bad:', // 6
      '    provider: nosuch', // 7: value at column 15
      '    price: {input: 1, output: 1}', // 8
    ]);
    const r = await run(BIN.tollgate, ['-t', '-c', f]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${f}:7:15: `), `stderr: ${r.stderr}`);
    assert.match(r.stderr, /nosuch/);
    assert.match(r.stderr, /not defined/);
  });

  it('tollgate -t names the included file, line and column of an error inside an include', async () => {
    const inc = write('inc-models.yaml', [
      'models:', // 1
      '  m1:', // 2
      '    provider: sim', // 3
      '    price: {input: 1, output: 1}', // 4
      '    colour: blue', // 5: unknown key at column 5
    ]);
    const f = write('with-include.yaml', [
      'include: [inc-models.yaml]',
      'listen: [127.0.0.1:8999]',
      'providers:',
      '  sim: {kind: openai, base_url: "http://127.0.0.1:9/v1"}',
    ]);
    const r = await run(BIN.tollgate, ['-t', '-c', f]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${inc}:5:5: unknown key "colour"`), `stderr: ${r.stderr}`);
  });

  it('tollgate -t rejects YAML syntax errors, a literal api_key and an unknown top-level key with a position', async () => {
    const cases = [
      [
        'syntax.yaml',
        ['listen: [127.0.0.1:8999]', 'providers:', '  sim: {kind: openai, base_url: "http://x/v1"'],
        /:\d+:\d+: /,
      ],
      [
        'literal-key.yaml',
        [
          'listen: [127.0.0.1:8999]',
          'providers:',
          '  sim: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-literal-secret}',
          'models:',
          '  m1: {provider: sim, price: {input: 1, output: 1}}',
        ],
        /:3:\d+: api_key must reference the environment/,
      ],
      ['toplevel.yaml', ['listn: [127.0.0.1:8999]'], /:1:1: unknown key "listn"/],
    ];
    for (const [name, lines, re] of cases) {
      const f = write(name, lines);
      const r = await run(BIN.tollgate, ['-t', '-c', f]);
      assert.equal(r.code, 1, `${name}: exit code`);
      assert.ok(r.stderr.includes(`${f}:`), `${name}: names the file: ${r.stderr}`);
      assert.match(r.stderr, re, name);
      assert.ok(!r.stderr.includes('sk-literal-secret'), `${name}: does not echo the secret`);
    }
  });

  it('tollgate -t on a missing file exits 1', async () => {
    const r = await run(BIN.tollgate, ['-t', '-c', path.join(dir, 'nope.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\.yaml/);
  });
});

describe('running gateway', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({ simPort: sim.port, workers: 2 });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  it('the admin socket is a socket of mode 0600', () => {
    const st = fs.statSync(gw.adminSocket);
    assert.ok(st.isSocket(), 'is a unix socket');
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('tollgatectl status and workers work as tables and as --json', async () => {
    const status = await gw.status();
    assert.equal(status.ok, true);
    assert.equal(status.pid, gw.pid);
    assert.equal(status.config, gw.configPath);
    assert.equal(status.generation, 1);
    assert.equal(status.models, 4);
    assert.equal(status.providers, 2);
    const sha = crypto.createHash('sha256').update(fs.readFileSync(gw.configPath)).digest('hex');
    assert.equal(status.config_sha256, sha, 'sha256 of the configuration file');

    const table = await gw.ctl(['status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^tollgate \\S+ \\(pid ${gw.pid}\\)`));
    assert.match(table.stdout, /generation:\s+1\b/);
    assert.ok(table.stdout.includes(sha), 'the table shows the checksum');

    const workers = await gw.workers();
    assert.equal(workers.length, 2);
    for (const w of workers) {
      assert.ok(w.pid > 0 && pidAlive(w.pid), `worker ${w.pid} is alive`);
      assert.equal(ppidOf(w.pid), gw.pid, 'a child of the master');
      assert.equal(w.generation, 1);
      assert.equal(w.restarts, 0);
    }
    const wt = await gw.ctl(['workers']);
    assert.equal(wt.code, 0, wt.stderr);
    const lines = wt.stdout.trim().split('\n');
    assert.match(lines[0], /SLOT\s+PID\s+RESTARTS\s+GENERATION\s+UPTIME/);
    assert.equal(lines.length, 3, 'a header and one row per worker');
    for (const w of workers) assert.ok(wt.stdout.includes(String(w.pid)), `table lists ${w.pid}`);

    const viaConfig = await run(BIN.ctl, ['-c', gw.configPath, '--json', 'status']);
    assert.equal(viaConfig.code, 0, viaConfig.stderr);
    assert.equal(JSON.parse(viaConfig.stdout).pid, gw.pid, 'finds the socket through -c');
  });

  it('tollgatectl fails clearly on a bad command or a dead socket', async () => {
    const bad = await gw.ctl(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command/);
    const dead = await run(BIN.ctl, ['-s', path.join(gw.dir, 'no.sock'), 'status']);
    assert.equal(dead.code, 1);
    assert.match(dead.stderr, /cannot connect/);
  });

  it('a worker killed with -9 under load is respawned and every request after that succeeds', async () => {
    const before = await gw.workers();
    const victim = before[0];
    let killedAt = 0;
    let respawnedAt = 0;
    let newPid = 0;
    const watcher = (async () => {
      await waitFor(() => killedAt, { timeout: 20000, what: 'the kill' });
      await waitFor(
        async () => {
          const ws = await gw.workers();
          const w = ws.find((x) => x.slot === victim.slot);
          if (w && w.pid > 0 && w.pid !== victim.pid && ws.every((x) => x.pid > 0)) {
            newPid = w.pid;
            return true;
          }
          return false;
        },
        { timeout: 10000, interval: 20, what: 'a replacement worker' },
      );
      respawnedAt = Date.now();
    })();
    const results = await loadLoop(gw.baseURL, {
      total: 200,
      concurrency: 8,
      extra: { sim: { latency_ms: 15 } },
      onDone: (rec, n) => {
        if (n === 40 && !killedAt) {
          process.kill(victim.pid, 'SIGKILL');
          killedAt = Date.now();
        }
      },
    });
    await watcher;
    assert.ok(killedAt && respawnedAt, 'the worker was killed and replaced');
    assert.ok(respawnedAt - killedAt < 3000, `replaced within 3s (${respawnedAt - killedAt} ms)`);
    assert.ok(!pidAlive(victim.pid), 'the old worker is gone');
    assert.ok(pidAlive(newPid), 'the new worker runs');

    const failed = results.filter((r) => !r.ok);
    const afterRespawn = results.filter((r) => r.start >= respawnedAt);
    assert.ok(afterRespawn.length > 0, 'some load ran after the respawn');
    assert.deepEqual(
      afterRespawn.filter((r) => !r.ok),
      [],
      'every request started after the respawn succeeded',
    );
    assert.ok(failed.length <= 16, `only requests in flight at the kill failed (${failed.length})`);
    for (const f of failed) assert.ok(f.start <= respawnedAt, `failure ${f.i} began before respawn`);

    // and a fresh burst is 100% ok
    const burst = await loadLoop(gw.baseURL, { total: 60, concurrency: 8 });
    assert.deepEqual(burst.filter((r) => !r.ok), [], 'all requests after the respawn succeed');

    const ws = await gw.workers();
    assert.equal(ws.find((w) => w.slot === victim.slot).restarts, 1);
    assert.match(gw.readErrorLog(), new RegExp(`pid ${victim.pid}\\) was killed by signal 9`));
  });

  it('HUP with a broken configuration logs file:line:col and the old configuration keeps serving', async () => {
    const good = fs.readFileSync(gw.configPath, 'utf8');
    const lines = good.split('\n').length; // the appended line's number
    fs.writeFileSync(gw.configPath, good + 'bogus_key: 1\n');
    const gen = (await gw.status()).generation;
    gw.reload();
    const logLine = await waitFor(
      () => gw.readErrorLog().split('\n').find((l) => /reload failed/.test(l)),
      { timeout: 5000, what: '"reload failed" in the error log' },
    );
    assert.ok(
      logLine.includes(`${gw.configPath}:${lines}:1: unknown key "bogus_key"`),
      `names file:line:col: ${logLine}`,
    );
    assert.ok(gw.alive(), 'the master is still running');
    assert.equal((await gw.status()).generation, gen, 'generation unchanged');
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages: msg('x') });
    assert.equal(r.status, 200, 'the old configuration still serves');

    // tollgatectl reload of the same broken file fails with the same position
    const ctl = await gw.ctl(['reload']);
    assert.notEqual(ctl.code, 0);
    assert.ok(ctl.stderr.includes(`${gw.configPath}:${lines}:1:`), `ctl: ${ctl.stderr}`);
    fs.writeFileSync(gw.configPath, good);
  });

  it('HUP with a good configuration adding a model: the new model answers and the generation grows', async () => {
    const gen = (await gw.status()).generation;
    const missing = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'fresh-model',
      messages: msg('x'),
    });
    assert.equal(missing.status, 404, 'not configured yet');

    gw.writeConfig({
      models: {
        ...(await import('./lib/harness.mjs')).defaultModels(),
        'fresh-model': { provider: 'sim', upstream_model: 'fresh-upstream', price: { input: 1, output: 2 } },
      },
    });
    gw.reload();
    await waitFor(
      async () => {
        const ws = await gw.workers();
        return ws.every((w) => w.generation === gen + 1);
      },
      { timeout: 5000, what: 'every worker on the new generation' },
    );
    const st = await gw.status();
    assert.equal(st.generation, gen + 1);
    assert.equal(st.models, 5);
    // every worker serves it: several fresh connections
    for (let i = 0; i < 8; i++) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, {
        model: 'fresh-model',
        messages: msg(`x${i}`),
      }, { headers: { connection: 'close' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-tollgate-model'), 'fresh-model');
    }
    assert.equal((await sim.lastRequest()).body.model, 'fresh-upstream');
    const list = await (await fetch(`${gw.baseURL}/models`)).json();
    assert.ok(list.data.some((m) => m.id === 'fresh-model'), '/v1/models lists it');

    const ctl = await gw.ctl(['--json', 'reload']);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.equal(JSON.parse(ctl.stdout).generation, gen + 2, 'tollgatectl reload bumps it again');
  });

  it('a client leaving mid-stream stops the upstream within a second and is logged once', async () => {
    await sim.reset();
    const id = 'leaves-mid-stream';
    const sock = net.connect(gw.port, '127.0.0.1');
    let received = '';
    sock.on('data', (d) => (received += d));
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write(
      request('POST', '/v1/chat/completions', {
        headers: { 'Content-Type': 'application/json', 'x-request-id': id },
        body: JSON.stringify({
          model: 'gpt-4o',
          messages: msg('a long story'),
          stream: true,
          sim: { tps: 10, tokens: 100 },
        }),
      }),
    );
    await waitFor(() => (received.match(/data: /g) ?? []).length >= 3, {
      timeout: 5000,
      what: 'the first chunks',
    });
    assert.equal((await sim.stats()).active_streams, 1, 'the stream is running upstream');
    sock.destroy();
    const t0 = Date.now();
    await waitFor(async () => (await sim.stats()).active_streams === 0, {
      timeout: 3000,
      interval: 25,
      what: 'the upstream stream to stop',
    });
    const took = Date.now() - t0;
    assert.ok(took < 1000, `upstream stopped within 1s (${took} ms)`);

    const entries = await waitFor(
      () => {
        const l = gw.readAccessLog().filter((e) => e.request_id === id);
        return l.length ? l : null;
      },
      { timeout: 3000, what: 'the access log line' },
    );
    await sleep(200);
    const all = gw.readAccessLog().filter((e) => e.request_id === id);
    assert.equal(all.length, 1, 'logged exactly once');
    const e = entries[0];
    assert.ok(e.status === 499 || e.error === 'client_closed', `499/client_closed: ${JSON.stringify(e)}`);
    assert.equal(e.stream, true);
    assert.ok(e.completion_tokens >= 1, 'what was generated is metered');
    assert.ok(e.completion_tokens < 100, 'but not the whole planned answer');
  });

  it('a client leaving during a non-stream call is logged as 499 and the upstream call is dropped', async () => {
    const id = 'leaves-while-waiting';
    const ac = new AbortController();
    const p = fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ model: 'gpt-4o', messages: msg('x'), sim: { latency_ms: 5000 } }),
      signal: ac.signal,
    }).catch((e) => e);
    await sleep(300);
    ac.abort();
    await p;
    const e = await waitFor(() => gw.readAccessLog().find((x) => x.request_id === id), {
      timeout: 3000,
      what: 'the access log line',
    });
    assert.equal(e.status, 499);
    assert.equal(e.error, 'client_closed');
  });

  it('tollgatectl drain stops the gateway: exit 0, no sanitizer report, pid file and socket removed', async () => {
    const pids = await gw.workerPids();
    const r = await gw.ctl(['drain']);
    assert.equal(r.code, 0, r.stderr);
    const res = await waitExit(gw.child, 20000);
    assert.ok(res, 'the master exited');
    assert.deepEqual(res, { code: 0, signal: null });
    for (const p of pids) {
      await waitFor(() => !pidAlive(p), { timeout: 5000, what: `worker ${p} to exit` });
    }
    assert.ok(!fs.existsSync(path.join(gw.dir, 'tollgate.pid')), 'pid file removed');
    assert.ok(!fs.existsSync(gw.adminSocket), 'admin socket removed');
    gw.checkSanitizers();
  });
});

describe('graceful shutdown', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({ simPort: sim.port, workers: 2, shutdownTimeout: '15s' });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  it('TERM during a slow stream: the client gets the whole stream and [DONE], then the master exits 0', async () => {
    const body = { model: 'gpt-4o', messages: msg('tell me slowly') };
    const ref = await postJson(`${sim.url}/v1/chat/completions`, {
      ...body,
      model: UPSTREAM,
      sim: { tokens: 40 },
    });
    assert.equal(ref.status, 200);

    // an idle keep-alive connection must not hold the drain up
    const idle = await connect(gw.port);
    idle.send(request('GET', '/healthz'));
    assert.equal((await idle.next()).status, 200);

    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true, sim: { tps: 20, tokens: 40 } }),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    const first = await reader.read();
    text += dec.decode(first.value, { stream: true });
    const t0 = Date.now();
    process.kill(gw.pid, 'SIGTERM');

    assert.equal(await idle.waitClose(2000), true, 'the idle connection is closed at once');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
    const streamEnd = Date.now();
    assert.ok(streamEnd - t0 > 1000, 'the stream really was slow (still running after TERM)');

    const events = sseData(text);
    assert.equal(events[events.length - 1], '[DONE]', 'the stream ends with [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.ok(chunks.every((c) => !c.error), 'no error event');
    const content = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, ref.json.choices[0].message.content, 'the complete answer arrived');

    const exit = await waitExit(gw.child, 15000);
    assert.ok(exit, 'the master exited');
    assert.deepEqual(exit, { code: 0, signal: null });
    const exitAt = Date.now();
    assert.ok(exitAt - streamEnd < 3000, `exited soon after the stream (${exitAt - streamEnd} ms)`);
    gw.checkSanitizers();
  });
});
