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
  freePorts,
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

/**
 * Send lines to the admin socket on one connection; resolve with the parsed reply lines once
 * there are as many as lines sent. With keepOpen (an array), the socket is left open there.
 */
function adminExchange(sockPath, lines, { keepOpen } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sockPath);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`admin replies: got ${JSON.stringify(buf)}`));
    }, 5000);
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d;
      const got = buf.split('\n').filter(Boolean);
      if (got.length >= lines.length) {
        clearTimeout(timer);
        if (keepOpen) keepOpen.push(s);
        else s.end();
        resolve(got.map((l) => JSON.parse(l)));
      }
    });
    s.on('connect', () => s.write(lines.map((l) => `${l}\n`).join('')));
  });
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

  it('tollgate -t points at an api_key whose environment variable is not set, and at workers: 0', async () => {
    const f = write('missing-env.yaml', [
      'listen: [127.0.0.1:8999]', // 1
      'providers:', // 2
      '  sim:', // 3
      '    kind: openai', // 4
      '    base_url: "http://127.0.0.1:9/v1"', // 5
      '    api_key: "${TG_IT_SURELY_UNSET_VAR}"', // 6: value at column 14
      'models:',
      '  m1: {provider: sim, price: {input: 1, output: 1}}',
    ]);
    const env = { ...process.env };
    delete env.TG_IT_SURELY_UNSET_VAR;
    const r = await run(BIN.tollgate, ['-t', '-c', f]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${f}:6:14: `), `stderr: ${r.stderr}`);
    assert.match(r.stderr, /TG_IT_SURELY_UNSET_VAR/);

    const ok = await run(BIN.tollgate, ['-t', '-c', f], { env: { TG_IT_SURELY_UNSET_VAR: 'sk-x' } });
    assert.equal(ok.code, 0, `with the variable set: ${ok.stderr}`);
    assert.ok(!`${ok.stdout}${ok.stderr}`.includes('sk-x'), 'the key value is not printed');

    const w = write('workers0.yaml', [
      'listen: [127.0.0.1:8999]',
      'workers: 0', // 2: value at column 10
      'providers:',
      '  sim: {kind: openai, base_url: "http://127.0.0.1:9/v1"}',
      'models:',
      '  m1: {provider: sim, price: {input: 1, output: 1}}',
    ]);
    const rw = await run(BIN.tollgate, ['-t', '-c', w]);
    assert.equal(rw.code, 1);
    assert.ok(rw.stderr.includes(`${w}:2:10: `), `stderr: ${rw.stderr}`);
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

  it('the pid file holds the master pid', () => {
    assert.equal(fs.readFileSync(path.join(gw.dir, 'tollgate.pid'), 'utf8').trim(), String(gw.pid));
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

  it('the admin protocol: several commands per connection, aliases, errors as JSON lines', async () => {
    const replies = await adminExchange(gw.adminSocket, [
      '{"cmd":"ping"}',
      '{"cmd":"workers"}',
      'not json',
      '{"cmd":"nope"}',
      '{"nocmd":1}',
      '{"cmd":"status"}',
    ]);
    assert.equal(replies.length, 6, 'one reply line per command line');
    assert.equal(replies[0].ok, true);
    assert.equal(replies[0].pid, gw.pid);
    assert.equal(replies[1].workers.length, 2);
    assert.deepEqual(replies[2], { ok: false, error: 'a command is one JSON object per line' });
    assert.deepEqual(replies[3], { ok: false, error: 'unknown command "nope"' });
    assert.equal(replies[4].ok, false);
    assert.equal(typeof replies[4].error, 'string');
    assert.equal(replies[5].ok, true);

    const env = await run(BIN.ctl, ['--json', 'status'], { env: { TOLLGATE_SOCKET: gw.adminSocket } });
    assert.equal(env.code, 0, `$TOLLGATE_SOCKET is used: ${env.stderr}`);
    assert.equal(JSON.parse(env.stdout).pid, gw.pid);
  });

  it('tollgatectl fails clearly on a bad command or a dead socket', async () => {
    const bad = await gw.ctl(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command/);
    const dead = await run(BIN.ctl, ['-s', path.join(gw.dir, 'no.sock'), 'status']);
    assert.equal(dead.code, 1);
    assert.match(dead.stderr, /cannot connect/);
  });

  it('a worker killed with -9 under load is respawned and every request after that succeeds', async (t) => {
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
    t.diagnostic(
      `respawned in ${respawnedAt - killedAt} ms; ${failed.length} of ${results.length} failed` +
        (failed.length ? `: ${[...new Set(failed.map((f) => f.error))].join('; ')}` : ''),
    );
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

  it('a reload applies new http limits to new requests (max_body_size 8m -> 1k)', async () => {
    const gen = (await gw.status()).generation;
    const big = { model: 'gpt-4o', messages: msg('y'.repeat(3000)) };
    assert.equal((await postJson(`${gw.baseURL}/chat/completions`, big)).status, 200);
    gw.writeConfig({ http: { max_body_size: '1k' } });
    gw.reload();
    await waitFor(async () => (await gw.workers()).every((w) => w.generation === gen + 1), {
      timeout: 5000,
      what: 'the reload',
    });
    for (let i = 0; i < 4; i++) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, big, {
        headers: { connection: 'close' },
      });
      assert.equal(r.status, 413, `request ${i} on the new limit`);
    }
    gw.writeConfig({});
    gw.reload();
    await waitFor(async () => (await gw.workers()).every((w) => w.generation === gen + 2), {
      timeout: 5000,
      what: 'the restoring reload',
    });
    assert.equal((await postJson(`${gw.baseURL}/chat/completions`, big)).status, 200);
  });

  it('HUP reloads in the middle of a load drop no request', async () => {
    const gen = (await gw.status()).generation;
    let hups = 0;
    const results = await loadLoop(gw.baseURL, {
      total: 150,
      concurrency: 8,
      onDone: (rec, n) => {
        if (n % 25 === 0 && hups < 5) {
          hups++;
          gw.reload();
        }
      },
    });
    assert.equal(hups, 5);
    assert.deepEqual(
      results.filter((r) => !r.ok),
      [],
      'every request during the reloads succeeded',
    );
    await waitFor(async () => (await gw.status()).generation === gen + 5, {
      timeout: 5000,
      what: `generation ${gen + 5}`,
    });
  });

  it('a stream in flight finishes on its configuration when a reload removes its model', async () => {
    const models = (await import('./lib/harness.mjs')).defaultModels();
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'deepseek-chat',
        messages: msg('reload me'),
        stream: true,
        sim: { tps: 20, tokens: 25 },
      }),
    });
    assert.equal(res.status, 200);
    const textP = res.text();
    const gen = (await gw.status()).generation;
    const { 'deepseek-chat': _gone, ...rest } = models;
    gw.writeConfig({ models: rest });
    gw.reload();
    await waitFor(async () => (await gw.workers()).every((w) => w.generation === gen + 1), {
      timeout: 5000,
      what: 'the reload',
    });
    const gone = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'deepseek-chat',
      messages: msg('x'),
    });
    assert.equal(gone.status, 404, 'new requests see the new configuration');
    const events = sseData(await textP);
    assert.equal(events[events.length - 1], '[DONE]', 'the old stream completed');
    const words = events
      .slice(0, -1)
      .map((e) => JSON.parse(e))
      .filter((c) => c.choices?.[0]?.delta?.content).length;
    assert.equal(words, 25, 'all 25 tokens arrived');
    gw.writeConfig({ models });
    gw.reload();
    await waitFor(async () => (await gw.workers()).every((w) => w.generation === gen + 2), {
      timeout: 5000,
      what: 'the restoring reload',
    });
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

  it('USR1 to the master reopens the access log and error log in every worker (log rotation)', async () => {
    // runs last on this gateway: when it fails, the access log stays rotated away
    fs.renameSync(gw.accessLog, `${gw.accessLog}.1`);
    fs.renameSync(gw.errorLog, `${gw.errorLog}.1`);
    process.kill(gw.pid, 'SIGUSR1');
    await sleep(300);
    const ids = [];
    for (let i = 0; i < 8; i++) {
      const id = `after-rotation-${i}`;
      ids.push(id);
      // fresh connections so both workers answer some; status 500 makes workers log a warning
      await postJson(
        `${gw.baseURL}/chat/completions`,
        { model: 'gpt-4o', messages: msg('x'), sim: { status: 500 } },
        { headers: { connection: 'close', 'x-request-id': id } },
      );
    }
    await sleep(200);
    assert.ok(fs.existsSync(gw.accessLog), 'a new access log was opened');
    const logged = gw.readAccessLog().map((l) => l.request_id);
    assert.deepEqual(
      ids.filter((id) => !logged.includes(id)),
      [],
      'every request after the rotation is in the new access log',
    );
    const errs = gw.readErrorLog();
    for (const id of ids) {
      assert.ok(errs.includes(id), `the worker warning for ${id} is in the new error log`);
    }
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

describe('reloading an included file', () => {
  let sim, gw, dir, inc, mainText;
  const incModels = (extra = '') =>
    [
      'models:',
      '  inc-a: {provider: sim, upstream_model: gpt-4o-2024-08-06, price: {input: 1, output: 2}}',
      extra,
    ].join('\n') + '\n';

  before(async () => {
    sim = await startSim();
    dir = tempDir('tg-inc-');
    inc = path.join(dir, 'models.yaml');
    fs.writeFileSync(inc, incModels());
    const [port] = await freePorts(1);
    mainText = [
      'include: [models.yaml]',
      `listen: [127.0.0.1:${port}]`,
      'workers: 2',
      `pid_file: ${path.join(dir, 'tollgate.pid')}`,
      `admin_socket: ${path.join(dir, 'admin.sock')}`,
      `log: {level: info, error_log: ${path.join(dir, 'error.log')}, access_log: ${path.join(dir, 'access.log')}}`,
      'providers:',
      `  sim: {kind: openai, base_url: "http://127.0.0.1:${sim.port}/v1"}`,
      '',
    ].join('\n');
    gw = await startGateway({ dir, port, configText: mainText });
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  const ask = (model) =>
    postJson(`${gw.baseURL}/chat/completions`, { model, messages: msg('x') }, {
      headers: { connection: 'close' },
    });

  it('a model added to the included file answers after HUP; the checksum covers the include', async () => {
    assert.equal((await ask('inc-a')).status, 200);
    assert.equal((await ask('inc-b')).status, 404);
    const before = await gw.status();
    fs.writeFileSync(
      inc,
      incModels('  inc-b: {provider: sim, upstream_model: inc-b-up, price: {input: 1, output: 2}}'),
    );
    gw.reload();
    await waitFor(async () => (await gw.workers()).every((w) => w.generation === before.generation + 1), {
      timeout: 5000,
      what: 'the reload',
    });
    for (let i = 0; i < 4; i++) assert.equal((await ask('inc-b')).status, 200, `request ${i}`);
    const after = await gw.status();
    assert.equal(after.models, 2);
    assert.notEqual(after.config_sha256, before.config_sha256, 'the checksum changed with the include');
    const sha = crypto
      .createHash('sha256')
      .update(fs.readFileSync(gw.configPath))
      .update(fs.readFileSync(inc))
      .digest('hex');
    assert.equal(after.config_sha256, sha, 'sha256 over the main file then the include');
  });

  it('a broken included file is reported as that file:line:col and the old models keep serving', async () => {
    const gen = (await gw.status()).generation;
    fs.writeFileSync(inc, incModels('  inc-c: {provider: sim, price: {input: 1, output: 2}, colour: red}'));
    const r = await gw.ctl(['reload']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${inc}:3:`), `names the include and its line: ${r.stderr}`);
    assert.match(r.stderr, /colour/);
    assert.equal((await gw.status()).generation, gen);
    assert.equal((await ask('inc-b')).status, 200, 'still served from the previous generation');
  });

  it('changing listen or workers needs a restart: a reload warns and keeps serving as before', async () => {
    const workersBefore = (await gw.workers()).length;
    fs.writeFileSync(inc, incModels());
    const [other] = await freePorts(1);
    fs.writeFileSync(
      gw.configPath,
      mainText
        .replace(/^listen: .*$/m, `listen: [127.0.0.1:${other}]`)
        .replace(/^workers: .*$/m, 'workers: 3'),
    );
    const r = await gw.ctl(['reload']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => /only after a restart/.test(gw.readErrorLog()), {
      timeout: 3000,
      what: 'the restart warning',
    });
    assert.equal((await gw.workers()).length, workersBefore, 'the worker count is unchanged');
    assert.equal((await ask('inc-a')).status, 200, 'the old address still serves');
    fs.writeFileSync(gw.configPath, mainText);
  });
});

