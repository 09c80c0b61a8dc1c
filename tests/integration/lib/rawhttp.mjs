// A byte-exact HTTP/1.1 client over raw sockets, for the edge cases fetch refuses to send
// (conflicting framing headers, partial requests, pipelining) and for watching exactly when
// the server closes a connection.
import net from 'node:net';

/**
 * Parse as many complete HTTP responses as buf holds. Returns {responses, rest}. Each response
 * is {status, reason, headers (lowercased names; repeated names joined by ", "), rawHeaders,
 * body (Buffer)}. With eof, a response without framing takes the rest of the bytes.
 */
export function parseResponses(buf, { eof = false, head = false } = {}) {
  const responses = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end === -1) break;
    const headText = buf.subarray(off, end).toString('latin1');
    const [statusLine, ...lines] = headText.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers = {};
    const rawHeaders = [];
    for (const l of lines) {
      const i = l.indexOf(':');
      const name = l.slice(0, i).trim().toLowerCase();
      const value = l.slice(i + 1).trim();
      rawHeaders.push([name, value]);
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const status = Number(m[1]);
    let p = end + 4;
    let body;
    if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le === -1) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size in response');
        if (size === 0) {
          const te = buf.indexOf('\r\n\r\n', le);
          if (te === -1 && buf.length < le + 4) break;
          // no trailers expected: "0\r\n\r\n"
          if (buf.subarray(le, le + 4).toString() !== '\r\n\r\n') break;
          p = le + 4;
          complete = true;
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < p + n) break;
      body = buf.subarray(p, p + n);
      p += n;
    } else if (eof) {
      body = buf.subarray(p);
      p = buf.length;
    } else {
      break;
    }
    if (status >= 100 && status < 200) {
      off = p;
      continue; // interim responses (100 Continue) are not answers
    }
    responses.push({ status, reason: m[2], headers, rawHeaders, body, text: body.toString() });
    off = p;
  }
  return { responses, rest: buf.subarray(off) };
}

/**
 * Connect, write each item of writes in turn (strings/Buffers; a number is a pause in ms),
 * then collect everything until the server closes or timeout ms pass. Returns {data,
 * closed (by the server), elapsed, responses, error}.
 */
export function exchange(port, writes, { timeout = 5000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    const t0 = Date.now();
    let done = false;
    let closeAt = null;
    const sock = net.connect(port, host);
    const finish = (closed, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const data = Buffer.concat(chunks);
      let parsed = { responses: [] };
      try {
        parsed = parseResponses(data, { eof: closed });
      } catch (e) {
        error = error ?? e;
      }
      resolve({
        data,
        text: data.toString('latin1'),
        closed,
        elapsed: Date.now() - t0,
        closedAfter: closeAt,
        responses: parsed.responses,
        error,
      });
    };
    const timer = setTimeout(() => finish(false), timeout);
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => {
      closeAt = Date.now() - t0;
      finish(true);
    });
    sock.on('error', (e) => {
      closeAt = Date.now() - t0;
      // ECONNRESET after a final answer is a close too
      finish(true, e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : e);
    });
    sock.on('connect', async () => {
      for (const w of writes) {
        if (done) return;
        if (typeof w === 'number') await new Promise((r) => setTimeout(r, w));
        else sock.write(w);
      }
    });
  });
}

/**
 * A persistent connection: send() bytes, next() waits for the next complete response.
 * closed is set when the server closes.
 */
export function connect(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    let buf = Buffer.alloc(0);
    const waiters = [];
    const queue = [];
    const conn = {
      sock,
      closed: false,
      send(data) {
        sock.write(data);
      },
      /** The next response, or rejects after timeout ms. */
      next(timeout = 10000) {
        if (queue.length) return Promise.resolve(queue.shift());
        if (conn.closed) return Promise.reject(new Error('connection closed by the server'));
        return new Promise((res, rej) => {
          const w = { res, rej };
          w.timer = setTimeout(() => {
            waiters.splice(waiters.indexOf(w), 1);
            rej(new Error(`no response within ${timeout} ms`));
          }, timeout);
          waiters.push(w);
        });
      },
      /** Resolves true when the server closes within ms, else false. */
      waitClose(ms) {
        if (conn.closed) return Promise.resolve(true);
        return new Promise((res) => {
          const t = setTimeout(() => res(false), ms);
          sock.once('close', () => {
            clearTimeout(t);
            res(true);
          });
        });
      },
      close() {
        sock.destroy();
      },
    };
    const pump = () => {
      const { responses, rest } = parseResponses(buf);
      buf = Buffer.from(rest);
      for (const r of responses) {
        const w = waiters.shift();
        if (w) {
          clearTimeout(w.timer);
          w.res(r);
        } else queue.push(r);
      }
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      pump();
    });
    sock.on('close', () => {
      conn.closed = true;
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.rej(new Error('connection closed by the server'));
      }
    });
    sock.on('error', () => {});
    sock.once('connect', () => resolve(conn));
    sock.once('error', reject);
  });
}

/** A request's bytes: method, path, headers object, optional body (sets Content-Length). */
export function request(method, path, { headers = {}, body, host = 'localhost' } = {}) {
  const h = { Host: host, ...headers };
  if (body !== undefined && !Object.keys(h).some((k) => /^(content-length|transfer-encoding)$/i.test(k))) {
    h['Content-Length'] = Buffer.byteLength(body);
  }
  let s = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(h)) s += `${k}: ${v}\r\n`;
  return s + '\r\n' + (body ?? '');
}
