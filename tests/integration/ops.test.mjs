// Operations on a running gateway that an ops team relies on: provider credentials rotated live
// (tollgatectl providers rotate-key, secret on stdin) and re-read from api_key_file on reload,
// aggregated security events in the audit trail, and no stale LMDB readers after a worker is
// killed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BIN,
  startSim,
  startGateway,
  postJson,
  adminCall,
  run,
  sleep,
  waitFor,
  tempDir,
} from './lib/harness.mjs';

const MSG = [{ role: 'user', content: 'hello' }];

describe('provider credentials and security events', () => {
  const canaryOld = `sk-old-${crypto.randomBytes(12).toString('hex')}`;
  const canaryNew = `sk-new-${crypto.randomBytes(12).toString('hex')}`;
  const canaryFile = `sk-file-${crypto.randomBytes(12).toString('hex')}`;
  let sim, gw, dir, key, keyFile;

  before(async () => {
    // the provider only accepts canaryNew; the gateway starts with canaryOld from a file
    sim = await startSim({ args: ['--api-key', canaryNew] });
    dir = tempDir('tg-ops-');
    keyFile = path.join(dir, 'provider.key');
    fs.writeFileSync(keyFile, `${canaryOld}\n`, { mode: 0o600 });
    gw = await startGateway({
      dir,
      workers: 2,
      providers: {
        sim: { kind: 'openai', base_url: `http://127.0.0.1:${sim.port}/v1`, api_key_file: keyFile },
      },
      models: { 'gpt-4o': { provider: 'sim', price: { input: 2.5, output: 10 } } },
      extraYaml: `store: {path: ${path.join(dir, 'data')}}\nauth: keys\n`,
    });
    const made = await adminCall(gw.adminSocket, { cmd: 'keys.create', tenant: 'ops', name: 'k' });
    assert.equal(made.ok, true, JSON.stringify(made));
    key = made.secret;
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  const ask = () =>
    postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages: MSG }, {
      headers: { authorization: `Bearer ${key}`, connection: 'close' },
    });

  it('a provider refusing the configured key is a 502 upstream_auth_failed', async () => {
    const r = await ask();
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.error.code, 'upstream_auth_failed');
    assert.ok(!r.text.includes(canaryOld), 'the key is not in the error');
  });

  it('providers rotate-key (secret on stdin) switches every worker live, audited, never shown', async () => {
    const r = await run(BIN.ctl, ['-s', gw.adminSocket, 'providers', 'rotate-key', 'sim'], {
      input: `${canaryNew}\n`,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(!r.stdout.includes(canaryNew) && !r.stderr.includes(canaryNew), 'CLI never echoes it');
    // fresh connections land on both workers; every one must use the new key
    await waitFor(async () => (await ask()).status === 200, { what: 'the new key in use' });
    for (let i = 0; i < 20; i++) {
      const a = await ask();
      assert.equal(a.status, 200, `request ${i}: ${a.text}`);
    }
    const list = await adminCall(gw.adminSocket, { cmd: 'providers.list' });
    assert.equal(list.providers[0].key_source, 'rotated');
    assert.ok(!JSON.stringify(list).includes(canaryNew));
    const audit = await adminCall(gw.adminSocket, { cmd: 'audit.export' });
    const rot = audit.entries.filter((e) => e.action === 'provider.rotate_key');
    assert.equal(rot.length, 1, JSON.stringify(audit.entries.map((e) => e.action)));
    assert.equal(rot[0].target, 'sim');
    assert.ok(!JSON.stringify(audit).includes(canaryNew), 'the audit never holds the key');
  });

  it('a rotated key stays in force across a reload', async () => {
    const before = (await adminCall(gw.adminSocket, { cmd: 'status' })).generation;
    const rel = await adminCall(gw.adminSocket, { cmd: 'reload' });
    assert.equal(rel.ok, true, JSON.stringify(rel));
    assert.equal(rel.generation, before + 1);
    for (let i = 0; i < 6; i++) assert.equal((await ask()).status, 200);
  });

  it('failed authentications are counted per key prefix and client in the audit trail', async () => {
    const bad = `tg_aaaaaaaaaaaa_${'x'.repeat(32)}`;
    for (let i = 0; i < 3; i++) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages: MSG }, {
        headers: { authorization: `Bearer ${bad}`, connection: 'close' },
      });
      assert.equal(r.status, 401);
    }
    // workers flush their counts when the minute is over or when they exit: stop and restart
    await gw.stop();
    gw = await startGateway({ ...gw.opts, dir });
    const audit = await adminCall(gw.adminSocket, { cmd: 'audit.export' });
    const sec = audit.entries.filter((e) => e.action === 'security.auth_failures');
    const count = sec
      .filter((e) => e.target === 'tg_aaaaaaaaaaaa')
      .reduce((n, e) => n + e.detail.count, 0);
    assert.equal(count, 3, JSON.stringify(sec));
    assert.ok(!JSON.stringify(audit).includes('x'.repeat(32)), 'no presented secret in the trail');
    const verify = await adminCall(gw.adminSocket, { cmd: 'audit.verify' });
    assert.equal(verify.intact, true, JSON.stringify(verify));
  });

  it('api_key_file is re-read on reload (after a restart has dropped the live rotation)', async () => {
    // the restart above forgot the rotated key: the file's key is in force again
    assert.equal((await ask()).status, 502);
    fs.writeFileSync(keyFile, `${canaryNew}\n`);
    const rel = await adminCall(gw.adminSocket, { cmd: 'reload' });
    assert.equal(rel.ok, true, JSON.stringify(rel));
    await waitFor(async () => (await ask()).status === 200, { what: 'the file key in use' });
  });

  it('no secret of the test is in the logs', () => {
    const logs = gw.readErrorLog() + fs.readFileSync(gw.accessLog, 'utf8') + gw.stderr();
    for (const s of [canaryOld, canaryNew, canaryFile, key]) assert.ok(!logs.includes(s), s.slice(0, 8));
  });

  it('after a worker is killed, LMDB has no stale reader slots', async (t) => {
    const mdbStat = '/usr/bin/mdb_stat';
    if (!fs.existsSync(mdbStat)) {
      t.skip('mdb_stat (lmdb-utils) is not installed');
      return;
    }
    const pids = await gw.workerPids();
    await Promise.all(Array.from({ length: 20 }, () => ask()));
    process.kill(pids[0], 'SIGKILL');
    await waitFor(async () => {
      const now = await gw.workerPids();
      return now.length === pids.length && !now.includes(pids[0]);
    }, { what: 'the worker respawned' });
    await Promise.all(Array.from({ length: 20 }, () => ask()));
    for (const env of ['meter', 'control']) {
      // -rr checks for (and reports) stale readers; their pids must all be alive
      // (mdb_stat exits 1 after a reader check even when it succeeds: read its report)
      const r = await run(mdbStat, ['-rr', path.join(dir, 'data', env)]);
      assert.match(r.stdout, /Reader Table Status/, `${env}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /\b0 stale readers cleared/, `${env}: ${r.stdout}`);
    }
  });
});