describe('admin clients at exit', () => {
  it('the master exits 0 with no leak while admin clients are still connected', async () => {
    const sim = await startSim();
    const gw = await startGateway({ simPort: sim.port, workers: 1 });
    const socks = [];
    try {
      // one idle monitoring client, one with half a command line, one that sends drain
      for (const first of ['{"cmd":"ping"}\n', '{"cmd":"stat']) {
        const s = net.connect(gw.adminSocket);
        s.on('error', () => {});
        await new Promise((r) => s.once('connect', r));
        s.write(first);
        socks.push(s);
      }
      const replies = await adminExchange(gw.adminSocket, ['{"cmd":"drain"}'], { keepOpen: socks });
      assert.equal(replies[0].state, 'draining');
      const exit = await waitExit(gw.child, 15000);
      assert.ok(exit, 'the master exited');
      gw.checkSanitizers();
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      for (const s of socks) s.destroy();
      await gw.stop();
      await sim.stop();
    }
  });
});

describe('graceful shutdown', () => {
  let sim, gw, orphan;

  before(async () => {
    sim = await startSim();
    gw = await startGateway({ simPort: sim.port, workers: 2, shutdownTimeout: '15s' });
  });

  after(async () => {
    await gw?.stop();
    await orphan?.stop();
    await sim?.stop();
  });

  it('when the master is killed with -9 the workers drain and exit instead of serving unsupervised', async () => {
    orphan = await startGateway({ simPort: sim.port, workers: 2, shutdownTimeout: '5s' });
    const pids = await orphan.workerPids();
    assert.equal(pids.length, 2);
    process.kill(orphan.pid, 'SIGKILL');
    for (const p of pids) {
      await waitFor(() => !pidAlive(p), { timeout: 4000, what: `worker ${p} to exit` });
    }
    const refused = await fetch(`${orphan.url}/healthz`, { signal: AbortSignal.timeout(2000) })
      .then((r) => `answered ${r.status}`)
      .catch((e) => e.cause?.code ?? e.name);
    assert.equal(refused, 'ECONNREFUSED', 'nothing listens on the port any more');
    orphan.checkSanitizers();
  });

  it('a stream outliving shutdown_timeout is cut at the deadline; exit 0, logged once, no leak', async () => {
    const short = await startGateway({ simPort: sim.port, workers: 1, shutdownTimeout: '1s' });
    try {
      const res = await fetch(`${short.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'cut-at-deadline' },
        body: JSON.stringify({
          model: 'gpt-4o',
          messages: msg('x'),
          stream: true,
          sim: { tps: 10, tokens: 100 },
        }),
      });
      const reader = res.body.getReader();
      await reader.read();
      const t0 = Date.now();
      process.kill(short.pid, 'SIGTERM');
      let text = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
      } catch {
        /* the connection is closed under the reader */
      }
      const exit = await waitExit(short.child, 10000);
      const took = Date.now() - t0;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(took >= 900 && took < 4000, `exited at the 1s deadline (${took} ms)`);
      assert.ok(!text.includes('[DONE]'), 'the stream was cut, not completed');
      const lines = short.readAccessLog().filter((l) => l.request_id === 'cut-at-deadline');
      assert.equal(lines.length, 1, 'the cut stream is logged exactly once');
      assert.ok(lines[0].completion_tokens > 0, 'what was streamed is metered');
      await waitFor(async () => (await sim.stats()).active_streams === 0, {
        timeout: 2000,
        what: 'the upstream stream to be dropped',
      });
      short.checkSanitizers();
    } finally {
      await short.stop();
    }
  });

  it('TERM with every kind of connection open exits 0 at the deadline with no leak', async () => {
    const g = await startGateway({ simPort: sim.port, workers: 2, shutdownTimeout: '1s' });
    const socks = [];
    const open = async (data) => {
      const s = net.connect(g.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('data', () => {});
      await new Promise((r) => s.once('connect', r));
      if (data) s.write(data);
      socks.push(s);
      return s;
    };
    const json = (body) =>
      request('POST', '/v1/chat/completions', {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: msg('x'), ...body }),
      });
    try {
      await open('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'); // partial headers
      await open('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"m');
      await open(json({ sim: { latency_ms: 5000 } })); // waiting for the provider
      await open(json({ sim: { latency_ms: 5000 } }) + request('GET', '/healthz') + json({}));
      await open(request('GET', '/healthz')); // idle keep-alive
      await open(json({ model: 'broken-model' }));
      const paused = await open(json({ stream: true, sim: { tokens: 50000 } }));
      await sleep(300);
      paused.pause(); // a reader that stopped reading
      const t0 = Date.now();
      process.kill(g.pid, 'SIGTERM');
      const exit = await waitExit(g.child, 10000);
      assert.ok(exit, 'the master exited');
      assert.ok(Date.now() - t0 < 4000, 'by the deadline');
      g.checkSanitizers();
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      for (const s of socks) s.destroy();
      await g.stop();
    }
  });

  it('a second TERM during the drain stops at once: the master exits within 2s, workers gone', async () => {
    const slow = await startGateway({ simPort: sim.port, workers: 2, shutdownTimeout: '20s' });
    try {
      const pids = await slow.workerPids();
      const res = await fetch(`${slow.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o',
          messages: msg('x'),
          stream: true,
          sim: { tps: 10, tokens: 100 },
        }),
      });
      const reader = res.body.getReader();
      await reader.read();
      process.kill(slow.pid, 'SIGTERM');
      await sleep(200);
      const t0 = Date.now();
      process.kill(slow.pid, 'SIGTERM');
      const exit = await waitExit(slow.child, 15000);
      const took = Date.now() - t0;
      assert.ok(exit, 'the master exited');
      assert.ok(took < 2000, `stopped at once after the second TERM (${took} ms)`);
      for (const p of pids) {
        await waitFor(() => !pidAlive(p), { timeout: 2000, what: `worker ${p} to be gone` });
      }
      reader.cancel().catch(() => {});
    } finally {
      await slow.stop({ timeout: 3000 });
    }
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
