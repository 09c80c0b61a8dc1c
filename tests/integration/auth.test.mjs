// Virtual keys, the admin socket and the audit trail, end to end: the real gateway with
// `auth: keys` and an LMDB store, driven by the official OpenAI SDK and the admin socket's
// line-delimited JSON. What must hold: a request needs a live key (401 in OpenAI's shape
// otherwise, never echoing the secret); a secret is shown once and never stored or logged;
// model restrictions, revocation, rotation grace and expiry take effect at once, on every
// worker, to the second; only the gateway's own user may use the admin socket; every mutation
// and reload is in a hash-chained audit trail that detects a byte changed on disk; and keys
// survive a restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import {
  startSim,
  startGateway,
  tempDir,
  adminCall,
  assertOpenAIError,
  defaultModels,
  postJson,
  run,
  sleep,
  storeFileText,
  waitFor,
} from './lib/harness.mjs';

const MODELS = {
  ...defaultModels(),
  'gpt-4o-mini': { provider: 'sim', price: { input: 0.15, output: 0.6 } },
};
const KEY_RE = /^tg_[a-z2-7]{12}_[A-Za-z0-9]{32}$/;
const messages = [{ role: 'user', content: 'Say hello' }];

function storeYaml(dir) {
  return `store:\n  path: ${JSON.stringify(path.join(dir, 'data'))}\nauth: keys\n`;
}

/** The private part of a key: what must never be shown, logged or stored. */
function secretPart(key) {
  return key.slice(16);
}

