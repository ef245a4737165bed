// Helpers of the dashboard's browser tests: a daemon and a dashboard started
// from the build in a temporary folder, a JSON-RPC client on the daemon's
// socket, and Debian's Chromium driven by playwright-core (never a browser
// download: executablePath is /usr/bin/chromium).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = process.env.HP_BUILD_DIR ? path.resolve(ROOT, process.env.HP_BUILD_DIR) : path.join(ROOT, 'build');
const BIN = path.join(BUILD, 'hpsearch');
const SHOTS = path.join(BUILD, 'dashboard');
const CHROMIUM = process.env.HP_CHROMIUM || '/usr/bin/chromium';

function tmpdir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dash-' + tag + '-'));
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function until(what, fn, ms) {
  const end = Date.now() + (ms || 10000);
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(50);
  }
  throw new Error('timed out waiting for ' + what + (last instanceof Error ? ': ' + last.message : ''));
}

// A daemon on its own database and socket; .stop() shuts it down.
async function startDaemon(dir, extra) {
  const db = path.join(dir, 'studies.db'), sock = path.join(dir, 'd.sock');
  const log = fs.openSync(path.join(dir, 'daemon.log'), 'a');
  const p = spawn(BIN, ['daemon', '--db', db, '--socket', sock, '--jobs', '2'].concat(extra || []),
    { stdio: ['ignore', log, log] });
  await until('the daemon socket', () => fs.existsSync(sock), 15000);
  const rpc = await connect(sock);
  await until('the daemon to answer', () => rpc.call('daemon.status'), 15000);
  return {
    db, sock, proc: p, rpc,
    async stop() {
      rpc.close();
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
    },
  };
}

// A JSON-RPC 2.0 client on a Unix socket (docs/protocol.md).
function connect(sock) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: sock });
    let buf = '', id = 0;
    const waiting = new Map();
    s.on('data', (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = JSON.parse(line);
        if (m.id !== undefined && waiting.has(m.id)) {
          const w = waiting.get(m.id);
          waiting.delete(m.id);
          if (m.error) w.reject(new Error(m.error.message)); else w.resolve(m.result);
        }
      }
    });
    s.on('error', reject);
    s.on('connect', () => resolve({
      call(method, params) {
        return new Promise((res, rej) => {
          const k = ++id;
          waiting.set(k, { resolve: res, reject: rej });
          s.write(JSON.stringify({ jsonrpc: '2.0', id: k, method, params: params || {} }) + '\n');
        });
      },
      close() { s.end(); },
    }));
  });
}

// `hpsearch dashboard`: resolves with its printed address once it listens.
function startDashboard(db, extra) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['dashboard', '--db', db].concat(extra || []), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(http:\/\/[^\s]+\/)\?token=([0-9a-f]+)\n/);
      if (m) resolve({ url: m[0].trim(), base: m[1].replace(/\/$/, ''), token: m[2], proc: p,
        stderr: () => err,
        async stop() { if (p.exitCode === null) { p.kill('SIGINT'); await new Promise((r) => p.once('exit', r)); } } });
    });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => reject(new Error('dashboard exited with ' + code + ': ' + err)));
  });
}

async function launchBrowser(extraArgs) {
  const { chromium } = require('playwright-core');
  const profile = tmpdir('profile');
  // A fresh profile folder each run; flags keep Chromium from reaching the network.
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'].concat(extraArgs || []),
    viewport: { width: 1400, height: 1000 },
  });
  ctx.profileDir = profile;
  const close = ctx.close.bind(ctx);
  ctx.close = async () => { await close(); fs.rmSync(profile, { recursive: true, force: true }); };
  return ctx;
}

function hp(args, opts) {
  return execFileSync(BIN, args, Object.assign({ encoding: 'utf8' }, opts || {}));
}

module.exports = { ROOT, BUILD, BIN, SHOTS, tmpdir, sleep, until, startDaemon, connect, startDashboard, launchBrowser, hp };
