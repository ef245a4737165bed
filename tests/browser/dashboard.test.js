// The dashboard in a real headless Chromium (Debian's), against a real
// daemon: a study of known trials (every panel draws the right number of
// points), a live update after a trial ends, Stop on the page stops the study
// in the database, a wrong token gets 403. Screenshots go to build/dashboard/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const L = require('./lib');

// The known study: trial number -> [x, opt, intermediate values, final state, value].
const KNOWN = [
  [1, 'a', [3, 2, 1.5], 'COMPLETE', 1.5],
  [2, 'b', [4, 3, 2.5], 'COMPLETE', 2.5],
  [3, 'a', [5, 4.5], 'PRUNED', null],
  [4, 'b', [6], 'FAIL', null],
  [5, 'a', [2, 1, 0.5], 'COMPLETE', 0.5],
  [6, 'b', [7, 6.5], 'PRUNED', null],
  [7, 'a', [], 'COMPLETE', 3.0],
  [8, 'b', [1, 0.9, 0.8], 'COMPLETE', 0.8],
];
const SPACE = { x: { type: 'float', low: 0, high: 10 }, opt: { type: 'categorical', choices: ['a', 'b'] } };

async function runTrial(rpc, study, x, opt, steps, state, value) {
  await rpc.call('trial.enqueue', { study, params: { x, opt } });
  const t = await rpc.call('trial.ask', { study });
  for (let s = 0; s < steps.length; s++) await rpc.call('trial.report', { study, trial: t.trial, step: s, value: steps[s] });
  const p = { study, trial: t.trial, state };
  if (value !== null) p.value = value;
  if (state === 'FAIL') p.reason = 'boom';
  runTrial.told = Date.now();
  await rpc.call('trial.tell', p);
  return t.trial;
}

let dir, daemon, dash, browser;

test.before(async () => {
  fs.mkdirSync(L.SHOTS, { recursive: true });
  dir = L.tmpdir('t');
  daemon = await L.startDaemon(dir);
  await daemon.rpc.call('study.create', { spec: { name: 'known', direction: 'minimize', space: SPACE } });
  for (const [x, opt, steps, state, value] of KNOWN) await runTrial(daemon.rpc, 'known', x, opt, steps, state, value);
  // A study the daemon runs by itself, to stop from the page.
  await daemon.rpc.call('study.create', { spec: {
    name: 'runner', direction: 'minimize', n_trials: 100000, parallelism: 1,
    sampler: { type: 'random', seed: 1 }, space: { x: { type: 'float', low: 0, high: 1 } },
    objective: { command: ['sh', '-c', 'echo "{\\"step\\": 0, \\"value\\": $0}"; sleep 0.2; echo "{\\"value\\": $0}"', '$x'] } } });
  dash = await L.startDashboard(daemon.db);
  browser = await L.launchBrowser();
});