/** POST a chat completion on a fresh TCP connection (no keep-alive pool): {status, json}. */
function freshChat(url, key, model = 'gpt-4o') {
  const body = JSON.stringify({ model, messages });
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    const req = http.request(
      `${url}/v1/chat/completions`,
      { method: 'POST', agent: false, headers, timeout: 10000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, json, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Run p, which must reject; return the error. */
async function rejection(p) {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected the SDK call to throw');
}

function sdk(gw, apiKey) {
  return new OpenAI({ baseURL: gw.baseURL, apiKey, maxRetries: 0, timeout: 15000 });
}

async function admin(gw, obj) {
  const r = await adminCall(gw.adminSocket, obj);
  return r;
}

async function adminOk(gw, obj) {
  const r = await admin(gw, obj);
  assert.equal(r.ok, true, `${JSON.stringify(obj)} -> ${JSON.stringify(r)}`);
  return r;
}

const secretsSeen = new Set(); // every secret created or rotated, and every key presented

async function createKey(gw, extra = {}) {
  const r = await adminOk(gw, { cmd: 'keys.create', tenant: 'acme', name: 'ci', ...extra });
  secretsSeen.add(r.secret);
  assert.match(r.secret, KEY_RE, 'the secret has the documented format');
  assert.equal(r.secret.slice(3, 15), r.key.id);
  return r;
}

/** Every place a secret could leak to, as one string per place. */
async function leakSurfaces(gw, sim) {
  const exported = await adminOk(gw, { cmd: 'audit.export' });
  const list = await adminOk(gw, { cmd: 'keys.list' });
  const stats = await sim.stats();
  return {
    'error log': gw.readErrorLog(),
    'stderr': gw.stderr(),
    'access log': fs.existsSync(gw.accessLog) ? fs.readFileSync(gw.accessLog, 'utf8') : '',
    'audit.export': JSON.stringify(exported),
    'keys.list': JSON.stringify(list),
    'requests seen by the provider': JSON.stringify(stats),
  };
}

function assertNowhere(surfaces, needle, what) {
  for (const [where, text] of Object.entries(surfaces)) {
    assert.ok(!text.includes(needle), `${what} appears in the ${where}`);
  }
}

describe('virtual keys on the public API', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    // the admin socket's directory must be traversable by another user for the uid test
    const dir = tempDir('tg-auth-');
    fs.chmodSync(dir, 0o711);
    // debug logging: the most a secret could leak into the error log
    gw = await startGateway({
      dir,
      simPort: sim.port,
      workers: 2,
      models: MODELS,
      log: { level: 'debug' },
      extraYaml: storeYaml(dir),
    });
  });

  after(async () => {
    try {
      await gw?.stop();
      gw?.checkSanitizers();
    } finally {
      await sim?.stop();
    }
  });

  it('no key: 401 missing_api_key in OpenAI shape; the SDK raises AuthenticationError', async () => {
    const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages });
    assert.equal(r.status, 401);
    assertOpenAIError(r.json, { type: 'invalid_request_error', code: 'missing_api_key', param: null });
    assert.match(r.json.error.message, /provide an API key/);

    // "Bearer" with nothing after it, and another scheme, are "missing" too
    for (const authorization of ['Bearer ', 'Basic dXNlcjpwYXNz']) {
      const r2 = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages }, { headers: { authorization } });
      assert.equal(r2.status, 401, authorization);
      assertOpenAIError(r2.json, { code: 'missing_api_key' });
    }

    const client = new OpenAI({
      baseURL: gw.baseURL,
      apiKey: 'unused',
      maxRetries: 0,
      defaultHeaders: { Authorization: null }, // the SDK sends no Authorization at all
    });
    const e = await rejection(client.chat.completions.create({ model: 'gpt-4o', messages }));
    assert.ok(e instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${e?.constructor?.name}: ${e}`);
    assert.equal(e.status, 401);
    assert.equal(e.code, 'missing_api_key');
    assert.equal((await sim.stats()).last?.length ?? 0, 0, 'nothing reached the provider');
  });

  it('a wrong key: 401 invalid_api_key; the message never contains what was presented', async () => {
    const real = await createKey(gw);
    const wrong = [
      `tg_${'a'.repeat(12)}_${crypto.randomBytes(24).toString('base64url').replace(/[-_]/g, 'x').slice(0, 32)}`, // unknown id
      `tg_${real.key.id}_${'Q'.repeat(32)}`, // the right id, a wrong secret of the right shape
      real.secret.slice(0, -1) + (real.secret.endsWith('z') ? 'y' : 'z'), // one character off
      'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789', // an OpenAI-style key
      `${real.secret}x`, // one character too many
    ];
    for (const key of wrong) {
      secretsSeen.add(key);
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages }, {
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(r.status, 401, key);
      assertOpenAIError(r.json, { type: 'invalid_request_error', code: 'invalid_api_key' });
      assert.ok(!r.text.includes(key), `the reply to ${key} echoes it: ${r.text}`);
      assert.ok(!r.text.includes(key.slice(-20)), `the reply echoes part of ${key}: ${r.text}`);
      assert.ok(!r.text.includes(secretPart(real.secret)), 'the real secret is not shown');

      const e = await rejection(sdk(gw, key).chat.completions.create({ model: 'gpt-4o', messages }));
      assert.ok(e instanceof OpenAI.AuthenticationError, `AuthenticationError for ${key}, got ${e}`);
      assert.equal(e.status, 401);
      assert.equal(e.code, 'invalid_api_key');
      assert.ok(!String(e.message).includes(key.slice(-20)), `the SDK error echoes ${key}`);
    }
    // the wrong secrets are in no log, trail or listing either
    await sleep(300); // aggregated security events are written shortly after
    const surfaces = await leakSurfaces(gw, sim);
    for (const key of wrong) assertNowhere(surfaces, key.slice(-20), `presented key ${key}`);
  });

  it('keys.create: the secret works with the SDK and is never logged, stored, listed or forwarded', async () => {
    const created = await createKey(gw, { tenant: 'leak-check', name: 'sdk' });
    assert.equal(created.key.status, 'active');
    assert.equal(created.key.prefix, `tg_${created.key.id}_`);
    assert.ok(!JSON.stringify(created.key).includes(secretPart(created.secret)), 'key object holds no secret');

    const { data, response } = await sdk(gw, created.secret)
      .chat.completions.create({ model: 'gpt-4o', messages })
      .withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.object, 'chat.completion');
    // on fresh connections too, so both workers have verified it
    for (let i = 0; i < 6; i++) assert.equal((await freshChat(gw.url, created.secret)).status, 200);

    const shown = await adminOk(gw, { cmd: 'keys.show', id: created.key.id });
    assert.equal(shown.key.id, created.key.id);
    assert.equal(shown.secret, undefined, 'keys.show has no secret');
    const shownByPrefix = await adminOk(gw, { cmd: 'keys.show', id: created.key.prefix });
    assert.equal(shownByPrefix.key.id, created.key.id, 'the tg_<id>_ prefix finds the key');

    const log = gw.readAccessLog();
    assert.ok(log.some((l) => l.key_id === created.key.id && l.status === 200), 'the access log names the key id');

    const surfaces = await leakSurfaces(gw, sim);
    surfaces['keys.show'] = JSON.stringify(shown);
    surfaces['store files'] = ['control/data.mdb', 'meter/data.mdb']
      .map((f) => storeFileText(path.join(gw.dir, 'data', f)))
      .join('');
    assertNowhere(surfaces, secretPart(created.secret), 'the secret');
    // the upstream got the provider's credentials, not the client's virtual key
    const upstream = await sim.lastRequest();
    assert.ok(!String(upstream.headers.authorization ?? '').includes('tg_'), 'virtual key not forwarded');
  });

  it('a key restricted to gpt-4o-mini: 403 (PermissionDeniedError) for gpt-4o, 200 for gpt-4o-mini', async () => {
    const created = await createKey(gw, { name: 'mini-only', models: ['gpt-4o-mini'] });
    assert.deepEqual(created.key.models, ['gpt-4o-mini']);
    const client = sdk(gw, created.secret);

    const e = await rejection(client.chat.completions.create({ model: 'gpt-4o', messages }));
    assert.ok(e instanceof OpenAI.PermissionDeniedError, `PermissionDeniedError, got ${e?.constructor?.name}: ${e}`);
    assert.equal(e.status, 403);
    assert.equal(e.code, 'model_not_allowed');
    assert.equal(e.param, 'model');

    const ok = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(ok.object, 'chat.completion');

    // keys.set can widen the list, at once
    await adminOk(gw, { cmd: 'keys.set', id: created.key.id, models: ['gpt-4o-mini', 'gpt-4o'] });
    const ok2 = await client.chat.completions.create({ model: 'gpt-4o', messages });
    assert.equal(ok2.object, 'chat.completion');
  });

  it('revoke: refused (401) at once on every worker — 20 fresh connections right after the reply', async () => {
    const created = await createKey(gw, { name: 'to-revoke' });
    for (let i = 0; i < 6; i++) assert.equal((await freshChat(gw.url, created.secret)).status, 200);

    const r = await adminOk(gw, { cmd: 'keys.revoke', id: created.key.id });
    assert.equal(r.key.status, 'revoked');
    assert.equal(r.secret, undefined);
    const results = await Promise.all(Array.from({ length: 20 }, () => freshChat(gw.url, created.secret)));
    for (const res of results) {
      assert.equal(res.status, 401, `after revoke: ${res.text}`);
      assertOpenAIError(res.json, { code: 'invalid_api_key' });
      assert.match(res.json.error.message, /revoked/);
      assert.ok(!res.text.includes(secretPart(created.secret)), 'the message holds no secret');
    }
    // a revoked key cannot be rotated back to life
    const rot = await admin(gw, { cmd: 'keys.rotate', id: created.key.id });
    assert.equal(rot.ok, false);
    assert.equal((await freshChat(gw.url, created.secret)).status, 401);
  });

  it('rotate with grace_seconds 2: both secrets work, then only the new one, to the second', async () => {
    const created = await createKey(gw, { name: 'to-rotate' });
    const old = created.secret;
    const t0 = Date.now();
    const r = await adminOk(gw, { cmd: 'keys.rotate', id: created.key.id, grace_seconds: 2 });
    const fresh = r.secret;
    secretsSeen.add(fresh);
    assert.match(fresh, KEY_RE);
    assert.notEqual(fresh, old);
    assert.equal(fresh.slice(0, 16), old.slice(0, 16), 'the id stays');
    const until = r.key.previous_secret_valid_until;
    const nowS = Math.floor(t0 / 1000);
    assert.ok(until >= nowS + 2 && until <= nowS + 3, `valid until ${until}, rotated at ${t0 / 1000}`);

    assert.equal((await freshChat(gw.url, old)).status, 200, 'old secret in grace');
    assert.equal((await freshChat(gw.url, fresh)).status, 200, 'new secret');
    assert.equal((await sdk(gw, old).chat.completions.create({ model: 'gpt-4o', messages })).object, 'chat.completion');

    // shortly before the end of the grace period the old secret still works...
    const before = until * 1000 - 400 - Date.now();
    if (before > 0) {
      await sleep(before);
      assert.equal((await freshChat(gw.url, old)).status, 200, 'old secret 0.4 s before the end of grace');
    }
    // ...and from that second on it does not
    await sleep(Math.max(0, t0 + 2500 - Date.now(), until * 1000 + 100 - Date.now()));
    const results = await Promise.all(Array.from({ length: 6 }, () => freshChat(gw.url, old)));
    for (const res of results) {
      assert.equal(res.status, 401, `old secret after grace: ${res.text}`);
      assertOpenAIError(res.json, { code: 'invalid_api_key' });
    }
    assert.equal((await freshChat(gw.url, fresh)).status, 200, 'new secret after grace');
  });

  it('expires_in 2: works, then 401 after 2.5 s', async () => {
    const t0 = Date.now();
    const created = await createKey(gw, { name: 'short-lived', expires_in: 2 });
    assert.ok(created.key.expires >= Math.floor(t0 / 1000) + 2 && created.key.expires <= Math.floor(t0 / 1000) + 3);
    assert.equal((await freshChat(gw.url, created.secret)).status, 200);
    // ~2.5 s, and in any case past the second the gateway recorded
    await sleep(Math.max(0, t0 + 2500 - Date.now(), created.key.expires * 1000 + 100 - Date.now()));
    const res = await freshChat(gw.url, created.secret);
    assert.equal(res.status, 401, res.text);
    assertOpenAIError(res.json, { code: 'invalid_api_key' });
    assert.match(res.json.error.message, /expired/);
    const e = await rejection(sdk(gw, created.secret).chat.completions.create({ model: 'gpt-4o', messages }));
    assert.ok(e instanceof OpenAI.AuthenticationError);
  });

  it('the admin socket is mode 0600 and refuses a connection from another uid', async (t) => {
    const st = fs.statSync(gw.adminSocket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600, `socket mode ${(st.mode & 0o777).toString(8)}`);
    assert.equal(st.uid, process.getuid());

    // a client run as "nobody" (uid 65534)
    // It connects, waits to be spoken to, then asks for the key list; it prints what happened.
    const client = `
      const net = require('net');
      const out = { uid: process.getuid(), connected: false, reply: '' };
      const s = net.createConnection(process.argv[1]);
      s.setEncoding('utf8');
      s.on('connect', () => {
        out.connected = true;
        setTimeout(() => { if (s.writable) s.write(JSON.stringify({ cmd: 'keys.list' }) + '\\n'); }, 300);
      });
      s.on('data', (d) => (out.reply += d));
      s.on('error', (e) => (out.error = e.code));
      s.on('close', () => { console.log(JSON.stringify(out)); process.exit(0); });
      setTimeout(() => { out.timeout = true; console.log(JSON.stringify(out)); process.exit(0); }, 5000);
    `;
    const asNobody = () =>
      run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', client, gw.adminSocket]);
    const probe = await asNobody();
    if (process.getuid() !== 0 || probe.code !== 0 || !probe.stdout.includes('"uid":65534')) {
      const why = `cannot run a client as uid 65534 here (uid ${process.getuid()}, setpriv: ${probe.code} ${probe.stderr.trim()})`;
      t.diagnostic(why);
      t.skip(why);
      return;
    }
    // 1. the file mode alone keeps it out
    const first = JSON.parse(probe.stdout.trim().split('\n').pop());
    assert.equal(first.connected, false, `nobody's connect: ${probe.stdout}`);
    assert.equal(first.error, 'EACCES', `nobody's connect: ${probe.stdout}`);

    // 2. even if the mode were loosened, the SO_PEERCRED check refuses it
    fs.chmodSync(gw.adminSocket, 0o666);
    try {
      const second = JSON.parse((await asNobody()).stdout.trim().split('\n').pop());
      assert.ok(second.connected, `connected: ${JSON.stringify(second)}`);
      assert.ok(!second.timeout, `the gateway closed the connection: ${JSON.stringify(second)}`);
      const lines = second.reply.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `one refusal line and nothing else: ${second.reply}`);
      const reply = JSON.parse(lines[0]);
      assert.equal(reply.ok, false);
      assert.match(reply.error, /permission denied/);
      assert.ok(!second.reply.includes('"keys"'), 'no keys were listed');
    } finally {
      fs.chmodSync(gw.adminSocket, 0o600);
    }
    await waitFor(() => /admin socket: refused uid 65534/.test(gw.readErrorLog()), { what: 'the refusal logged' });
    // and our own uid is still served
    assert.equal((await adminOk(gw, { cmd: 'status' })).ok, true);
  });

  it('after shutdown, no secret or presented key is in the store files or the logs', async () => {
    const res = await gw.stop();
    assert.equal(res.code, 0, `clean exit: ${JSON.stringify(res)}`);
    assert.ok(secretsSeen.size >= 10, `secrets collected: ${secretsSeen.size}`);
    const files = {
      'error log': gw.readErrorLog(),
      'stderr': gw.stderr(),
      'access log': fs.readFileSync(gw.accessLog, 'latin1'),
    };
    for (const env of ['control', 'meter']) {
      files[`${env}/data.mdb`] = storeFileText(path.join(gw.dir, 'data', env, 'data.mdb'));
    }
    for (const key of secretsSeen) assertNowhere(files, key.slice(-20), `(part of) ${key.slice(0, 16)}...`);
  });
});

