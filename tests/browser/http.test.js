// The dashboard's HTTP edges over raw sockets: bad paths, traversal, bad
// queries, wrong methods, huge headers, oversized bodies, malformed request
// lines and slowloris-style partial requests. After each, a normal request
// must still be answered (the server keeps serving).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const L = require('./lib');

let dir, dash, host, port;

test.before(async () => {
  dir = L.tmpdir('http');
  // A database with one study, written by a daemon that is gone by then.
  const d = await L.startDaemon(dir);
  await d.rpc.call('study.create', { spec: { name: 'one', space: { x: { type: 'float', low: 0, high: 1 } } } });
  const t = await d.rpc.call('trial.ask', { study: 'one' });
  await d.rpc.call('trial.tell', { study: 'one', trial: t.trial, value: 0.5 });
  await d.stop();
  dash = await L.startDashboard(d.db);
  const u = new URL(dash.base);
  host = u.hostname;
  port = +u.port;
});

test.after(async () => {
  if (dash) await dash.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Sends raw bytes, returns what came back until the server closed or went
// quiet for `quiet` ms.
function raw(bytes, quiet) {
  return new Promise((resolve) => {
    const s = net.createConnection({ host, port });
    let out = '';
    let timer = null;
    const done = () => { clearTimeout(timer); s.destroy(); resolve(out); };
    const arm = () => { clearTimeout(timer); timer = setTimeout(done, quiet || 1500); };
    s.on('data', (d) => { out += d.toString('latin1'); arm(); });
    s.on('end', done);
    s.on('error', done);
    s.on('connect', () => { s.write(bytes); arm(); });
  });
}
const status = (resp) => { const m = resp.match(/^HTTP\/1\.[01] (\d{3})/); return m ? +m[1] : 0; };
const get = (target, headers) => raw(`GET ${target} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
  Object.entries(Object.assign({ 'X-HP-Token': dash.token, Connection: 'close' }, headers || {})).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');

async function stillServing() {
  const r = await get('/api/studies');
  assert.equal(status(r), 200, 'the server stopped serving: ' + r.slice(0, 200));
  assert.match(r, /"name":"one"/);
}

test('a Host header naming another site gets 403 (DNS rebinding), the printed address and localhost do not', async () => {
  const withHost = (h) => raw(`GET /api/studies HTTP/1.1\r\nHost: ${h}\r\nX-HP-Token: ${dash.token}\r\nConnection: close\r\n\r\n`);
  for (const h of [`evil.example:${port}`, `${host}.evil.example:${port}`, `localhost.evil.example:${port}`, `${host}:${port + 1}`, 'evil.example']) {
    const r = await withHost(h);
    assert.equal(status(r), 403, h);
    assert.match(r, /Host header/);
  }
  assert.equal(status(await withHost(`${host}:${port}`)), 200);
  assert.equal(status(await withHost(`localhost:${port}`)), 200);
  // A page of another site whose name the attacker's DNS points at 127.0.0.1:
  // Chromium resolving rebind.test to the dashboard's address, as after a
  // rebinding, gets 403, though it carries the token.
  const browser = await L.launchBrowser([`--host-resolver-rules=MAP rebind.test ${host}`]);
  try {
    const page = await browser.newPage();
    const resp = await page.goto(dash.url.replace(`//${host}:`, '//rebind.test:'));
    assert.equal(resp.status(), 403);
    assert.match(await page.textContent('body'), /Host header/);
    const ok = await page.goto(dash.url);
    assert.equal(ok.status(), 200);
  } finally {
    await browser.close();
  }
  await stillServing();
});

