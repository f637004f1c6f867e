// Compatibility check against the upstream npm client `sessionistheader` (GPL-3.0, installed at
// test time, never vendored). Plays the client and the Real Service against a running keyward:
// POST /init → POST /connect (signed with the namespace secret) → PUT/GET/DELETE /key (signed
// with keyid = sessionToken, secret = initToken), every Authorization header made by the
// package's own header function. Exits non-zero with a message on the first mismatch.
//
// Usage: node sessionist-client.mjs
//   KEYWARD_URL       base URL, e.g. http://127.0.0.1:3000
//   KS_NAMESPACE      namespace the operator created
//   KS_SECRET         that namespace's secret
//   KS_USER_ID        user id to connect (default "npm-user")
//   SESSIONIST_PREFIX directory where `npm install --prefix <dir> sessionistheader@0.1.14` ran

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

const base = need('KEYWARD_URL');
const namespace = need('KS_NAMESPACE');
const nsSecret = need('KS_SECRET');
const userId = process.env.KS_USER_ID || 'npm-user';
const prefix = need('SESSIONIST_PREFIX');

// The package is CommonJS; resolve it from the install prefix, not from this file's location.
const require = createRequire(path.join(path.resolve(prefix), 'package.json'));
const sessionistHeader = require('sessionistheader');
const pkg = require('sessionistheader/package.json');
if (pkg.version !== '0.1.14') {
  throw new Error(`expected sessionistheader 0.1.14, found ${pkg.version}`);
}

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
}

// upstream: generate(keyid, secret, method, path, payload, date) → Promise<header>
async function signedFetch(keyid, secret, method, target, body, contentType) {
  const date = new Date().toUTCString(); // IMF-fixdate
  const payload = body === undefined ? '' : body;
  const authorization = await sessionistHeader(keyid, secret, method, target, payload, date);
  const headers = { authorization, 'x-date': date };
  if (contentType) headers['content-type'] = contentType;
  const init = { method, headers };
  if (body !== undefined && body !== '') init.body = body;
  const resp = await fetch(base + target, init);
  return { status: resp.status, headers: resp.headers, body: Buffer.from(await resp.arrayBuffer()), authorization, date };
}

// The README's way: the date in `Date` (not possible from a browser), over node:http.
function rawRequest(method, target, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(base + target, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const results = [];
function step(name, detail) {
  results.push(name);
  console.log(`ok ${results.length} ${name}${detail ? ` (${detail})` : ''}`);
}

// 1. Client: /init.
let r = await fetch(base + '/init', { method: 'POST' });
check(r.status === 200, `/init status ${r.status}`);
const { initToken } = await r.json();
check(/^[A-Za-z0-9_-]{43}$/.test(initToken), 'initToken shape');
const initTokenHash = createHash('sha512').update(initToken, 'utf8').digest('base64');
step('init');

// 2. Real Service: /connect signed with the namespace secret.
const connectBody = JSON.stringify({ namespace, userId, initTokenHash });
r = await signedFetch(namespace, nsSecret, 'POST', '/connect', connectBody, 'application/json');
check(r.status === 200, `/connect status ${r.status}: ${r.body}`);
const { sessionToken } = JSON.parse(r.body.toString('utf8'));
check(/^[A-Za-z0-9_-]{43}$/.test(sessionToken), 'sessionToken shape');
step('connect');

// 3. Client: PUT /key with newlines and non-ASCII text (0.1.8 got those wrong; 0.1.14 must not).
const value = JSON.stringify({ kty: 'oct', k: 'c2VjcmV0', note: 'åäö €' }, null, 2) + '\n';
r = await signedFetch(sessionToken, initToken, 'PUT', '/key', value, 'application/json');
check(r.status === 204, `PUT /key status ${r.status}: ${r.body}`);
step('put', `${Buffer.byteLength(value)} bytes`);

// 4. GET /key via fetch (X-Date).
r = await signedFetch(sessionToken, initToken, 'GET', '/key');
check(r.status === 200, `GET /key status ${r.status}: ${r.body}`);
check(r.body.toString('utf8') === value, 'GET /key returns the stored bytes');
check(r.headers.get('content-type') === 'application/json', 'stored content type');
check(r.headers.get('cache-control') === 'no-store', 'Cache-Control: no-store');
step('get (x-date)');

// 5. The identical request again is a replay.
const replay = await fetch(base + '/key', { headers: { authorization: r.authorization, 'x-date': r.date } });
check(replay.status === 401, `replayed GET /key status ${replay.status}`);
step('replay refused');

// 6. GET /key with `Date` instead of `X-Date`, as upstream's README does it.
const date = new Date().toUTCString();
const authorization = await sessionistHeader(sessionToken, initToken, 'GET', '/key', '', date);
let raw = await rawRequest('GET', '/key', { authorization, date });
check(raw.status === 200 && raw.body.toString('utf8') === value, `GET /key with Date: ${raw.status}`);
step('get (date)');

// 7. Wrong secret (the hash instead of the init token) is refused.
r = await signedFetch(sessionToken, initTokenHash, 'GET', '/key');
check(r.status === 401, `GET /key with a wrong secret: ${r.status}`);
step('wrong secret refused');

// 8. DELETE, then nothing is stored.
r = await signedFetch(sessionToken, initToken, 'DELETE', '/key');
check(r.status === 204, `DELETE /key status ${r.status}`);
r = await signedFetch(sessionToken, initToken, 'GET', '/key');
check(r.status === 404 && JSON.parse(r.body.toString('utf8')).code === 'KEY_NOT_FOUND', `GET after DELETE: ${r.status}`);
step('delete');

console.log(JSON.stringify({ ok: true, steps: results }));