describe('admin commands refuse values that would weaken a key', () => {
  let sim, gw;

  before(async () => {
    sim = await startSim();
    const dir = tempDir('tg-auth-admin-');
    gw = await startGateway({ dir, simPort: sim.port, workers: 1, models: MODELS, extraYaml: storeYaml(dir) });
  });

  after(async () => {
    try {
      await gw?.stop();
      gw?.checkSanitizers();
    } finally {
      await sim?.stop();
    }
  });

  it('a header "bearer <key>" (any case, extra spaces around the key) is accepted', async () => {
    const created = await createKey(gw, { name: 'spacing' });
    for (const authorization of [`bearer ${created.secret}`, `BEARER  ${created.secret}`, `Bearer ${created.secret} `]) {
      const r = await postJson(`${gw.baseURL}/chat/completions`, { model: 'gpt-4o', messages }, { headers: { authorization } });
      assert.equal(r.status, 200, `${JSON.stringify(authorization.replace(created.secret, '<key>'))}: ${r.text}`);
    }
  });

  it('keys.rotate with a grace_seconds that is not an integer is refused, never a silent hour of grace', async () => {
    // An operator rotating a leaked key asks for no grace; "0" or 0.0 must not keep the leaked
    // secret working for the default hour.
    for (const grace_seconds of ['0', 0.0 + 0.5, null, true]) {
      const created = await createKey(gw, { name: 'leaked' });
      const r = await admin(gw, { cmd: 'keys.rotate', id: created.key.id, grace_seconds });
      if (r.ok) {
        const old = await freshChat(gw.url, created.secret);
        assert.fail(
          `grace_seconds ${JSON.stringify(grace_seconds)} was accepted: previous secret valid until ` +
            `${r.key.previous_secret_valid_until} (${r.key.previous_secret_valid_until - Math.floor(Date.now() / 1000)} s from now); ` +
            `the old secret now gets ${old.status}`,
        );
      }
      assert.match(r.error, /grace_seconds/);
      assert.equal((await freshChat(gw.url, created.secret)).status, 200, 'a refused rotation changes nothing');
    }
  });

  it('keys.set with an expires_in that is not an integer is refused, not ignored', async () => {
    for (const expires_in of ['60', 1.5]) {
      const created = await createKey(gw, { name: 'temp' });
      const r = await admin(gw, { cmd: 'keys.set', id: created.key.id, expires_in });
      assert.equal(r.ok, false, `expires_in ${JSON.stringify(expires_in)} accepted: key.expires = ${r.key?.expires} (0: never)`);
      assert.match(r.error, /expires_in/);
    }
  });

  it('tenant changes are audited with before/after record hashes, like key changes', async () => {
    await adminOk(gw, { cmd: 'tenants.create', name: 'hashed', rpm: 10 });
    await adminOk(gw, { cmd: 'tenants.set', name: 'hashed', rpm: 20 });
    const tail = await adminOk(gw, { cmd: 'audit.tail', n: 5 });
    const [c, s] = tail.entries.filter((e) => e.target === 'hashed');
    assert.equal(c.action, 'tenant.create');
    assert.equal(s.action, 'tenant.set');
    assert.match(String(s.detail.before), /^[0-9a-f]{64}$/, `tenant.set detail: ${JSON.stringify(s.detail)}`);
    assert.match(String(s.detail.after), /^[0-9a-f]{64}$/);
    assert.equal(s.detail.before, c.detail.after);
  });

  it('an absurd expires_in is refused (or kept in range) and the master survives it', async () => {
    const huge = Number.MAX_SAFE_INTEGER; // JSON integers up to 2^63-1 reach the C code as int64
    for (const [what, send] of [
      ['keys.create', () => admin(gw, { cmd: 'keys.create', tenant: 'acme', name: 'forever', expires_in: huge })],
      ['keys.set', async () => {
        const created = await createKey(gw, { name: 'forever2' });
        return admin(gw, { cmd: 'keys.set', id: created.key.id, expires_in: huge });
      }],
    ]) {
      const r = await send();
      if (r.ok) assert.ok(r.key.expires > Date.now() / 1000, `${what}: a key that expires in the future, not ${r.key.expires}`);
      assert.ok(gw.alive(), `${what}: the master is still running`);
      assert.equal((await admin(gw, { cmd: 'status' })).ok, true);
    }
    // 2^63 - 1 itself, written by hand: the sum with "now" must not overflow (UBSan aborts on it)
    const raw = await new Promise((resolve, reject) => {
      const sock = net.createConnection(gw.adminSocket);
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write('{"cmd":"keys.create","tenant":"acme","name":"max","expires_in":9223372036854775807}\n'));
      sock.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) {
          sock.destroy();
          resolve(buf);
        }
      });
      sock.on('close', () => resolve(buf));
      sock.on('error', reject);
    });
    await sleep(200);
    assert.ok(gw.alive(), `the master survived expires_in 2^63-1 (reply: ${JSON.stringify(raw)})\n${gw.stderr().slice(-1500)}`);
    const reply = JSON.parse(raw);
    if (reply.ok) assert.ok(reply.key.expires > Date.now() / 1000, `expires ${reply.key.expires} is in the future`);
  });
});