test.after(async () => {
  if (browser) await browser.close();
  if (dash) await dash.stop();
  if (daemon) await daemon.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function openStudy(page, name) {
  await page.goto(dash.url + '#/study/' + encodeURIComponent(name));
  await page.waitForSelector('#panel-table[data-points]:not([data-points="0"])', { timeout: 15000 });
}
const points = (page, id) => page.getAttribute('#panel-' + id, 'data-points').then(Number);

test('the studies page lists both studies', async () => {
  const page = await browser.newPage();
  await page.goto(dash.url);
  await page.waitForSelector('#studies tbody tr');
  const names = await page.$$eval('#studies tbody tr', (rows) => rows.map((r) => r.getAttribute('data-study')));
  assert.deepEqual(names, ['known', 'runner']);
  assert.equal(await points(page, 'studies'), 2);
  await page.screenshot({ path: path.join(L.SHOTS, 'studies.png'), fullPage: true });
  await page.close();
});

test('every panel of a known study has the right number of points', async () => {
  const page = await browser.newPage();
  await openStudy(page, 'known');
  assert.equal(await points(page, 'history'), 5);                      // COMPLETE trials
  assert.equal(Number(await page.getAttribute('#panel-history', 'data-best')), 0.5);
  assert.equal(await page.getAttribute('#panel-history', 'data-y'), '0.5,3'); // the server's range of the values
  assert.equal(await points(page, 'intermediate'), 7);                 // trials with a curve
  assert.equal(await page.getAttribute('#panel-intermediate', 'data-x'), '0,2');
  assert.equal(await page.getAttribute('#panel-intermediate', 'data-y'), '0.5,7');
  assert.equal(Number(await page.getAttribute('#panel-intermediate', 'data-pruned')), 2);
  assert.equal(await points(page, 'parallel'), 5);
  assert.equal(Number(await page.getAttribute('#panel-parallel', 'data-axes')), 3); // x, opt, objective
  assert.equal(await points(page, 'slice'), 10);                       // 5 trials x 2 parameters
  assert.equal(await points(page, 'contour'), 5);
  assert.equal(await points(page, 'timeline'), 8);
  assert.equal(await points(page, 'table'), 8);
  // importance from view/ (PED-ANOVA): both parameters, x (the one the values follow) first
  await page.waitForSelector('#panel-importance[data-points="2"]', { timeout: 10000 });
  assert.deepEqual(await page.$$eval('#importance-body tr', (r) => r.map((x) => x.getAttribute('data-param'))), ['x', 'opt']);
  await page.waitForSelector('#panel-advice');
  const rows = await page.$$eval('#trials-body tr[data-trial]', (r) => r.map((x) => x.getAttribute('data-trial')));
  assert.deepEqual(rows, ['0', '1', '2', '3', '4', '5', '6', '7']);
  await page.screenshot({ path: path.join(L.SHOTS, 'study.png'), fullPage: true });

  // sort by value: the best first, empty values last
  await page.click('#trials-head th[data-key="v0"]');
  const sorted = await page.$$eval('#trials-body tr[data-trial]', (r) => r.map((x) => x.getAttribute('data-trial')));
  assert.deepEqual(sorted.slice(0, 5), ['4', '7', '0', '1', '6']);
  // filter: only PRUNED and FAIL trials
  for (const s of ['RUNNING', 'COMPLETE', 'WAITING']) await page.uncheck(`#panel-table input[data-state="${s}"]`);
  assert.equal(await points(page, 'table'), 3);
  // parameter range filter: x in [2, 4]
  for (const s of ['RUNNING', 'COMPLETE', 'WAITING']) await page.check(`#panel-table input[data-state="${s}"]`);
  await page.fill('#panel-table [data-filter-lo="0"]', '2');
  await page.fill('#panel-table [data-filter-hi="0"]', '4');
  await page.press('#panel-table [data-filter-hi="0"]', 'Enter');
  assert.equal(await points(page, 'table'), 3);

  // one trial: the failed one, with its reason and curve
  await page.goto(dash.url + '#/study/known/trial/3');
  await page.waitForSelector('#panel-trial');
  assert.equal(await page.textContent('#trial-state'), 'FAIL');
  assert.equal(await points(page, 'trial'), 1);
  assert.match(await page.textContent('main'), /boom/);
  await page.screenshot({ path: path.join(L.SHOTS, 'trial.png'), fullPage: true });
  await page.close();
});

test('a report file opens with no server and the same panels', async () => {
  const file = path.join(dir, 'known.html');
  L.hp(['report', 'known', '-o', file, '--db', daemon.db], { stdio: ['ignore', 'pipe', 'pipe'] });
  const html = fs.readFileSync(file, 'utf8');
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i); // nothing to load from anywhere
  const page = await browser.newPage();
  const asked = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) asked.push(r.url()); });
  await page.goto('file://' + file);
  await page.waitForSelector('#panel-table[data-points]:not([data-points="0"])', { timeout: 15000 });
  assert.equal(await points(page, 'history'), 5);
  assert.equal(await points(page, 'intermediate'), 7);
  assert.equal(await points(page, 'parallel'), 5);
  assert.equal(await points(page, 'slice'), 10);
  assert.equal(await points(page, 'timeline'), 8);
  assert.equal(await points(page, 'table'), 8);
  assert.equal(await page.textContent('#live'), 'report');
  await page.waitForSelector('#panel-importance[data-points="2"]', { timeout: 10000 }); // carried in the file
  assert.deepEqual(asked, []);
  await page.screenshot({ path: path.join(L.SHOTS, 'report.png'), fullPage: true });
  await page.close();
});

test('a trial that ends shows on the open page within a second', async () => {
  const page = await browser.newPage();
  await openStudy(page, 'known');
  await page.waitForSelector('#live.on', { timeout: 10000 });
  // three trials, one at a time: the median time until the page shows it
  const times = [];
  for (const [k, v] of [[9, 0.2], [9.5, 0.3], [8.5, 0.4]]) {
    const before = await points(page, 'history');
    await runTrial(daemon.rpc, 'known', k, 'a', [v + 0.1, v], 'COMPLETE', v);
    await page.waitForFunction((n) => +document.getElementById('panel-history').getAttribute('data-points') === n + 1, before, { timeout: 10000 });
    times.push(Date.now() - runTrial.told); // from the moment trial.tell was sent
  }
  times.sort((a, b) => a - b);
  assert.ok(times[1] < 1000, `the new trials showed after ${times.join(', ')} ms`);
  assert.equal(await points(page, 'table'), 11);
  assert.equal(Number(await page.getAttribute('#panel-history', 'data-best')), 0.2);
  await page.close();
});