test('paths outside the routes and traversal get clean errors', async () => {
  const cases = [
    ['/nope', 404], ['/etc/passwd', 404], ['/api/studies/', 404], ['/api/../etc/passwd', 400],
    ['/../../../etc/passwd', 400], ['/%2e%2e/%2e%2e/etc/passwd', 400], ['/api%2fstudies', 400],
    ['/..%5c..%5cwindows', 400], ['/api/st%00udies', 400], ['/./api/studies', 400], ['//etc/passwd', 404],
  ];
  for (const [target, want] of cases) {
    const r = await get(target);
    assert.equal(status(r), want, target + ' -> ' + r.slice(0, 120));
    assert.match(r, /\{"error":"[^"]+","status":\d+\}/, target);
    assert.doesNotMatch(r, /root:x:0:0/);
  }
  await stillServing();
});

test('bad queries and methods get clean errors', async () => {
  const cases = [
    ['/api/study?study=%ff%fe', 400, 'UTF-8'], ['/api/study?study=a&study=b', 400, 'twice'],
    ['/api/study?study=%zz', 400, 'escape'], ['/api/study?nope=1', 400, 'unknown'],
    ['/api/study?study=' + 'x'.repeat(600), 400, 'too long'], ['/api/columns?study=one&from=-3', 400, 'trial number'],
    ['/api/study?study=missing', 404, 'no study'], ['/api/columns?study=missing', 404, 'no such study'],
    ['/api/study?study=a%0Ab', 400, 'control'],
  ];
  for (const [target, want, says] of cases) {
    const r = await get(target);
    assert.equal(status(r), want, target + ' -> ' + r.slice(0, 160));
    assert.match(r, new RegExp(says), target);
  }
  let r = await raw(`POST /api/studies HTTP/1.1\r\nHost: ${host}:${port}\r\nX-HP-Token: ${dash.token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  assert.equal(status(r), 405);
  r = await raw(`DELETE / HTTP/1.1\r\nHost: ${host}:${port}\r\nX-HP-Token: ${dash.token}\r\nConnection: close\r\n\r\n`);
  assert.equal(status(r), 405);
  // a body over 64 KiB
  const body = 'x'.repeat(70000);
  r = await raw(`POST /api/action?study=one&do=enqueue HTTP/1.1\r\nHost: ${host}:${port}\r\nX-HP-Token: ${dash.token}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n` + body);
  assert.equal(status(r), 413);
  // no daemon: actions say so
  r = await raw(`POST /api/action?study=one&do=stop HTTP/1.1\r\nHost: ${host}:${port}\r\nX-HP-Token: ${dash.token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  assert.equal(status(r), 409);
  assert.match(r, /no hpsearch daemon/);
  await stillServing();
});

test('huge headers, long targets and malformed requests are refused', async () => {
  let r = await get('/api/studies', { 'X-Big': 'y'.repeat(100000) });
  assert.ok([431, 413, 400, 0].includes(status(r)), 'huge header -> ' + r.slice(0, 100));
  assert.notEqual(status(r), 200);
  r = await get('/api/study?study=' + 'z'.repeat(20000));
  assert.ok([414, 431, 400].includes(status(r)), 'long target -> ' + r.slice(0, 100));
  for (const bytes of ['GARBAGE\r\n\r\n', 'GET\r\n\r\n', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n', '\x00\x01\x02\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n']) {
    r = await raw(bytes);
    assert.notEqual(status(r), 200, JSON.stringify(bytes) + ' -> ' + r.slice(0, 80));
  }
  // many headers
  let many = '';
  for (let i = 0; i < 3000; i++) many += `X-H${i}: v\r\n`;
  r = await raw(`GET /api/studies HTTP/1.1\r\nHost: ${host}:${port}\r\nX-HP-Token: ${dash.token}\r\n${many}Connection: close\r\n\r\n`);
  assert.notEqual(status(r), 200);
  await stillServing();
});

test('slow partial requests neither block others nor stay forever', async () => {
  // 20 connections that send a request line and then one header byte a second
  const socks = [];
  let closedByServer = 0;
  for (let i = 0; i < 20; i++) {
    const s = net.createConnection({ host, port });
    s.on('error', () => {});
    s.on('close', () => { closedByServer++; });
    s.write('GET /api/studies HTTP/1.1\r\nHost: ${host}:${port}\r\nX-Slow: ');
    socks.push(s);
  }
  const drip = setInterval(() => { for (const s of socks) if (!s.destroyed) s.write('a'); }, 1000);
  try {
    await L.sleep(1500);
    const t0 = Date.now();
    await stillServing();
    assert.ok(Date.now() - t0 < 2000, 'a normal request waited behind the slow ones');
  } finally {
    clearInterval(drip);
  }
  // once they stop sending, the server closes them after its idle timeout (10 s)
  await L.until('the idle partial requests to be closed', () => closedByServer === 20, 20000);
  await stillServing();
});