/* ---- the audit trail, reloads and restarts ------------------------------------------------- */

/** mdb_dump one named database of an environment: {header: [...], pairs: [[keyHex, valHex]]}. */
function dumpDb(envDir, db) {
  const out = execFileSync('mdb_dump', ['-s', db, envDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.split('\n');
  const end = lines.indexOf('HEADER=END');
  assert.ok(end > 0, `mdb_dump output has a header: ${out.slice(0, 200)}`);
  // (mdb_load of this lmdb-utils does not know the db_pagesize line some mdb_dump versions write)
  const header = lines.slice(0, end + 1).filter((l) => !l.startsWith('db_pagesize='));
  const pairs = [];
  let i = end + 1;
  for (; i < lines.length && lines[i] !== 'DATA=END'; i += 2) {
    pairs.push([lines[i].trim(), lines[i + 1].trim()]);
  }
  assert.equal(lines[i], 'DATA=END');
  return { header, pairs };
}

function loadDb(envDir, db, { header, pairs }, file) {
  const text = [...header, ...pairs.flatMap(([k, v]) => [` ${k}`, ` ${v}`]), 'DATA=END', ''].join('\n');
  fs.writeFileSync(file, text);
  execFileSync('mdb_load', ['-s', db, '-f', file, envDir], { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('audit trail, reloads and restarts', () => {
  let sim, gw, dir, opts;
  const start = async () => {
    gw = await startGateway(opts);
    return gw;
  };

  before(async () => {
    sim = await startSim();
    dir = tempDir('tg-audit-');
    opts = { dir, simPort: sim.port, workers: 1, models: MODELS, extraYaml: storeYaml(dir) };
    await start();
  });

  after(async () => {
    try {
      await gw?.stop();
      gw?.checkSanitizers();
    } finally {
      await sim?.stop();
    }
  });

  async function entriesAfter(seq) {
    const r = await adminOk(gw, { cmd: 'audit.export' });
    return r.entries.filter((e) => e.seq > seq);
  }

  async function lastSeq() {
    const r = await adminOk(gw, { cmd: 'audit.tail', n: 1 });
    return r.entries.length ? r.entries[r.entries.length - 1].seq : 0;
  }

  let rotatedSeq = 0; // the key.rotate entry, tampered with below
  let survivor, other; // keys made before the restart; survivor's record is damaged below

  it('create/set/rotate/revoke are in audit.tail in order, with the actor and before/after hashes; verify intact', async () => {
    const from = await lastSeq();
    const created = await createKey(gw, { tenant: 'audited', name: 'a1' });
    const id = created.key.id;
    await adminOk(gw, { cmd: 'keys.set', id, rpm: 60, daily_budget_usd: '12.50' });
    const rotated = await adminOk(gw, { cmd: 'keys.rotate', id, grace_seconds: 0 });
    await adminOk(gw, { cmd: 'keys.revoke', id });

    const tail = await adminOk(gw, { cmd: 'audit.tail', n: 20 });
    const seqs = tail.entries.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'tail is in ascending order');
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, 'no gaps');
    const mine = tail.entries.filter((e) => e.seq > from && (e.target === id || e.target === 'audited'));
    assert.deepEqual(
      mine.map((e) => e.action),
      ['tenant.create', 'key.create', 'key.set', 'key.rotate', 'key.revoke'],
    );
    for (const e of mine) {
      assert.equal(e.uid, process.getuid(), `${e.action}: the admin's uid`);
      assert.equal(e.pid, process.pid, `${e.action}: the admin's pid`);
      assert.match(e.hash, /^[0-9a-f]{64}$/);
      assert.ok(Math.abs(e.ts_ms - Date.now()) < 60000, 'a current timestamp in ms');
    }
    const [, c, s, r, v] = mine;
    assert.equal(c.detail.before, 'none');
    assert.equal(c.detail.tenant, 'audited');
    for (const e of [c, s, r, v]) assert.match(e.detail.after, /^[0-9a-f]{64}$/, e.action);
    assert.equal(s.detail.before, c.detail.after, 'set starts from what create left');
    assert.equal(r.detail.before, s.detail.after, 'rotate starts from what set left');
    assert.equal(v.detail.before, r.detail.after, 'revoke starts from what rotate left');
    assert.equal(new Set([c, s, r, v].map((e) => e.detail.after)).size, 4, 'every change changed the record');
    assert.equal(s.detail.limits.rpm, 60);
    assert.equal(s.detail.limits.daily_budget_usd, '12.500000');
    assert.equal(r.detail.grace_seconds, 0);
    const text = JSON.stringify(tail);
    assert.ok(!text.includes(secretPart(created.secret)) && !text.includes(secretPart(rotated.secret)), 'no secret in the trail');
    rotatedSeq = r.seq;

    const verify = await adminOk(gw, { cmd: 'audit.verify' });
    assert.equal(verify.intact, true, JSON.stringify(verify));
    assert.equal(verify.entries, (await adminOk(gw, { cmd: 'audit.export' })).entries.length);
  });

  it('HUP and {"cmd":"reload"} each add config.reload with the config sha256; a broken reload adds config.reload_refused', async () => {
    const sha = () => crypto.createHash('sha256').update(fs.readFileSync(gw.configPath)).digest('hex');
    const good = fs.readFileSync(gw.configPath, 'utf8');

    // 1. SIGHUP (actor: the gateway itself, uid -1)
    let from = await lastSeq();
    fs.writeFileSync(gw.configPath, `${good}# hup reload\n`);
    const hupSha = sha();
    gw.reload();
    const hup = await waitFor(async () => (await entriesAfter(from)).find((e) => e.action === 'config.reload'), {
      what: 'a config.reload entry after HUP',
    });
    assert.equal(hup.uid, -1, 'a signal has no admin uid');
    assert.equal(hup.target, gw.configPath);
    assert.equal(hup.detail.sha256, hupSha);
    assert.equal((await gw.status()).config_sha256, hupSha);

    // 2. the admin socket's reload command (actor: this process)
    from = await lastSeq();
    fs.writeFileSync(gw.configPath, `${good}# admin reload\n`);
    const adminSha = sha();
    const reply = await adminOk(gw, { cmd: 'reload' });
    assert.equal(reply.config_sha256, adminSha);
    const viaAdmin = (await entriesAfter(from)).filter((e) => e.action === 'config.reload');
    assert.equal(viaAdmin.length, 1);
    assert.equal(viaAdmin[0].uid, process.getuid());
    assert.equal(viaAdmin[0].pid, process.pid);
    assert.equal(viaAdmin[0].detail.sha256, adminSha);
    assert.equal(viaAdmin[0].detail.generation, reply.generation);

    // 3. a broken configuration, by admin command and by HUP: refused, and audited
    from = await lastSeq();
    fs.writeFileSync(gw.configPath, `${good}listen: [\n`);
    const refused = await admin(gw, { cmd: 'reload' });
    assert.equal(refused.ok, false);
    let after = await entriesAfter(from);
    const ref1 = after.find((e) => e.action === 'config.reload_refused');
    assert.ok(ref1, `config.reload_refused in ${JSON.stringify(after)}`);
    assert.equal(ref1.uid, process.getuid());
    assert.ok(ref1.detail.error.length > 0, 'the refusal says why');
    assert.equal(after.filter((e) => e.action === 'config.reload').length, 0);

    from = await lastSeq();
    gw.reload();
    const ref2 = await waitFor(async () => (await entriesAfter(from)).find((e) => e.action === 'config.reload_refused'), {
      what: 'config.reload_refused after a broken HUP',
    });
    assert.equal(ref2.uid, -1);
    assert.equal((await gw.status()).config_sha256, adminSha, 'the last good configuration still serves');

    // a refused configuration with a literal provider key: the refusal does not copy the key
    from = await lastSeq();
    const literal = 'sk-live-DoNotCopyMe0123456789abcdef';
    fs.writeFileSync(gw.configPath, good.replace(/api_key: .*/, `api_key: ${JSON.stringify(literal)}`));
    assert.ok(fs.readFileSync(gw.configPath, 'utf8').includes(literal));
    const refused2 = await admin(gw, { cmd: 'reload' });
    assert.equal(refused2.ok, false);
    assert.ok(!JSON.stringify(refused2).includes(literal), 'not in the reply');
    const ref3 = (await entriesAfter(from)).find((e) => e.action === 'config.reload_refused');
    assert.ok(ref3, 'refusal audited');
    assert.match(ref3.detail.error, /api_key/);
    assert.ok(!JSON.stringify(ref3).includes(literal.slice(8)), `the audit entry holds the key: ${JSON.stringify(ref3)}`);
    assert.ok(!gw.readErrorLog().includes(literal.slice(8)), 'the error log holds the key');

    fs.writeFileSync(gw.configPath, good);
    await adminOk(gw, { cmd: 'reload' });
    assert.equal((await adminOk(gw, { cmd: 'audit.verify' })).intact, true);
  });

  it('the store survives a restart: keys made before it work after it, revoked ones stay revoked', async () => {
    const live = await createKey(gw, { tenant: 'durable', name: 'survivor' });
    other = await createKey(gw, { tenant: 'durable', name: 'other' });
    survivor = live;
    const dead = await createKey(gw, { tenant: 'durable', name: 'revoked' });
    await adminOk(gw, { cmd: 'keys.revoke', id: dead.key.id });
    assert.equal((await freshChat(gw.url, live.secret)).status, 200);
    const pepper = fs.readFileSync(path.join(dir, 'data', 'pepper'));
    assert.equal(pepper.length, 32);
    assert.equal(fs.statSync(path.join(dir, 'data', 'pepper')).mode & 0o777, 0o600);
    const entriesBefore = (await adminOk(gw, { cmd: 'audit.export' })).entries.length;

    const res = await gw.stop();
    assert.equal(res.code, 0, `clean exit: ${JSON.stringify(res)}`);
    gw.checkSanitizers();
    await start();

    assert.ok(pepper.equals(fs.readFileSync(path.join(dir, 'data', 'pepper'))), 'the pepper is kept');
    assert.equal((await freshChat(gw.url, live.secret)).status, 200, 'a key from before the restart');
    const ok = await sdk(gw, live.secret).chat.completions.create({ model: 'gpt-4o', messages });
    assert.equal(ok.object, 'chat.completion');
    const r = await freshChat(gw.url, dead.secret);
    assert.equal(r.status, 401);
    assert.match(r.json.error.message, /revoked/);
    const list = await adminOk(gw, { cmd: 'keys.list', tenant: 'durable' });
    assert.deepEqual(list.keys.map((k) => k.name).sort(), ['other', 'revoked', 'survivor']);
    const verify = await adminOk(gw, { cmd: 'audit.verify' });
    assert.equal(verify.intact, true);
    assert.ok(verify.entries >= entriesBefore, 'the trail is kept');
  });

  it('a byte flipped inside one audit record on disk is reported by audit.verify at that sequence number; an unreadable key record is a 503, not a 401', async () => {
    assert.ok(rotatedSeq > 0, 'the first test recorded a key.rotate entry');
    const res = await gw.stop();
    assert.equal(res.code, 0);
    gw.checkSanitizers();

    const env = path.join(dir, 'data', 'control');
    const dump = dumpDb(env, 'audit');
    const keyHex = rotatedSeq.toString(16).padStart(16, '0');
    const pair = dump.pairs.find(([k]) => k === keyHex);
    assert.ok(pair, `entry ${rotatedSeq} (${keyHex}) is in the dump`);
    // flip one bit of the "r" of "key.rotate" in the body
    const val = Buffer.from(pair[1], 'hex');
    const at = val.indexOf(Buffer.from('key.rotate'));
    assert.ok(at > 33, 'the action text is in the body');
    val[at + 4] ^= 0x01; // "key.sotate"
    pair[1] = val.toString('hex');
    loadDb(env, 'audit', dump, path.join(dir, 'audit.dump'));
    // the file really changed
    const again = dumpDb(env, 'audit').pairs.find(([k]) => k === keyHex);
    assert.equal(again[1], pair[1]);

    // and give the survivor key's record an unknown version byte
    assert.ok(survivor, 'the restart test made a key');
    const keys = dumpDb(env, 'keys');
    const rec = keys.pairs.find(([k]) => k === Buffer.from(survivor.key.id).toString('hex'));
    assert.ok(rec, 'the key record is in the dump');
    assert.equal(rec[1].slice(0, 2), '01', 'records start with version 1');
    rec[1] = `7f${rec[1].slice(2)}`;
    loadDb(env, 'keys', keys, path.join(dir, 'keys.dump'));

    await start();
    const broken = await freshChat(gw.url, survivor.secret);
    assert.equal(broken.status, 503, `a key whose record cannot be read: ${broken.text}`);
    assertOpenAIError(broken.json, { type: 'server_error', code: 'store_unavailable' });
    assert.equal((await freshChat(gw.url, other.secret)).status, 200, 'other keys are unaffected');

    const verify = await adminOk(gw, { cmd: 'audit.verify' });
    assert.equal(verify.intact, false, JSON.stringify(verify));
    assert.equal(verify.first_bad, rotatedSeq, JSON.stringify(verify));
    assert.match(verify.why, /altered/);
  });
});