test('a live update redraws the panels whose data changed, and only those', async () => {
  await daemon.rpc.call('study.create', { spec: { name: 'steps', direction: 'minimize', space: SPACE } });
  for (const [x, v] of [[1, 0.7], [2, 0.6]]) await runTrial(daemon.rpc, 'steps', x, 'a', [v + 1, v], 'COMPLETE', v);
  const page = await browser.newPage();
  await openStudy(page, 'steps');
  await page.waitForSelector('#live.on', { timeout: 10000 });
  const draws = () => page.$$eval('section[data-panel]', (ps) => Object.fromEntries(ps.map((p) => [p.id.slice(6), +(p.getAttribute('data-draws') || 0)])));
  const before = await draws();
  for (const p of ['history', 'parallel', 'contour', 'slice', 'timeline', 'table', 'intermediate']) assert.equal(before[p], 1, p);
  // a trial starts: the table and the timeline show it; the plots of complete trials are not drawn again
  await daemon.rpc.call('trial.enqueue', { study: 'steps', params: { x: 3, opt: 'b' } });
  const t = await daemon.rpc.call('trial.ask', { study: 'steps' });
  await page.waitForFunction(() => document.getElementById('panel-timeline').getAttribute('data-points') === '3', null, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById('panel-table').getAttribute('data-points') === '3', null, { timeout: 10000 });
  const started = await draws();
  for (const p of ['history', 'parallel', 'contour', 'slice']) assert.equal(started[p], before[p], p + ' was drawn again for a trial that only started');
  assert.ok(started.timeline > before.timeline && started.table > before.table);
  // it reports and ends: every plot shows it
  await daemon.rpc.call('trial.report', { study: 'steps', trial: t.trial, step: 0, value: 0.9 });
  await daemon.rpc.call('trial.tell', { study: 'steps', trial: t.trial, state: 'COMPLETE', value: 0.5 });
  for (const [p, n] of [['history', 3], ['parallel', 3], ['contour', 3], ['slice', 6], ['intermediate', 3]])
    await page.waitForFunction(([id, want]) => document.getElementById('panel-' + id).getAttribute('data-points') === String(want), [p, n], { timeout: 10000 });
  assert.equal(Number(await page.getAttribute('#panel-history', 'data-best')), 0.5);
  await page.close();
});

test('Stop on the page stops the study in the database', async () => {
  const page = await browser.newPage();
  await openStudy(page, 'runner');
  await page.waitForSelector('#btn-stop:not([disabled])');
  await page.click('#btn-stop');
  await page.waitForSelector('#study-state.st-stopped', { timeout: 20000 });
  const st = JSON.parse(L.hp(['status', 'runner', '--db', daemon.db, '--json']));
  assert.equal(st.state, 'stopped');
  await page.screenshot({ path: path.join(L.SHOTS, 'stopped.png'), fullPage: true });
  // and Resume runs it again
  await page.click('#btn-resume');
  await page.waitForSelector('#study-state.st-running', { timeout: 20000 });
  await page.click('#btn-stop');
  await page.waitForSelector('#study-state.st-stopped', { timeout: 20000 });
  // Enqueue a trial with x = 0.125 from the page: stored WAITING; once the
  // study is resumed it runs first with that value (the command reports x)
  await page.click('#btn-enqueue');
  await page.fill('#enqueue-form input[name="x"]', '0.125');
  await page.click('#enqueue-form button[type="submit"]');
  await page.waitForFunction(() => /enqueue/.test(document.getElementById('toast').textContent), null, { timeout: 10000 });
  const m = (await page.textContent('#toast')).match(/trial (\d+) enqueued/);
  assert.ok(m, 'no enqueue message');
  const n = +m[1];
  assert.equal((await daemon.rpc.call('trial.get', { study: 'runner', trial: n })).state, 'WAITING');
  await page.click('#btn-resume');
  const done = await L.until('the enqueued trial to run', async () => {
    const t = await daemon.rpc.call('trial.get', { study: 'runner', trial: n });
    return t.state === 'COMPLETE' ? t : null;
  }, 20000);
  assert.equal(done.params.x, 0.125);
  assert.equal(done.value, 0.125);
  await page.click('#btn-stop');
  await page.waitForSelector('#study-state.st-stopped', { timeout: 20000 });
  await page.close();
});

// The columns container (docs/dashboard.md, "Columns") read in node: each
// column in its type, padded to 8 bytes.
const COLUMN_TYPES = { u1: Uint8Array, i2: Int16Array, i4: Int32Array, f4: Float32Array, f8: Float64Array };
function decodeColumns(buf) {
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'HPC2');
  const hl = buf.readUInt32LE(4);
  const header = JSON.parse(buf.subarray(8, 8 + hl).toString('utf8'));
  const cols = {};
  let off = 8 + hl;
  for (const [name, len, type] of header.columns) {
    const T = COLUMN_TYPES[type];
    assert.ok(T, 'column type ' + type);
    cols[name] = new T(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + len * T.BYTES_PER_ELEMENT));
    off += Math.ceil(len * T.BYTES_PER_ELEMENT / 8) * 8;
  }
  assert.equal(off, buf.length);
  return { header, cols };
}

test('a study with two objectives gets its Pareto front', async () => {
  const db = path.join(dir, 'mo.db');
  require('node:child_process').execFileSync(path.join(L.BUILD, 'bench_dashboard_gen'), [db, '300', 'mo', '2']);
  const mo = await L.startDashboard(db);
  try {
    const r = await fetch(mo.base + '/api/columns?study=mo', { headers: { 'X-HP-Token': mo.token } });
    const { header, cols } = decodeColumns(Buffer.from(await r.arrayBuffer()));
    assert.deepEqual(header.directions, ['minimize', 'maximize']);
    // the front, computed here by brute force: minimize value0, maximize value1
    const done = [];
    for (let i = 0; i < header.n; i++)
      if (cols.state[i] === 1 && Number.isFinite(cols.value0[i]) && Number.isFinite(cols.value1[i])) done.push(i);
    const dominated = (i) => done.some((k) => k !== i && cols.value0[k] <= cols.value0[i] && cols.value1[k] >= cols.value1[i] &&
      (cols.value0[k] < cols.value0[i] || cols.value1[k] > cols.value1[i]));
    const front = done.filter((i) => !dominated(i));
    assert.ok(front.length >= 2 && front.length < done.length);
    const page = await browser.newPage();
    await page.goto(mo.url + '#/study/mo');
    await page.waitForSelector('#panel-pareto[data-front]', { timeout: 15000 });
    assert.equal(await points(page, 'pareto'), done.length);
    assert.equal(Number(await page.getAttribute('#panel-pareto', 'data-front')), front.length);
    await page.screenshot({ path: path.join(L.SHOTS, 'pareto.png'), fullPage: false });
    await page.close();
  } finally {
    await mo.stop();
  }
});

test('a big study: one-line-per-trial plots draw a sample with the best trials, the others every point', async () => {
  const db = path.join(dir, 'big.db');
  require('node:child_process').execFileSync(path.join(L.BUILD, 'bench_dashboard_gen'), [db, '6000', 'big']);
  const big = await L.startDashboard(db);
  try {
    const r = await fetch(big.base + '/api/columns?study=big', { headers: { 'X-HP-Token': big.token } });
    const { header, cols } = decodeColumns(Buffer.from(await r.arrayBuffer()));
    let done = 0, curves = 0, best = Infinity;
    for (let i = 0; i < header.n; i++) {
      if (cols.state[i] === 1 && Number.isFinite(cols.value0[i])) { done++; best = Math.min(best, cols.value0[i]); }
      if (cols.iv_off[i + 1] > cols.iv_off[i]) curves++;
    }
    const page = await browser.newPage();
    await page.goto(big.url + '#/study/big');
    await page.waitForSelector('main[data-rendered]', { timeout: 60000 });
    // every point where a plot has one per trial
    assert.equal(await points(page, 'history'), done);
    assert.equal(await points(page, 'contour'), done);
    assert.equal(await points(page, 'table'), header.n);
    assert.equal(Number(await page.getAttribute('#panel-history', 'data-best')), best);
    // a sample where it has one line per trial: capped, and says of how many
    assert.equal(await points(page, 'intermediate'), 2000);
    assert.equal(Number(await page.getAttribute('#panel-intermediate', 'data-total')), curves);
    assert.equal(await points(page, 'parallel'), 4000);
    assert.equal(Number(await page.getAttribute('#panel-parallel', 'data-total')), done);
    assert.match(await page.textContent('#panel-parallel .note'), /drawn: 4000 of \d+/);
    await page.screenshot({ path: path.join(L.SHOTS, 'big.png'), fullPage: false });
    await page.close();
  } finally {
    await big.stop();
  }
});

test('a wrong or missing token gets 403', async () => {
  const page = await browser.newPage();
  const bad = await page.goto(dash.base + '/?token=' + '0'.repeat(64));
  assert.equal(bad.status(), 403);
  const none = await page.goto(dash.base + '/');
  assert.equal(none.status(), 403);
  const api = await page.request.get(dash.base + '/api/studies', { headers: { 'X-HP-Token': 'nope' } });
  assert.equal(api.status(), 403);
  const post = await page.request.post(dash.base + '/api/action?study=runner&do=resume&token=' + dash.token);
  assert.equal(post.status(), 403); // actions take the token only in the header
  await page.close();
});
