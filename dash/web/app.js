/* hpsearch dashboard page: plain JavaScript, canvas drawing written here, no
 * library. Reads the server's API (docs/dashboard.md) or, in a report made
 * by `hpsearch report STUDY -o FILE.html`, the data embedded in the page.
 * Every panel says how many points it drew in data-points, which the
 * browser tests check. */
'use strict';
(function () {
  // ---- small helpers --------------------------------------------------------
  const STATES = ['RUNNING', 'COMPLETE', 'PRUNED', 'FAIL', 'WAITING'];
  const RUNNING = 0, COMPLETE = 1, PRUNED = 2, FAIL = 3, WAITING = 4;
  const STATE_COLOR = ['#2f6fdf', '#2e9d5b', '#d98a1c', '#d64545', '#8e8e8e'];
  const main = document.getElementById('main');

  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined && c !== false)
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function fmt(x, digits) {
    if (x === null || x === undefined) return '';
    if (typeof x === 'string') return x;
    if (Number.isNaN(x)) return 'nan';
    if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
    if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(digits || 4).replace(/\.?0+e/, 'e');
    return String(+x.toPrecision(digits || 6));
  }
  function fmtDur(s) {
    if (!Number.isFinite(s)) return '';
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    if (s < 3600) return (s / 60).toFixed(1) + ' min';
    return (s / 3600).toFixed(2) + ' h';
  }
  function fmtTime(t) {
    if (!Number.isFinite(t)) return '';
    const d = new Date(t * 1000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  let toastTimer = 0;
  function toast(msg, err) {
    const t = document.getElementById('toast');
    t.textContent = msg;
    t.className = 'show' + (err ? ' err' : '');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.className = ''; }, err ? 8000 : 3000);
  }
  function hexRgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return `rgb(${n >> 16 & 255},${n >> 8 & 255},${n & 255})`;
  }
  // A viridis-like ramp (t in [0, 1]).
  const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function ramp(t) {
    if (!Number.isFinite(t)) return 'rgb(150,150,150)';
    t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i, a = RAMP[i], b = RAMP[i + 1];
    return `rgb(${Math.round(a[0] + f * (b[0] - a[0]))},${Math.round(a[1] + f * (b[1] - a[1]))},${Math.round(a[2] + f * (b[2] - a[2]))})`;
  }

  // A step of loading or drawing, for the benchmark (performance.mark): one
  // entry per name, the last, so a page open for days keeps no history.
  function mark(name) { performance.clearMarks(name); performance.mark(name); }

  // ---- where the data comes from -----------------------------------------------
  const embeddedText = document.getElementById('hp-data').textContent.trim();
  const REPORT = embeddedText ? JSON.parse(embeddedText) : null;
  const TOKEN = new URLSearchParams(location.search).get('token') || '';

  function b64ToBuffer(s) {
    const bin = atob(s), n = bin.length, u = new Uint8Array(n);
    for (let i = 0; i < n; i++) u[i] = bin.charCodeAt(i);
    return u.buffer;
  }
  async function request(path, opts) {
    const r = await fetch(path, Object.assign({ headers: { 'X-HP-Token': TOKEN }, cache: 'no-store' }, opts || {}));
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try { const j = await r.json(); if (j.error) msg = j.error; } catch (e) { /* not JSON */ }
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return r;
  }
  /* A binary answer through XMLHttpRequest: Chromium hands 18 MB of columns
   * to an XHR in about half the time fetch()'s arrayBuffer() takes (175-230
   * vs 400-900 ms measured in the same page, 100,000 trials). */
  function requestBinary(path) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('GET', path);
      x.setRequestHeader('X-HP-Token', TOKEN);
      x.responseType = 'arraybuffer';
      x.onload = () => {
        if (x.status === 200) { resolve(x.response); return; }
        let msg = x.status + ' ' + x.statusText;
        try { const j = JSON.parse(new TextDecoder().decode(x.response)); if (j.error) msg = j.error; } catch (e) { /* not JSON */ }
        const err = new Error(msg);
        err.status = x.status;
        reject(err);
      };
      x.onerror = () => reject(new Error('network error'));
      x.send();
    });
  }
  const q = encodeURIComponent;
  const api = {
    async studies() {
      if (REPORT) return { studies: [REPORT.study], daemon: null, seq: 0, report: true, db: REPORT.db };
      return (await request('/api/studies')).json();
    },
    async study(name) {
      if (REPORT) return REPORT.study;
      return (await request('/api/study?study=' + q(name))).json();
    },
    async columns(name, from) {
      if (REPORT) return decodeColumns(b64ToBuffer(REPORT.columns));
      const buf = await requestBinary('/api/columns?study=' + q(name) + '&from=' + from);
      mark('hp-columns-received');
      return decodeColumns(buf);
    },
    async events(since) { return (await request('/api/events?since=' + since)).json(); },
    async importance(name, evaluator) {
      if (REPORT) { if (REPORT.importance) return REPORT.importance; const e = new Error('not in this report'); e.status = 404; throw e; }
      return (await request('/api/importance?study=' + q(name) + '&evaluator=' + q(evaluator))).json();
    },
    async advise(name) {
      if (REPORT) { if (REPORT.advice) return REPORT.advice; const e = new Error('not in this report'); e.status = 404; throw e; }
      return (await request('/api/advise?study=' + q(name))).json();
    },
    async action(name, what, body) {
      const r = await request('/api/action?study=' + q(name) + '&do=' + what, {
        method: 'POST', headers: { 'X-HP-Token': TOKEN, 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : '' });
      return r.json();
    },
  };

  // ---- columns (view/columns.c: "HPC2", header length, JSON, typed columns) ----
  // Each column in the narrowest type that holds its values exactly, padded
  // to 8 bytes: the page reads them as typed arrays over the buffer, no copy.
  const COLUMN_TYPES = { u1: Uint8Array, i2: Int16Array, i4: Int32Array, f4: Float32Array, f8: Float64Array };
  function decodeColumns(buf) {
    const u8 = new Uint8Array(buf);
    if (u8.length < 8 || String.fromCharCode(u8[0], u8[1], u8[2], u8[3]) !== 'HPC2')
      throw new Error('the server sent columns in an unknown format');
    const hl = new DataView(buf).getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + hl)));
    const cols = {};
    let off = 8 + hl;
    for (const [name, len, type] of header.columns) {
      const T = COLUMN_TYPES[type];
      if (!T) throw new Error('the server sent a column of an unknown type: ' + type);
      // float64 in the page whatever the wire type: code reading one kind of
      // array stays fast (V8 slows down on a mix of element types)
      cols[name] = T === Float64Array ? new T(buf, off, len) : new Float64Array(new T(buf, off, len));
      off += Math.ceil(len * T.BYTES_PER_ELEMENT / 8) * 8;
    }
    return { header, cols };
  }
  /* a followed by b. A first read keeps the fetched column itself (no
   * copy); later, a column lives in a buffer of its own with room to grow,
   * and a live update writes its trials in place instead of copying every
   * column of 100,000 trials (a is a view at the start of that buffer, its
   * entries from a.length on are not in use). */
  const OWN = new WeakSet();
  function concat(a, b) {
    if (a.length === 0) return b;
    const n = a.length + b.length;
    if (a.byteOffset === 0 && OWN.has(a.buffer) && a.buffer.byteLength >= n * 8) {
      const r = new Float64Array(a.buffer, 0, n);
      r.set(b, a.length);
      return r;
    }
    const buf = new ArrayBuffer((n + (n >> 2) + 1024) * 8);
    OWN.add(buf);
    const r = new Float64Array(buf, 0, n);
    r.set(a, 0);
    r.set(b, a.length);
    return r;
  }
  function nanArray(n) { const a = new Float64Array(n); a.fill(NaN); return a; }

  /* One study's trials, kept as columns and merged with what later reads
   * bring (trials from some number on). */
  class StudyData {
    constructor() {
      this.n = 0; this.number = new Float64Array(0); this.state = new Float64Array(0);
      this.start = new Float64Array(0); this.end = new Float64Array(0); this.values = [];
      this.ivOff = new Float64Array([0]); this.ivStep = new Float64Array(0); this.ivValue = new Float64Array(0);
      this.params = []; this.attrs = []; this.reason = new Map(); this.directions = ['minimize'];
      this.version = 0;
    }
    apply({ header, cols }) {
      const from = Math.min(header.from, this.n);
      const k = from; // numbers are 0..n-1: index == number
      const keep = (a) => a.subarray(0, k);
      // what this read may change: trials k.. before and after it
      let complete = false;
      for (let i = k; i < this.n && !complete; i++) complete = this.state[i] === COMPLETE;
      for (let i = 0; i < header.n && !complete; i++) complete = cols.state[i] === COMPLETE;
      this.changed = { complete, curves: (this.ivOff[this.n] || 0) > (this.ivOff[k] || 0) || cols.iv_step.length > 0,
        trials: this.n > k || header.n > 0 };
      this.directions = header.directions;
      this.number = concat(keep(this.number), cols.number);
      this.state = concat(keep(this.state), cols.state);
      this.start = concat(keep(this.start), cols.start);
      this.end = concat(keep(this.end), cols.end);
      const nv = header.directions.length;
      const values = [];
      for (let j = 0; j < nv; j++) values.push(concat(this.values[j] ? keep(this.values[j]) : nanArray(k), cols['value' + j]));
      this.values = values;
      const ivKeep = this.ivOff[k] || 0;
      const offs = new Float64Array(cols.iv_off.length);
      for (let i = 0; i < offs.length; i++) offs[i] = cols.iv_off[i] + ivKeep;
      this.ivOff = k ? concat(keep(this.ivOff), offs) : offs;
      this.ivStep = concat(this.ivStep.subarray(0, ivKeep), cols.iv_step);
      this.ivValue = concat(this.ivValue.subarray(0, ivKeep), cols.iv_value);
      const n = k + header.n;
      // parameters: matched by name; categorical indices mapped onto our union of choices
      const params = this.params.map((p) => Object.assign({}, p, { v: concat(keep(p.v), nanArray(header.n)) }));
      header.params.forEach((hp, j) => {
        let p = params.find((x) => x.name === hp.name);
        const src = cols['p' + j];
        if (!p && k === 0 && !(hp.dist && hp.dist.type === 'categorical')) { params.push({ name: hp.name, dist: hp.dist, v: src, keys: null }); return; }
        if (!p) { p = { name: hp.name, dist: hp.dist, v: nanArray(n), keys: null }; params.push(p); }
        if (hp.dist && hp.dist.type === 'categorical') {
          if (!p.dist || p.dist.type !== 'categorical') p.dist = { type: 'categorical', choices: [] };
          if (!p.keys) p.keys = new Map(p.dist.choices.map((c, i) => [JSON.stringify(c), i]));
          const map = hp.dist.choices.map((c) => {
            const key = JSON.stringify(c);
            if (!p.keys.has(key)) { p.keys.set(key, p.dist.choices.length); p.dist = { type: 'categorical', choices: p.dist.choices.concat([c]) }; }
            return p.keys.get(key);
          });
          for (let i = 0; i < header.n; i++) p.v[k + i] = Number.isNaN(src[i]) ? NaN : map[src[i]];
        } else {
          if (!p.dist) p.dist = hp.dist;
          p.v.set(src, k);
        }
      });
      this.params = params;
      const attrs = this.attrs.map((a) => Object.assign({}, a, { v: concat(keep(a.v), nanArray(header.n)) }));
      header.user_attrs.forEach((ha, j) => {
        let a = attrs.find((x) => x.name === ha.name);
        if (!a && k === 0) a = { name: ha.name, v: cols['u' + j], other: new Map() }, attrs.push(a);
        else {
          if (!a) { a = { name: ha.name, v: nanArray(n), other: new Map() }; attrs.push(a); }
          a.v.set(cols['u' + j], k);
        }
        for (const num in ha.other) a.other.set(+num, ha.other[num]);
      });
      this.attrs = attrs;
      for (const num of [...this.reason.keys()]) if (num >= k) this.reason.delete(num);
      for (const num in header.reason) this.reason.set(+num, header.reason[num]);
      // the server's ranges (over every trial it holds: the page now holds
      // the same); parameters by name
      const ext = header.extents;
      this.serverExt = ext ? Object.assign({}, ...header.directions.map((_, j) => ({ ['value' + j]: ext['value' + j] })),
        { iv_step: ext.iv_step, iv_value: ext.iv_value }, ...header.params.map((hp, j) => ('p' + j in ext ? { ['p:' + hp.name]: ext['p' + j] } : {}))) : null;
      this.n = n;
      this.version++;
    }
    // Smallest number whose trial may still change (running or waiting).
    firstOpen() {
      for (let i = 0; i < this.n; i++) if (this.state[i] === RUNNING || this.state[i] === WAITING) return i;
      return this.n;
    }
    value(i, j) { return this.values[j || 0][i]; }
    duration(i) { return this.end[i] - this.start[i]; }
    intermediate(i) {
      const a = this.ivOff[i], b = this.ivOff[i + 1], r = [];
      for (let k = a; k < b; k++) r.push([this.ivStep[k], this.ivValue[k]]);
      return r;
    }
    paramText(p, i) {
      const x = p.v[i];
      if (Number.isNaN(x)) return '';
      if (p.dist && p.dist.type === 'categorical') return JSON.stringify(p.dist.choices[x]).replace(/^"|"$/g, '');
      return fmt(x);
    }
    attrValue(a, i) { return a.other.has(this.number[i]) ? a.other.get(this.number[i]) : a.v[i]; }
  }

  // ---- canvas plots -------------------------------------------------------------
  function setupCanvas(cv) {
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || 600, hgt = cv.clientHeight || 300;
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(hgt * dpr);
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    return { ctx, w, h: hgt };
  }
  function extent(arr, pred, log) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i];
      if (!Number.isFinite(x) || (pred && !pred(i)) || (log && x <= 0)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    return widen(lo, hi, log);
  }
  // an axis range from the data's [lo, hi] (none: lo = Infinity)
  function widen(lo, hi, log) {
    if (lo === Infinity) return [0, 1];
    if (lo === hi) { const d = log ? lo * 0.5 : Math.abs(lo) * 0.05 || 0.5; return [lo - d, hi + (log ? lo : d)]; }
    return [lo, hi];
  }
  /* The axis range of a column of the study's data (key: value0.., p:NAME,
   * iv_step, iv_value; complete: over the COMPLETE trials only), from the
   * ranges the server sends with the columns (its "extents", over every
   * trial), else by a pass over the column; kept per data version. */
  function dataExtent(d, key, arr, complete, log) {
    if (!d.ext || d.ext.version !== d.version) d.ext = { version: d.version, map: new Map() };
    const ck = key + (complete ? ':c' : '') + (log ? ':log' : '');
    let e = d.ext.map.get(ck);
    if (!e) {
      const se = d.serverExt ? d.serverExt[key] : undefined;
      if (se === null) e = [0, 1];
      else if (se !== undefined) e = !log ? widen(se[0], se[1], false) : se.length === 4 ? widen(se[2], se[3], true) : [0, 1];
      else { const st = d.state; e = extent(arr, complete ? (i) => st[i] === COMPLETE : null, log); }
      d.ext.map.set(ck, e);
    }
    return e;
  }
  function ticks(lo, hi, n, log) {
    if (log) {
      const r = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        const v = Math.pow(10, e);
        if (v >= lo * 0.999 && v <= hi * 1.001) r.push(v);
      }
      if (r.length >= 2) return r;
      return [lo, hi];
    }
    const span = hi - lo, step0 = span / Math.max(1, n), mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const r = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) r.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return r;
  }
  /* An axis frame: maps data to pixels and draws axes, ticks and labels. */
  function frame(ctx, w, hgt, xr, yr, opt) {
    opt = opt || {};
    const m = { l: 62, r: 12, t: 10, b: 34 };
    const X0 = m.l, X1 = w - m.r, Y0 = hgt - m.b, Y1 = m.t;
    const lx = !!opt.xlog, ly = !!opt.ylog;
    const tx = (v) => lx ? Math.log10(v) : v, ty = (v) => ly ? Math.log10(v) : v;
    const ax = tx(xr[0]), bx = tx(xr[1]), ay = ty(yr[0]), by = ty(yr[1]);
    const f = {
      x: (v) => X0 + (tx(v) - ax) / (bx - ax || 1) * (X1 - X0),
      y: (v) => Y0 - (ty(v) - ay) / (by - ay || 1) * (Y0 - Y1),
      X0, X1, Y0, Y1,
      // the same maps as numbers (pixel = k * t + c, t = value or its log10), for scatter()
      lx, ly, kx: (X1 - X0) / (bx - ax || 1), cx: X0 - ax * (X1 - X0) / (bx - ax || 1),
      ky: -(Y0 - Y1) / (by - ay || 1), cy: Y0 + ay * (Y0 - Y1) / (by - ay || 1),
    };
    ctx.strokeStyle = '#c5cad6';
    ctx.fillStyle = '#6b7385';
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(X0, Y1); ctx.lineTo(X0, Y0); ctx.lineTo(X1, Y0);
    ctx.stroke();
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    if (opt.xlabels) {
      opt.xlabels.forEach((lab, i) => { const px = f.x(i); ctx.fillText(lab.length > 14 ? lab.slice(0, 13) + '…' : lab, px, Y0 + 4); });
    } else {
      for (const v of ticks(xr[0], xr[1], Math.max(2, Math.floor((X1 - X0) / 80)), lx)) {
        const px = f.x(v);
        ctx.beginPath(); ctx.moveTo(px, Y0); ctx.lineTo(px, Y0 + 3); ctx.stroke();
        ctx.fillText(opt.xfmt ? opt.xfmt(v) : fmt(v, 3), px, Y0 + 5);
      }
    }
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    if (opt.ylabels) {
      opt.ylabels.forEach((lab, i) => ctx.fillText(lab.length > 9 ? lab.slice(0, 8) + '…' : lab, X0 - 5, f.y(i)));
    } else {
      for (const v of ticks(yr[0], yr[1], Math.max(2, Math.floor((Y0 - Y1) / 40)), ly)) {
        const py = f.y(v);
        ctx.strokeStyle = '#eef0f4';
        ctx.beginPath(); ctx.moveTo(X0 + 1, py); ctx.lineTo(X1, py); ctx.stroke();
        ctx.fillText(fmt(v, 3), X0 - 5, py);
      }
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    if (opt.xtitle) ctx.fillText(opt.xtitle, (X0 + X1) / 2, hgt - 1);
    return f;
  }
  function dot(ctx, x, y, r) { ctx.fillRect(x - r, y - r, 2 * r, 2 * r); }
  /* Big point clouds and bar sets are written straight into pixels (one
   * array write per pixel instead of one canvas call per point), then laid
   * over the axes in one drawImage: 100,000 points in milliseconds. */
  function pixelLayer(ctx, w, hgt) {
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.round(w * dpr)), H = Math.max(1, Math.round(hgt * dpr));
    const img = new ImageData(W, H), px = new Uint32Array(img.data.buffer), px32 = px;
    const pack = (css) => {
      const m = css.match(/\d+(\.\d+)?/g).map(Number);
      return ((m.length > 3 ? Math.round(m[3] * 255) : 255) << 24 | m[2] << 16 | m[1] << 8 | m[0]) >>> 0;
    };
    return {
      color: pack,
      /* One device pixel per point (trials idx, values xs[i], ys[i]; x
       * moved by jit(i) when given), the frame's maps inlined: 100,000
       * points in a few milliseconds. Returns how many it drew. */
      scatter(f, idx, xs, ys, c, jit) {
        const kx = f.kx * dpr, cx = f.cx * dpr, ky = f.ky * dpr, cy = f.cy * dpr;
        let n = 0;
        for (let k = 0; k < idx.length; k++) {
          const i = idx[k];
          let x = xs[i], y = ys[i];
          if (!(x - x === 0) || !(y - y === 0) || (f.lx && x <= 0) || (f.ly && y <= 0)) continue;
          if (f.lx) x = Math.log10(x);
          if (jit) x += jit(i);
          if (f.ly) y = Math.log10(y);
          const px = (kx * x + cx + 0.5) | 0, py = (ky * y + cy + 0.5) | 0;
          if (px >= 0 && px < W && py >= 0 && py < H) px32[py * W + px] = c;
          n++;
        }
        return n;
      },
      // a square of side 2r (css px) around (x, y)
      dot(x, y, r, c) {
        const cx = Math.round(x * dpr), cy = Math.round(y * dpr), rr = Math.max(0, Math.round(r * dpr) - 1);
        for (let yy = Math.max(0, cy - rr); yy <= Math.min(H - 1, cy + rr); yy++) {
          const row = yy * W;
          for (let xx = Math.max(0, cx - rr); xx <= Math.min(W - 1, cx + rr); xx++) px[row + xx] = c;
        }
      },
      // a rectangle [x0, x1) x [y0, y1) in css px
      rect(x0, y0, x1, y1, c) {
        const a = Math.max(0, Math.round(x0 * dpr)), b = Math.min(W, Math.max(a + 1, Math.round(x1 * dpr)));
        const t = Math.max(0, Math.round(y0 * dpr)), u = Math.min(H, Math.round(y1 * dpr));
        for (let yy = t; yy < u; yy++) px.fill(c, yy * W + a, yy * W + b);
      },
      done() {
        const off = document.createElement('canvas');
        off.width = W;
        off.height = H;
        off.getContext('2d').putImageData(img, 0, 0);
        ctx.save();
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.drawImage(off, 0, 0);
        ctx.restore();
      },
    };
  }
  const BIG = 3000; // above this many points a plot writes pixels (pixelLayer)

  // ---- app state ------------------------------------------------------------------
  const app = { studies: [], daemon: null, seq: 0, current: null, data: null, summary: null, route: null, tableSort: { key: 'number', dir: 1 }, dirty: new Set(), dirtySince: 0 };

  function setLive(on, text) {
    const e = document.getElementById('live');
    e.className = 'live ' + (on ? 'on' : 'off');
    e.textContent = text;
  }

  // ---- studies page ---------------------------------------------------------------
  function studiesPage() {
    document.getElementById('crumbs').textContent = '';
    const rows = app.studies.map((s) => {
      const c = s.counts || {};
      const done = (c.COMPLETE || 0) + (c.PRUNED || 0) + (c.FAIL || 0);
      return h('tr', { class: 'click', 'data-study': s.name, onclick: () => { location.hash = '#/study/' + q(s.name); } },
        h('td', { class: 'num' }, s.study_id),
        h('td', {}, h('a', { href: '#/study/' + q(s.name) }, s.name)),
        h('td', {}, h('span', { class: 'st st-' + s.state }, s.state)),
        h('td', { class: 'num' }, s.n_trials ? `${done}/${s.n_trials}` : String(done)),
        h('td', { class: 'num' }, c.RUNNING || 0),
        h('td', { class: 'num' }, c.COMPLETE || 0), h('td', { class: 'num' }, c.PRUNED || 0), h('td', { class: 'num' }, c.FAIL || 0),
        h('td', { class: 'num' }, s.best ? fmt(typeof s.best.value === 'string' ? s.best.value : s.best.value) : ''),
        h('td', {}, s.direction || (s.directions || []).join(', ')),
        h('td', {}, s.sampler || ''), h('td', {}, s.metric || ''),
        h('td', { class: 'num' }, fmtDur(s.elapsed)));
    });
    main.replaceChildren(
      h('h1', {}, 'Studies'),
      h('p', { class: 'muted' }, app.report ? 'Report saved from ' + app.db : `Database ${app.db || ''}` +
        (app.daemon ? ` · daemon pid ${app.daemon.pid} (live, actions on)` : ' · no daemon: read-only')),
      h('div', { class: 'panel wide', id: 'panel-studies', 'data-panel': 'studies', 'data-points': app.studies.length },
        h('table', { id: 'studies' },
          h('thead', {}, h('tr', {}, ['id', 'name', 'state', 'done', 'running', 'complete', 'pruned', 'fail', 'best', 'direction', 'sampler', 'metric', 'elapsed'].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows))));
  }

  // ---- study page -----------------------------------------------------------------
  function directionOf(d) { return (d.directions[0] || 'minimize') === 'maximize' ? -1 : 1; }
  function completeIdx(d) {
    if (d.ci && d.ci.version === d.version) return d.ci.idx;
    const r = [];
    for (let i = 0; i < d.n; i++) if (d.state[i] === COMPLETE && Number.isFinite(d.values[0][i])) r.push(i);
    d.ci = { version: d.version, idx: r }; // shared by the panels: never changed in place
    return r;
  }

  function panel(idClass, title, note, ...body) {
    const [id, extra] = idClass.split(' ');
    return h('section', { class: 'panel' + (extra ? ' ' + extra : ''), id: 'panel-' + id, 'data-panel': id, 'data-points': '0' },
      h('h2', {}, title), note ? h('div', { class: 'note' }, note) : null, ...body);
  }
  function setPoints(id, n, extra) {
    const p = document.getElementById('panel-' + id);
    if (!p) return;
    p.setAttribute('data-points', String(n));
    for (const k in extra || {}) p.setAttribute('data-' + k, String(extra[k]));
  }

  /* The summary panel is built once per study page; a refresh rewrites its
   * text and the buttons' states in place (a button replaced under the
   * pointer several times a second could not be clicked). */
  function summaryPanel(s) {
    const actions = h('div', { class: 'actions' },
      h('button', { id: 'btn-stop', class: 'danger', onclick: () => act('stop') }, 'Stop'),
      h('button', { id: 'btn-resume', class: 'primary', onclick: () => act('resume') }, 'Resume'),
      h('button', { id: 'btn-enqueue', onclick: () => enqueueForm() }, 'Enqueue a trial…'),
      h('span', { class: 'muted', id: 'actions-note' }));
    const p = h('section', { class: 'panel wide', id: 'panel-summary', 'data-panel': 'summary' },
      h('div', { id: 'summary-info' }), actions, h('div', { id: 'enqueue-form' }));
    fillSummary(p, s);
    return p;
  }
  function fillSummary(p, s) {
    if (!s) s = { name: app.current, state: 'loading', counts: {} }; // the summary comes after the plots
    const c = s.counts || {};
    const best = s.best;
    const canAct = !app.report && !!app.daemon;
    p.setAttribute('data-state', s.state);
    p.querySelector('#summary-info').replaceChildren(...[
      h('h1', {}, s.name, ' ', h('span', { class: 'st st-' + s.state, id: 'study-state' }, s.state)),
      s.stop_reason ? h('p', { class: 'muted' }, 'stopped: ' + s.stop_reason) : null,
      h('dl', { class: 'kv' },
        h('dt', {}, 'direction'), h('dd', {}, s.direction || ''),
        h('dt', {}, 'metric / objective'), h('dd', {}, (s.metric || '-') + ' / ' + (s.objective || '-')),
        h('dt', {}, 'sampler / pruner'), h('dd', {}, (s.sampler || '-') + ' / ' + (s.pruner || '-')),
        h('dt', {}, 'trials'), h('dd', { id: 'study-counts' }, STATES.map((st) => `${st.toLowerCase()} ${c[st] || 0}`).join(' · ') + (s.n_trials ? ` (of ${s.n_trials})` : '')),
        h('dt', {}, 'best'), h('dd', { id: 'study-best' }, best ? `${fmt(best.value)} (trial ${best.trial}) ` + JSON.stringify(best.params) : '—'),
        h('dt', {}, 'elapsed'), h('dd', {}, fmtDur(s.elapsed)))].filter(Boolean));
    p.querySelector('#btn-stop').disabled = !canAct || s.state !== 'running';
    p.querySelector('#btn-resume').disabled = !canAct || s.state !== 'stopped';
    p.querySelector('#btn-enqueue').disabled = !canAct;
    p.querySelector('#actions-note').textContent = app.report ? 'a saved report' : app.daemon ? 'actions go to the daemon (pid ' + app.daemon.pid + ')' : 'no daemon on this database: read-only';
  }
  function showSummary() {
    const p = document.getElementById('panel-summary');
    if (p) fillSummary(p, app.summary);
  }

  async function act(what, body) {
    try {
      const r = await api.action(app.current, what, body);
      toast(what === 'enqueue' ? `trial ${r.trial} enqueued` : `study ${what === 'stop' ? 'stopped' : 'resumed'}`);
      if (what !== 'enqueue' && r && r.name === app.current) {
        // study.stop and study.resume answer with the summary: show it at once
        app.summary = Object.assign({}, app.summary, r);
        showSummary();
      }
      refreshSoon(true);
    } catch (e) {
      toast(what + ': ' + e.message, true);
    }
  }

  function enqueueForm() {
    const box = document.getElementById('enqueue-form');
    const d = app.data, best = app.summary && app.summary.best;
    const inputs = d.params.map((p) => {
      const init = best && best.params && p.name in best.params ? best.params[p.name] : '';
      let input;
      if (p.dist && p.dist.type === 'categorical') {
        input = h('select', { name: p.name }, p.dist.choices.map((c) => h('option', { value: JSON.stringify(c), selected: JSON.stringify(c) === JSON.stringify(init) }, String(c))));
      } else {
        input = h('input', { name: p.name, type: 'text', value: init === '' ? '' : String(init), placeholder: p.dist ? `${fmt(p.dist.low)}..${fmt(p.dist.high)}` : '' });
      }
      return h('label', {}, p.name + ' ', input);
    });
    const form = h('form', { class: 'filters', onsubmit: (ev) => {
      ev.preventDefault();
      const params = {};
      for (const el of form.querySelectorAll('input,select')) {
        if (el.value === '') continue;
        params[el.name] = el.tagName === 'SELECT' ? JSON.parse(el.value) : Number(el.value);
      }
      act('enqueue', { params });
      box.replaceChildren();
    } }, inputs, h('button', { class: 'primary', type: 'submit' }, 'Enqueue'), h('button', { type: 'button', onclick: () => box.replaceChildren() }, 'Cancel'));
    box.replaceChildren(form);
  }

  function historyPanel() {
    return panel('history', 'Optimization history', 'objective of every complete trial by number; the line is the best so far',
      h('canvas', { class: 'plot', id: 'cv-history' }),
      h('div', { class: 'legend' }, h('span', {}, h('i', { style: 'background:#2e9d5b' }), 'complete'), h('span', {}, h('i', { style: 'background:#d64545' }), 'best so far')));
  }
  function drawHistory(d) {
    const cv = document.getElementById('cv-history');
    if (!cv) return;
    const { ctx, w, h: H } = setupCanvas(cv);
    const idx = completeIdx(d), v = d.values[0], sign = directionOf(d);
    const xr = [0, Math.max(1, d.n - 1)];
    const yr = dataExtent(d, 'value0', v, true);
    const f = frame(ctx, w, H, xr, yr, { xtitle: 'trial' });
    if (idx.length > BIG) {
      const L = pixelLayer(ctx, w, H), c = L.color('rgb(120,196,150)');
      L.scatter(f, idx, d.number, v, c);
      L.done();
    } else {
      ctx.fillStyle = 'rgba(46,157,91,0.55)';
      for (const i of idx) dot(ctx, f.x(d.number[i]), f.y(v[i]), idx.length > 1000 ? 1.5 : 3);
    }
    ctx.strokeStyle = '#d64545';
    ctx.lineWidth = 2;
    ctx.beginPath();
    let best = NaN, started = false, steps = 0;
    for (const i of idx) {
      if (Number.isNaN(best) || sign * v[i] < sign * best) {
        const x = f.x(d.number[i]);
        if (!started) { ctx.moveTo(x, f.y(v[i])); started = true; } else { ctx.lineTo(x, f.y(best)); ctx.lineTo(x, f.y(v[i])); }
        best = v[i];
        steps++;
      }
    }
    if (started) ctx.lineTo(f.X1, f.y(best));
    ctx.stroke();
    setPoints('history', idx.length, { best: Number.isNaN(best) ? '' : best, improvements: steps, y: yr.join(',') });
  }

  function intermediatePanel() {
    return panel('intermediate', 'Intermediate values', 'learning curves (value per step); × marks where a pruned trial stopped',
      h('canvas', { class: 'plot', id: 'cv-intermediate' }),
      h('div', { class: 'legend' }, [COMPLETE, PRUNED, FAIL, RUNNING].map((s) => h('span', {}, h('i', { style: 'background:' + STATE_COLOR[s] }), STATES[s].toLowerCase()))));
  }
  /* Which trials a plot of one line per trial draws: all of them up to
   * `max`; beyond, every running trial, the `best` best complete ones and an
   * even sample of the others (every k-th), so 100,000 curves cost what
   * `max` do and the plot keeps its shape. */
  /* Indexed loops over locals and the engine's own sort: a page draws each
   * plot once, mostly before the JIT has compiled it, so every pass over
   * 100,000 trials counts. Returns keep (by trial, or null: all) and list
   * (the trials kept, in order). */
  function lineSample(d, cand, max, best) {
    const nc = cand.length;
    if (nc <= max) return { keep: null, list: cand, drawn: nc, total: nc };
    const keep = new Uint8Array(d.n), v = d.values[0], sign = directionOf(d), st = d.state;
    const keys = new Float64Array(nc);
    let nk = 0, drawn = 0;
    for (let c = 0; c < nc; c++) {
      const i = cand[c], s = st[i];
      if (s === COMPLETE) { const x = v[i]; if (x - x === 0) keys[nk++] = sign * x; } else if (s === RUNNING) { keep[i] = 1; drawn++; }
    }
    const limit = nk ? keys.subarray(0, nk).sort()[Math.min(best, nk) - 1] : -Infinity; // typed: numeric order
    const rest = new Int32Array(nc);
    let nr = 0, left = best;
    for (let c = 0; c < nc; c++) {
      const i = cand[c];
      if (keep[i]) continue;
      if (left > 0 && st[i] === COMPLETE && sign * v[i] <= limit) { keep[i] = 1; drawn++; left--; } else rest[nr++] = i;
    }
    const step = Math.max(1, nr / Math.max(1, max - drawn));
    for (let x = 0; x < nr && drawn < max; x += step) { keep[rest[Math.floor(x)]] = 1; drawn++; }
    const list = new Int32Array(drawn);
    for (let c = 0, k = 0; c < nc; c++) if (keep[cand[c]]) list[k++] = cand[c];
    return { keep, list, drawn, total: nc };
  }
  const MAX_CURVES = 2000, MAX_LINES = 4000;
  function sampleNote(id, base, smp) {
    const note = document.querySelector('#panel-' + id + ' .note');
    if (note) note.textContent = base + (smp.keep ? ` (drawn: ${smp.drawn} of ${smp.total}: the best, the running and an even sample)` : '');
  }
  function drawIntermediate(d) {
    const cv = document.getElementById('cv-intermediate');
    if (!cv) return;
    const { ctx, w, h: H } = setupCanvas(cv);
    const xr = dataExtent(d, 'iv_step', d.ivStep), yr = dataExtent(d, 'iv_value', d.ivValue);
    const f = frame(ctx, w, H, [Math.min(0, xr[0]), xr[1]], yr, { xtitle: 'step' });
    const cand = [], off = d.ivOff, st = d.state, ivs = d.ivStep, ivv = d.ivValue;
    for (let i = 0, n = d.n; i < n; i++) if (off[i + 1] > off[i]) cand.push(i);
    const smp = lineSample(d, cand, MAX_CURVES, 200), list = smp.list;
    const many = smp.drawn > 500;
    ctx.lineWidth = many ? 0.6 : 1.2;
    let lines = 0, pruned = 0;
    // the frame's maps inlined: pixel = k * value + c
    const kx = f.kx, cx = f.cx, ky = f.ky, cy = f.cy;
    const order = [FAIL, PRUNED, COMPLETE, RUNNING]; // complete and running on top
    for (const s of order) {
      ctx.strokeStyle = STATE_COLOR[s];
      ctx.globalAlpha = many ? 0.25 : 0.7;
      ctx.beginPath();
      for (let c = 0; c < list.length; c++) {
        const i = list[c];
        if (st[i] !== s) continue;
        const a = off[i], b = off[i + 1];
        lines++;
        let pen = false;
        for (let k = a; k < b; k++) {
          const y = ivv[k];
          if (!(y - y === 0)) { pen = false; continue; }
          const px = kx * ivs[k] + cx, py = ky * y + cy;
          if (pen) ctx.lineTo(px, py); else { ctx.moveTo(px, py); pen = true; }
        }
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = STATE_COLOR[PRUNED];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (let c = 0; c < list.length; c++) {
      const i = list[c];
      if (st[i] !== PRUNED) continue;
      const b = off[i + 1] - 1;
      if (b < off[i] || !Number.isFinite(ivv[b])) continue;
      const px = kx * ivs[b] + cx, py = ky * ivv[b] + cy;
      ctx.moveTo(px - 3, py - 3); ctx.lineTo(px + 3, py + 3); ctx.moveTo(px + 3, py - 3); ctx.lineTo(px - 3, py + 3);
      pruned++;
    }
    ctx.stroke();
    setPoints('intermediate', lines, { pruned, total: smp.total, x: xr.join(','), y: yr.join(',') });
    sampleNote('intermediate', 'learning curves (value per step); × marks where a pruned trial stopped', smp);
  }

  // Parameter axes of a plot: numeric position of a value (log10 for log params).
  function paramAxis(p) {
    const cat = p.dist && p.dist.type === 'categorical';
    const log = !!(p.dist && p.dist.log);
    return { cat, log, labels: cat ? p.dist.choices.map((c) => String(c)) : null };
  }

  function parallelPanel() {
    return panel('parallel', 'Parallel coordinates', 'complete trials across every parameter, coloured by objective (yellow = best)',
      h('canvas', { class: 'plot', id: 'cv-parallel', style: 'height:340px' }));
  }
  function drawParallel(d) {
    const cv = document.getElementById('cv-parallel');
    if (!cv) return;
    const { ctx, w, h: H } = setupCanvas(cv);
    const idx = completeIdx(d), v = d.values[0], sign = directionOf(d);
    const axes = d.params.map((p) => {
      const ax = paramAxis(p);
      const r = ax.cat ? [0, Math.max(1, p.dist.choices.length - 1)] : dataExtent(d, 'p:' + p.name, p.v, false, ax.log);
      return { name: p.name, arr: p.v, ax, lo: ax.log ? Math.log10(r[0]) : r[0], hi: ax.log ? Math.log10(r[1]) : r[1] };
    });
    const vr = dataExtent(d, 'value0', v, true);
    axes.push({ name: 'objective', arr: v, ax: { cat: false, log: false }, lo: vr[0], hi: vr[1] });
    const L = 40, R = 40, T = 24, B = 26, n = axes.length;
    const xs = axes.map((_, k) => L + (n === 1 ? 0 : k * (w - L - R) / (n - 1)));
    // y of a value on axis k: H - B - (t - lo) * scale, t = value or its log10
    const arrs = axes.map((a) => a.arr), logs = axes.map((a) => a.ax.log), los = axes.map((a) => a.lo);
    const scales = axes.map((a) => (H - T - B) / (a.hi - a.lo || 1)), base = H - B;
    // One path per colour bin (32 bins), worst bins first so the best lines
    // are drawn last, on top: 32 strokes instead of one per trial.
    const BINS = 32, bins = Array.from({ length: BINS }, () => []);
    const smp = lineSample(d, idx, MAX_LINES, 400), list = smp.list;
    const vlo = vr[0], vspan = vr[1] - vr[0] || 1;
    for (let c = 0; c < list.length; c++) {
      const i = list[c];
      const t = sign > 0 ? (vr[1] - v[i]) / vspan : (v[i] - vlo) / vspan;
      bins[Math.min(BINS - 1, Math.max(0, Math.floor(t * BINS)))].push(i);
    }
    ctx.lineWidth = smp.drawn > 2000 ? 0.5 : 1;
    ctx.globalAlpha = smp.drawn > 2000 ? 0.3 : 0.6;
    let drawn = 0;
    for (let b = 0; b < BINS; b++) {
      const members = bins[b];
      if (!members.length) continue;
      ctx.strokeStyle = ramp((b + 0.5) / BINS);
      ctx.beginPath();
      for (let c = 0; c < members.length; c++) {
        const i = members[c];
        let pen = false;
        for (let k = 0; k < n; k++) {
          const x = arrs[k][i];
          if (!(x - x === 0)) { pen = false; continue; }
          const y = base - ((logs[k] ? Math.log10(x) : x) - los[k]) * scales[k];
          if (pen) ctx.lineTo(xs[k], y); else { ctx.moveTo(xs[k], y); pen = true; }
        }
        drawn++;
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.font = '11px system-ui, sans-serif';
    axes.forEach((a, k) => {
      ctx.strokeStyle = '#555';
      ctx.beginPath(); ctx.moveTo(xs[k], T); ctx.lineTo(xs[k], H - B); ctx.stroke();
      ctx.fillStyle = '#1d2330';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      ctx.fillText(a.name + (a.ax.log ? ' (log)' : ''), xs[k], T - 6);
      ctx.textBaseline = 'top';
      ctx.fillStyle = '#6b7385';
      const lo = a.ax.cat ? a.ax.labels[0] : fmt(a.ax.log ? Math.pow(10, a.lo) : a.lo, 3);
      const hi = a.ax.cat ? a.ax.labels[a.ax.labels.length - 1] : fmt(a.ax.log ? Math.pow(10, a.hi) : a.hi, 3);
      ctx.fillText(String(lo), xs[k], H - B + 4);
      ctx.textBaseline = 'bottom';
      ctx.fillText(String(hi), xs[k], T + 12);
    });
    setPoints('parallel', drawn, { axes: n, total: smp.total });
    sampleNote('parallel', 'complete trials across every parameter, coloured by objective (yellow = best)', smp);
  }

  function slicePanel(d) {
    return panel('slice wide', 'Slice', 'objective against each parameter (complete trials)',
      h('div', { class: 'slices' }, d.params.map((p, j) => h('canvas', { class: 'plot', id: 'cv-slice-' + j, 'data-param': p.name }))));
  }
  function drawSlice(d) {
    const idx = completeIdx(d), v = d.values[0];
    const yr = dataExtent(d, 'value0', v, true);
    let total = 0;
    const r = idx.length > 20000 ? 1 : idx.length > 2000 ? 1.5 : 3;
    d.params.forEach((p, j) => {
      const cv = document.getElementById('cv-slice-' + j);
      if (!cv) return;
      const { ctx, w, h: H } = setupCanvas(cv);
      const ax = paramAxis(p);
      const xr = ax.cat ? [-0.5, p.dist.choices.length - 0.5] : dataExtent(d, 'p:' + p.name, p.v, false, ax.log);
      const f = frame(ctx, w, H, xr, yr, { xlog: ax.log, xtitle: p.name, xlabels: ax.cat ? ax.labels : null });
      ctx.fillStyle = 'rgba(47,111,223,0.5)';
      const L = idx.length > BIG ? pixelLayer(ctx, w, H) : null, c = L ? L.color('rgb(128,165,235)') : 0;
      let cnt = 0;
      const jit = ax.cat ? (i) => (((i * 2654435761) % 1000) / 1000 - 0.5) * 0.5 : null;
      if (L) cnt = L.scatter(f, idx, p.v, v, c, jit);
      else for (const i of idx) {
        const x = p.v[i];
        if (!Number.isFinite(x) || (ax.log && x <= 0)) continue;
        dot(ctx, f.x(x + (jit ? jit(i) : 0)), f.y(v[i]), idx.length > 300 ? 1.5 : 3);
        cnt++;
      }
      if (L) L.done();
      cv.setAttribute('data-points', cnt);
      total += cnt;
    });
    setPoints('slice', total, { plots: d.params.length });
  }

  function contourPanel(d) {
    const opts = (sel) => d.params.map((p, j) => h('option', { value: j, selected: j === sel }, p.name));
    const onchange = () => drawContour(app.data);
    return panel('contour', 'Contour', 'objective over a pair of parameters: mean objective per cell, filled between cells; dots are the trials',
      h('div', { class: 'filters' }, 'x ', h('select', { id: 'contour-x', onchange }, opts(0)), ' y ', h('select', { id: 'contour-y', onchange }, opts(Math.min(1, d.params.length - 1)))),
      h('canvas', { class: 'plot', id: 'cv-contour', style: 'height:340px' }));
  }
  function drawContour(d) {
    const cv = document.getElementById('cv-contour');
    if (!cv || d.params.length < 2) { setPoints('contour', 0); return; }
    const { ctx, w, h: H } = setupCanvas(cv);
    const px = d.params[+document.getElementById('contour-x').value], py = d.params[+document.getElementById('contour-y').value];
    const ax = paramAxis(px), ay = paramAxis(py);
    const all = completeIdx(d), pxv = px.v, pyv = py.v, idx = [];
    for (let c = 0; c < all.length; c++) { const i = all[c], a = pxv[i], b = pyv[i]; if (a - a === 0 && b - b === 0) idx.push(i); }
    const v = d.values[0], sign = directionOf(d);
    const xr = ax.cat ? [-0.5, px.dist.choices.length - 0.5] : dataExtent(d, 'p:' + px.name, px.v, false, ax.log);
    const yr = ay.cat ? [-0.5, py.dist.choices.length - 0.5] : dataExtent(d, 'p:' + py.name, py.v, false, ay.log);
    const f = frame(ctx, w, H, xr, yr, { xlog: ax.log, ylog: ay.log, xtitle: px.name + ' × ' + py.name, xlabels: ax.cat ? ax.labels : null, ylabels: ay.cat ? ay.labels : null });
    const vr = dataExtent(d, 'value0', v, true);
    const G = 32, sum = new Float64Array(G * G), cnt = new Float64Array(G * G);
    // cell of a value on an axis: floor((t - lo) * G / (hi - lo)), t = value or its log10
    const axisMap = (r, a) => {
      const lo = a.log ? Math.log10(r[0]) : r[0], hi = a.log ? Math.log10(r[1]) : r[1];
      return { lo, k: G / (hi - lo || 1), log: a.log };
    };
    const mx = axisMap(xr, ax), my = axisMap(yr, ay);
    for (let c = 0; c < idx.length; c++) {
      const i = idx[c];
      const tx = mx.log ? Math.log10(pxv[i]) : pxv[i], ty = my.log ? Math.log10(pyv[i]) : pyv[i];
      const cx = Math.min(G - 1, Math.max(0, Math.floor((tx - mx.lo) * mx.k)));
      const cy = Math.min(G - 1, Math.max(0, Math.floor((ty - my.lo) * my.k)));
      sum[cy * G + cx] += v[i];
      cnt[cy * G + cx]++;
    }
    // fill empty cells from their neighbours (a few sweeps), then paint
    let mean = new Float64Array(G * G).fill(NaN);
    for (let c = 0; c < G * G; c++) if (cnt[c]) mean[c] = sum[c] / cnt[c];
    for (let sweep = 0; sweep < G && idx.length; sweep++) {
      let empty = 0;
      const next = mean.slice();
      for (let y = 0; y < G; y++) for (let x = 0; x < G; x++) {
        const c = y * G + x;
        if (!Number.isNaN(mean[c])) continue;
        let s = 0, k = 0;
        for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
          const xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= G || yy >= G) continue;
          const m = mean[yy * G + xx];
          if (!Number.isNaN(m)) { s += m; k++; }
        }
        if (k) next[c] = s / k; else empty++;
      }
      mean = next;
      if (!empty) break;
    }
    const cw = (f.X1 - f.X0) / G, ch = (f.Y0 - f.Y1) / G;
    ctx.globalAlpha = 0.85;
    for (let y = 0; y < G; y++) for (let x = 0; x < G; x++) {
      const m = mean[y * G + x];
      if (Number.isNaN(m)) continue;
      ctx.fillStyle = ramp(sign > 0 ? (vr[1] - m) / (vr[1] - vr[0] || 1) : (m - vr[0]) / (vr[1] - vr[0] || 1));
      ctx.fillRect(f.X0 + x * cw, f.Y0 - (y + 1) * ch, cw + 0.5, ch + 0.5);
    }
    ctx.globalAlpha = 1;
    if (idx.length > BIG) {
      const L = pixelLayer(ctx, w, H), c = L.color('rgba(0,0,0,0.6)');
      L.scatter(f, idx, px.v, py.v, c);
      L.done();
    } else {
      ctx.fillStyle = 'rgba(0,0,0,0.55)';
      for (const i of idx) dot(ctx, f.x(px.v[i]), f.y(py.v[i]), 1.5);
    }
    setPoints('contour', idx.length);
  }

  /* Importance and advice come from `insight`'s builders in view/ (the
   * study.importance and study.advise shapes of docs/protocol.md), served
   * as /api/importance and /api/advise; a server without them answers 404
   * and the panels say so. */
  function importancePanel() {
    return panel('importance', 'Parameter importance', 'share of the objective\'s variation each parameter explains (complete trials)',
      h('div', { class: 'filters' }, 'evaluator ', h('select', { id: 'importance-evaluator', onchange: () => loadInsight(true) },
        h('option', { value: 'ped-anova' }, 'PED-ANOVA (Optuna 5 default)'), h('option', { value: 'fanova' }, 'fANOVA'))),
      h('div', { id: 'importance-body', class: 'muted' }, 'No importance for this study.'));
  }
  function drawImportance(imp) {
    const box = document.getElementById('importance-body');
    if (!box) return;
    if (!imp || !Array.isArray(imp.importances)) {
      box.className = 'muted';
      box.textContent = imp && imp.error ? imp.error : 'No importance for this study.';
      setPoints('importance', 0);
      return;
    }
    const entries = imp.importances;
    const max = entries.length ? entries[0].importance || 1 : 1;
    box.className = '';
    box.replaceChildren(h('table', {}, h('tbody', {}, entries.map((e) => h('tr', { 'data-param': e.param },
      h('td', {}, e.param), h('td', { class: 'num' }, fmt(e.importance, 3)),
      h('td', { style: 'width:60%' }, h('span', { class: 'bar', style: `width:${(100 * e.importance / max).toFixed(1)}%` })))))),
      h('div', { class: 'note' }, `${imp.evaluator || ''} over ${imp.n_trials} complete trials` +
        (imp.skipped && imp.skipped.length ? '; not ranked: ' + imp.skipped.map((x) => x.param + ' (' + x.reason + ')').join(', ') : '')));
    setPoints('importance', entries.length);
  }
  function advicePanel() {
    return panel('advice wide', 'Tuning advice', 'statements drawn from this study\'s own trials and curves; each names its evidence',
      h('div', { id: 'advice-body', class: 'muted' }, 'No advice for this study.'));
  }
  function drawAdvice(adv) {
    const box = document.getElementById('advice-body');
    if (!box) return;
    if (!adv || !Array.isArray(adv.advice)) {
      box.className = 'muted';
      box.textContent = adv && adv.error ? adv.error : 'No advice for this study.';
      setPoints('advice', 0);
      return;
    }
    box.className = '';
    box.replaceChildren(adv.advice.length ? h('ul', {}, adv.advice.map((a) => h('li', { 'data-rule': a.rule },
      h('b', {}, a.rule + ': '), a.text, ' ',
      h('span', { class: 'muted' }, (a.trials || []).slice(0, 12).map((t) => h('a', { href: '#/study/' + q(app.current) + '/trial/' + t, style: 'margin-right:4px' }, '#' + t)))))) :
      h('p', { class: 'muted' }, 'Nothing to say yet.'));
    setPoints('advice', adv.advice.length);
  }
  async function loadInsight(redraw) {
    const name = app.current;
    const ev = (document.getElementById('importance-evaluator') || {}).value || 'ped-anova';
    const [imp, adv] = await Promise.all([api.importance(name, ev).catch((e) => ({ error: e.status === 404 && !REPORT ? 'This server has no importance yet.' : e.message })),
      api.advise(name).catch((e) => ({ error: e.status === 404 && !REPORT ? 'This server has no advice yet.' : e.message }))]);
    if (name !== app.current) return;
    app.importance = imp;
    app.advice = adv;
    if (redraw) { drawImportance(imp); drawAdvice(adv); }
  }

  function timelinePanel() {
    return panel('timeline', 'Timeline', 'trials by start and end, one row per worker slot (how busy the workers were)',
      h('canvas', { class: 'plot', id: 'cv-timeline' }),
      h('div', { class: 'legend' }, [COMPLETE, PRUNED, FAIL, RUNNING].map((s) => h('span', {}, h('i', { style: 'background:' + STATE_COLOR[s] }), STATES[s].toLowerCase()))));
  }
  function drawTimeline(d) {
    const cv = document.getElementById('cv-timeline');
    if (!cv) return;
    const now = Date.now() / 1000;
    const idx = [];
    for (let i = 0; i < d.n; i++) if (Number.isFinite(d.start[i])) idx.push(i);
    // trials are numbered as they start: sort only when they are not in order
    let sorted = true;
    for (let k = 1; k < idx.length && sorted; k++) sorted = d.start[idx[k - 1]] <= d.start[idx[k]];
    if (!sorted) idx.sort((a, b) => d.start[a] - d.start[b]);
    // slots: each trial takes the lowest slot free at its start (interval partitioning)
    const slotEnd = [], slot = new Int32Array(d.n), start = d.start, end = d.end;
    const t0 = idx.length ? start[idx[0]] : now;
    let t1 = t0 + 1;
    for (let c = 0; c < idx.length; c++) {
      const i = idx[c], s0 = start[i], e0 = end[i], e = e0 - e0 === 0 ? e0 : now;
      let k = 0;
      while (k < slotEnd.length && slotEnd[k] > s0) k++;
      if (k === slotEnd.length) slotEnd.push(0);
      slotEnd[k] = e;
      slot[i] = k;
      if (e > t1) t1 = e;
    }
    const nslots = Math.max(1, slotEnd.length);
    cv.style.height = Math.min(480, Math.max(120, 50 + nslots * 22)) + 'px';
    const { ctx, w, h: H } = setupCanvas(cv);
    const f = frame(ctx, w, H, [t0, t1], [-0.5, nslots - 0.5], { xfmt: (t) => fmtDur(t - t0), xtitle: 'time since the first trial started', ylabels: Array.from({ length: nslots }, (_, k) => 'slot ' + k) });
    const bh = Math.max(1, Math.min(16, (f.Y0 - f.Y1) / nslots - 3));
    let busy = 0;
    const L = idx.length > BIG ? pixelLayer(ctx, w, H) : null;
    const colors = STATE_COLOR.map((c) => (L ? L.color(hexRgb(c)) : c));
    // Many trials: each slot's row is one colour per pixel column (the
    // trial drawn last there), painted as runs: as many rectangles as the
    // row has colour changes, not one per trial.
    const W = Math.ceil(w), rows = L ? Array.from({ length: nslots }, () => new Int8Array(W).fill(-1)) : null;
    for (const i of idx) {
      const e = Number.isFinite(d.end[i]) ? d.end[i] : now;
      const x0 = f.x(d.start[i]), x1 = Math.max(x0 + 1, f.x(e));
      if (rows) rows[slot[i]].fill(d.state[i], Math.max(0, Math.floor(x0)), Math.min(W, Math.ceil(x1)));
      else { ctx.fillStyle = colors[d.state[i]]; ctx.fillRect(x0, f.y(slot[i]) - bh / 2, x1 - x0, bh); }
      busy += e - d.start[i];
    }
    if (L) {
      rows.forEach((row, k) => {
        const y = f.y(k) - bh / 2;
        for (let x = 0; x < W;) {
          let x2 = x + 1;
          while (x2 < W && row[x2] === row[x]) x2++;
          if (row[x] >= 0) L.rect(x, y, x2, y + bh, colors[row[x]]);
          x = x2;
        }
      });
      L.done();
    }
    const util = idx.length ? busy / (nslots * (t1 - t0)) : 0;
    setPoints('timeline', idx.length, { slots: slotEnd.length, utilization: util.toFixed(3) });
    const note = document.querySelector('#panel-timeline .note');
    if (note) note.textContent = `${idx.length} trials on ${slotEnd.length} slot(s); the slots were busy ${(100 * util).toFixed(1)}% of the time`;
  }

  // ---- the trial table (only the visible rows are in the page) ----------------------
  const ROW_H = 24;
  function tablePanel(d) {
    const stateBoxes = STATES.map((s) => h('label', {}, h('input', { type: 'checkbox', checked: true, 'data-state': s, onchange: () => renderTable(app.data, true) }), ' ' + s.toLowerCase()));
    const paramFilters = d.params.map((p, j) => {
      if (p.dist && p.dist.type === 'categorical')
        return h('label', {}, p.name + ' ', h('select', { 'data-filter': j, onchange: () => renderTable(app.data, true) }, h('option', { value: '' }, 'any'), p.dist.choices.map((c, k) => h('option', { value: k }, String(c)))));
      return h('label', {}, p.name + ' ', h('input', { type: 'text', 'data-filter-lo': j, placeholder: 'min', onchange: () => renderTable(app.data, true) }), '–', h('input', { type: 'text', 'data-filter-hi': j, placeholder: 'max', onchange: () => renderTable(app.data, true) }));
    });
    return h('section', { class: 'panel wide', id: 'panel-table', 'data-panel': 'table', 'data-points': '0' },
      h('h2', {}, 'Trials'),
      h('div', { class: 'filters' }, stateBoxes, h('span', { id: 'table-count', class: 'muted' })),
      h('div', { class: 'filters' }, paramFilters),
      h('div', { class: 'tablewrap', id: 'tablewrap', onscroll: () => renderRows() },
        h('table', { id: 'trials' }, h('thead', { id: 'trials-head' }), h('tbody', { id: 'trials-body' }))));
  }
  function tableColumns(d) {
    const cols = [
      { key: 'number', label: 'trial', num: true, get: (i) => d.number[i], text: (i) => String(d.number[i]) },
      { key: 'state', label: 'state', get: (i) => d.state[i], cell: (i) => h('span', { class: 'st st-' + STATES[d.state[i]] }, STATES[d.state[i]]) },
    ];
    d.values.forEach((_, j) => cols.push({ key: 'v' + j, label: d.values.length > 1 ? 'value ' + j : 'value', num: true, get: (i) => d.values[j][i], text: (i) => Number.isNaN(d.values[j][i]) ? '' : fmt(d.values[j][i], 8) }));
    cols.push({ key: 'duration', label: 'duration', num: true, get: (i) => d.duration(i), text: (i) => fmtDur(d.duration(i)) });
    d.params.forEach((p) => cols.push({ key: 'p:' + p.name, label: p.name, num: !(p.dist && p.dist.type === 'categorical'), get: (i) => p.v[i], text: (i) => d.paramText(p, i) }));
    d.attrs.forEach((a) => cols.push({ key: 'u:' + a.name, label: a.name, num: true, get: (i) => { const x = d.attrValue(a, i); return typeof x === 'number' ? x : NaN; }, text: (i) => { const x = d.attrValue(a, i); return typeof x === 'number' ? fmt(x, 6) : JSON.stringify(x); } }));
    cols.push({ key: 'reason', label: 'reason', get: (i) => d.reason.get(d.number[i]) || '', text: (i) => d.reason.get(d.number[i]) || '' });
    return cols;
  }
  let tableRows = [], tableCols = [];
  function renderTable(d, resetScroll) {
    const head = document.getElementById('trials-head');
    if (!head) return;
    tableCols = tableColumns(d);
    const want = new Set([...document.querySelectorAll('#panel-table input[data-state]')].filter((x) => x.checked).map((x) => STATES.indexOf(x.getAttribute('data-state'))));
    const filters = [];
    document.querySelectorAll('#panel-table [data-filter]').forEach((s) => { if (s.value !== '') filters.push({ p: d.params[+s.getAttribute('data-filter')], eq: +s.value }); });
    document.querySelectorAll('#panel-table [data-filter-lo]').forEach((s) => {
      const j = +s.getAttribute('data-filter-lo');
      const hi = document.querySelector(`#panel-table [data-filter-hi="${j}"]`);
      const lo = s.value.trim() === '' ? -Infinity : Number(s.value), up = hi.value.trim() === '' ? Infinity : Number(hi.value);
      if (lo !== -Infinity || up !== Infinity) filters.push({ p: d.params[j], lo, hi: up });
    });
    const rows = [];
    for (let i = 0; i < d.n; i++) {
      if (!want.has(d.state[i])) continue;
      let ok = true;
      for (const f of filters) {
        const x = f.p.v[i];
        if ('eq' in f ? x !== f.eq : !(x >= f.lo && x <= f.hi)) { ok = false; break; }
      }
      if (ok) rows.push(i);
    }
    const { key, dir } = app.tableSort;
    const col = tableCols.find((c) => c.key === key) || tableCols[0];
    if (col.key !== 'number' || dir !== 1) {
      const g = col.get;
      const vals = new Map(rows.map((i) => [i, g(i)]));
      rows.sort((a, b) => {
        const x = vals.get(a), y = vals.get(b);
        const xn = typeof x === 'number' && Number.isNaN(x), yn = typeof y === 'number' && Number.isNaN(y);
        if (xn || yn) return xn && yn ? a - b : xn ? 1 : -1; // empty cells last either way
        return (x < y ? -1 : x > y ? 1 : a - b) * dir;
      });
    }
    tableRows = rows;
    head.replaceChildren(h('tr', {}, tableCols.map((c) => h('th', { 'data-key': c.key, onclick: () => {
      app.tableSort = { key: c.key, dir: app.tableSort.key === c.key ? -app.tableSort.dir : 1 };
      renderTable(app.data, false);
    } }, c.label + (c.key === key ? (dir > 0 ? ' ▲' : ' ▼') : '')))));
    document.getElementById('table-count').textContent = `${rows.length} of ${d.n} trials`;
    const wrap = document.getElementById('tablewrap');
    if (resetScroll) wrap.scrollTop = 0;
    setPoints('table', rows.length);
    renderRows();
  }
  function renderRows() {
    const wrap = document.getElementById('tablewrap'), body = document.getElementById('trials-body');
    if (!wrap || !body) return;
    const d = app.data;
    const first = Math.max(0, Math.floor(wrap.scrollTop / ROW_H) - 5);
    const count = Math.ceil(wrap.clientHeight / ROW_H) + 10;
    const last = Math.min(tableRows.length, first + count);
    const pad = (n) => h('tr', { style: `height:${n * ROW_H}px` }, h('td', { colspan: tableCols.length, style: 'padding:0;border:0' }));
    const rows = [];
    if (first > 0) rows.push(pad(first));
    for (let r = first; r < last; r++) {
      const i = tableRows[r];
      rows.push(h('tr', { class: 'click', style: `height:${ROW_H}px`, 'data-trial': d.number[i], onclick: () => { location.hash = '#/study/' + q(app.current) + '/trial/' + d.number[i]; } },
        tableCols.map((c) => h('td', { class: c.num ? 'num' : '' }, c.cell ? c.cell(i) : c.text(i)))));
    }
    if (tableRows.length > last) rows.push(pad(tableRows.length - last));
    body.replaceChildren(...rows);
  }

  // ---- one trial ------------------------------------------------------------------
  function trialPage(num) {
    const d = app.data;
    const i = num;
    if (!d || i < 0 || i >= d.n) { main.replaceChildren(h('p', {}, 'No trial ' + num + ' in this study.')); return; }
    document.getElementById('crumbs').replaceChildren(' / ', h('a', { href: '#/study/' + q(app.current) }, app.current), ' / trial ' + num);
    const iv = d.intermediate(i);
    const rows = (pairs) => h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    main.replaceChildren(
      h('h1', {}, `Trial ${num} `, h('span', { class: 'st st-' + STATES[d.state[i]], id: 'trial-state' }, STATES[d.state[i]])),
      h('div', { class: 'grid' },
        h('section', { class: 'panel', id: 'panel-trial', 'data-panel': 'trial', 'data-points': iv.length },
          h('h2', {}, 'Learning curve'), h('canvas', { class: 'plot', id: 'cv-trial' })),
        h('section', { class: 'panel' }, h('h2', {}, 'Trial'),
          rows([['value', d.values.map((v) => fmt(v[i], 17)).join(', ')], ['started', fmtTime(d.start[i])], ['finished', fmtTime(d.end[i])],
            ['duration', fmtDur(d.duration(i))], ['reason', d.reason.get(num) || '—']]),
          h('h2', { style: 'margin-top:10px' }, 'Parameters'),
          rows(d.params.filter((p) => !Number.isNaN(p.v[i])).map((p) => [p.name, d.paramText(p, i)])),
          h('h2', { style: 'margin-top:10px' }, 'User attributes'),
          d.attrs.length ? rows(d.attrs.map((a) => { const x = d.attrValue(a, i); return [a.name, typeof x === 'number' ? fmt(x, 17) : JSON.stringify(x)]; }).filter(([, t]) => t !== 'nan')) : h('p', { class: 'muted' }, 'none'))));
    const cv = document.getElementById('cv-trial');
    const { ctx, w, h: H } = setupCanvas(cv);
    const xs = iv.map((p) => p[0]), ys = iv.map((p) => p[1]);
    const f = frame(ctx, w, H, extent(xs), extent(ys), { xtitle: 'step' });
    ctx.strokeStyle = STATE_COLOR[d.state[i]];
    ctx.fillStyle = STATE_COLOR[d.state[i]];
    ctx.lineWidth = 2;
    ctx.beginPath();
    iv.forEach(([s, y], k) => { if (k) ctx.lineTo(f.x(s), f.y(y)); else ctx.moveTo(f.x(s), f.y(y)); });
    ctx.stroke();
    iv.forEach(([s, y]) => dot(ctx, f.x(s), f.y(y), 3));
  }

  // ---- Pareto front (studies with several objectives) -------------------------------
  function paretoFront(d) {
    const idx = [];
    for (let i = 0; i < d.n; i++) if (d.state[i] === COMPLETE && d.values.every((v) => Number.isFinite(v[i]))) idx.push(i);
    const sg = d.directions.map((x) => (x === 'maximize' ? -1 : 1));
    const m = d.values.length;
    const key = (i, j) => sg[j] * d.values[j][i];
    const front = [];
    if (m === 2) {
      idx.sort((a, b) => key(a, 0) - key(b, 0) || key(a, 1) - key(b, 1));
      let best = Infinity;
      for (const i of idx) if (key(i, 1) < best) { front.push(i); best = key(i, 1); }
    } else {
      for (const i of idx) {
        let dominated = false;
        for (const k of idx) {
          if (k === i) continue;
          let le = true, lt = false;
          for (let j = 0; j < m; j++) { const a = key(k, j), b = key(i, j); if (a > b) { le = false; break; } if (a < b) lt = true; }
          if (le && lt) { dominated = true; break; }
        }
        if (!dominated) front.push(i);
      }
    }
    return { idx, front };
  }
  function paretoPanel(d) {
    if (d.values.length < 2) return null;
    const sel = (id, k) => h('select', { id, onchange: () => drawPareto(app.data) }, d.values.map((_, j) => h('option', { value: j, selected: j === k }, 'objective ' + j + ' (' + d.directions[j] + ')')));
    return h('section', { class: 'panel wide', id: 'panel-pareto', 'data-panel': 'pareto', 'data-points': '0' },
      h('h2', {}, 'Pareto front'), h('div', { class: 'note' }, 'complete trials; red: not dominated by any other trial'),
      h('div', { class: 'filters' }, 'x ', sel('pareto-x', 0), ' y ', sel('pareto-y', 1)),
      h('canvas', { class: 'plot', id: 'cv-pareto', style: 'height:360px' }));
  }
  function drawPareto(d) {
    const cv = document.getElementById('cv-pareto');
    if (!cv) return;
    const { ctx, w, h: H } = setupCanvas(cv);
    const jx = +document.getElementById('pareto-x').value, jy = +document.getElementById('pareto-y').value;
    const { idx, front } = paretoFront(d);
    const vx = d.values[jx], vy = d.values[jy];
    const f = frame(ctx, w, H, dataExtent(d, 'value' + jx, vx, true), dataExtent(d, 'value' + jy, vy, true), { xtitle: 'objective ' + jx });
    if (idx.length > BIG) {
      const L = pixelLayer(ctx, w, H), c = L.color('rgb(128,165,235)');
      L.scatter(f, idx, vx, vy, c);
      L.done();
    } else {
      ctx.fillStyle = 'rgba(47,111,223,0.45)';
      for (const i of idx) dot(ctx, f.x(vx[i]), f.y(vy[i]), 2.5);
    }
    ctx.fillStyle = '#d64545';
    for (const i of front) dot(ctx, f.x(vx[i]), f.y(vy[i]), 4);
    setPoints('pareto', idx.length, { front: front.length });
  }

  // ---- drawing a study ---------------------------------------------------------------
  function buildStudyPage() {
    const d = app.data, s = app.summary;
    document.getElementById('crumbs').replaceChildren(' / ', h('a', { href: '#/study/' + q(app.current) }, app.current));
    const pareto = paretoPanel(d);
    main.replaceChildren(
      h('div', { id: 'summary-slot' }, summaryPanel(s)),
      h('div', { class: 'grid', style: 'margin-top:12px' },
        pareto, historyPanel(), intermediatePanel(), parallelPanel(), contourPanel(d), importancePanel(), timelinePanel(),
        advicePanel(),
        slicePanel(d),
        tablePanel(d)));
    app.built = { params: d.params.map((p) => p.name + ':' + (p.dist ? p.dist.type : '')).join(','), nobj: d.values.length };
    drawAll();
  }
  /* Draws every panel. A live update (soon = true) draws the history and
   * the table at once and the other panels one per turn of the event loop
   * after, so the new trial shows without waiting for every plot; only the
   * panels whose data changed since they were last drawn (app.dirty: a
   * trial that starts changes the table, the timeline and the curves, not
   * the plots of complete trials); while a newer read of the trials is on
   * its way, the remaining panels wait for it (it draws them again), and a
   * newer update cancels them. */
  let drawGen = 0;
  const PANELS_OF = { // which panels show what (StudyData.changed)
    complete: ['history', 'parallel', 'contour', 'slice', 'pareto'],
    curves: ['intermediate'],
    trials: ['table', 'timeline'],
  };
  function markDirty(changed) {
    if (!app.dirty.size) app.dirtySince = performance.now();
    for (const what in PANELS_OF) if (!changed || changed[what]) for (const p of PANELS_OF[what]) app.dirty.add(p);
  }
  function drawAll(soon) {
    const d = app.data, gen = ++drawGen;
    const t0 = performance.now(), times = {};
    mark('hp-draw-start');
    if (!soon) markDirty(null);
    const timed = (name, fn) => {
      if (!app.dirty.has(name) && name !== 'importance') return;
      app.dirty.delete(name);
      const a = performance.now(); fn(); times[name] = +(performance.now() - a).toFixed(1);
      const p = document.getElementById('panel-' + name);
      if (p) p.setAttribute('data-draws', String(+(p.getAttribute('data-draws') || 0) + 1)); // for the tests
    };
    const first = [['history', () => drawHistory(d)], ['table', () => renderTable(d, false)]];
    const rest = [['intermediate', () => drawIntermediate(d)], ['parallel', () => drawParallel(d)],
      ['contour', () => drawContour(d)], ['slice', () => drawSlice(d)], ['timeline', () => drawTimeline(d)],
      ['pareto', () => drawPareto(d)], ['importance', () => { drawImportance(app.importance); drawAdvice(app.advice); }]];
    const finish = () => {
      main.setAttribute('data-rendered', String(d.version));
      main.setAttribute('data-render-ms', (performance.now() - t0).toFixed(1));
      main.setAttribute('data-panel-ms', JSON.stringify(times));
      main.setAttribute('data-trials', String(d.n));
      mark('hp-drawn');
      requestAnimationFrame(() => setTimeout(() => mark('hp-painted'), 0));
    };
    for (const [name, fn] of first) timed(name, fn);
    if (soon) mark('hp-live-drawn');
    if (!soon) {
      for (const [name, fn] of rest) timed(name, fn);
      finish();
      return;
    }
    const next = (k) => {
      if (gen !== drawGen || app.data !== d) return;
      // a newer read comes: wait for it, unless panels have waited 300 ms
      // already (a study whose events never stop still gets them drawn)
      if ((refreshing || refreshTimer) && performance.now() - app.dirtySince < 300) { setTimeout(() => next(k), 20); return; }
      if (k === rest.length) { finish(); return; }
      timed(rest[k][0], rest[k][1]);
      setTimeout(() => next(k + 1), 0);
    };
    setTimeout(() => next(0), 0);
  }
  function updateStudyPage() {
    const d = app.data;
    markDirty(d.changed);
    const sig = d.params.map((p) => p.name + ':' + (p.dist ? p.dist.type : '')).join(',');
    if (!app.built || app.built.params !== sig || app.built.nobj !== d.values.length) { buildStudyPage(); return; }
    showSummary();
    drawAll(true);
  }

  // ---- routing and refreshing ----------------------------------------------------------
  async function loadStudies() {
    const r = await api.studies();
    app.studies = r.studies;
    app.daemon = r.daemon;
    app.db = r.db;
    app.report = !!r.report;
    if (typeof r.seq === 'number' && app.seq === 0) app.seq = r.seq;
    if (!app.report) setLive(!!app.daemon, app.daemon ? 'live (daemon)' : 'read-only');
    else setLive(false, 'report');
  }
  /* The columns and the summary are asked for at once; the plots are drawn
   * as soon as the columns are here, the summary shown when it comes (the
   * server computes it on another thread). */
  let summaryBusy = null, summaryAgain = false; // one request at a time; a newer one after it
  function loadSummary(name) {
    if (summaryBusy === name) { summaryAgain = true; return; }
    summaryBusy = name;
    api.study(name).then((s) => {
      if (name !== app.current) return;
      app.summary = s;
      showSummary();
    }).catch((e) => { if (name === app.current) toast('summary: ' + e.message, true); })
      .finally(() => {
        summaryBusy = null;
        if (summaryAgain && name === app.current) { summaryAgain = false; loadSummary(name); }
      });
  }
  async function loadStudy(name, full) {
    if (app.current !== name || full || !app.data) {
      full = true;
      app.current = name;
      app.summary = null;
      loadSummary(name);
      const data = new StudyData();
      data.apply(await api.columns(name, 0));
      mark('hp-columns-applied');
      app.data = data;
      app.built = null;
    } else {
      loadSummary(name);
      mark('hp-live-asked');
      app.data.apply(await api.columns(name, app.data.firstOpen()));
      mark('hp-live-applied');
    }
    // Importance and advice read every trial of the study (seconds at 100,000
    // trials, during which the server answers nothing else): once per page,
    // after the panels are drawn, not on every live update.
    if (full) {
      app.importance = app.advice = null;
      setTimeout(() => loadInsight(true), 0);
    }
  }
  async function route() {
    const m = location.hash.match(/^#\/study\/([^/]*)(?:\/trial\/(\d+))?/);
    try {
      if (!m) {
        app.route = { page: 'studies' };
        await loadStudies();
        studiesPage();
        return;
      }
      const name = decodeURIComponent(m[1]);
      app.route = { page: m[2] ? 'trial' : 'study', name, trial: m[2] ? +m[2] : null };
      // the study list (daemon, live state) alongside, not before
      const studies = app.studies.length ? null : loadStudies().then(() => showSummary());
      await loadStudy(name, app.current !== name);
      if (studies) studies.catch((e) => toast('studies: ' + e.message, true));
      if (app.route.page === 'trial') trialPage(app.route.trial);
      else { app.built = null; buildStudyPage(); }
    } catch (e) {
      main.replaceChildren(h('p', { class: 'error' }, 'Cannot load: ' + e.message));
      if (e.status === 403) setLive(false, 'forbidden');
    }
  }
  let refreshTimer = 0, refreshing = false, again = false;
  function refreshSoon(now) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, now ? 0 : 15);
  }
  async function refresh() {
    refreshTimer = 0;
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      // the study list only where it is shown (a study page has its own summary)
      if (app.route && app.route.page === 'studies') { await loadStudies(); studiesPage(); }
      else if (app.route && app.current) {
        await loadStudy(app.current, false);
        if (app.route.page === 'study') updateStudyPage();
        else trialPage(app.route.trial);
      }
    } catch (e) {
      toast('refresh failed: ' + e.message, true);
    } finally {
      refreshing = false;
      if (again) { again = false; refreshSoon(); }
    }
  }
  async function follow() {
    if (REPORT) return;
    for (;;) {
      try {
        const r = await api.events(app.seq);
        const fresh = r.events.length > 0 || r.lost;
        if (fresh) mark('hp-event');
        app.seq = r.seq;
        if (fresh) {
          const mine = r.lost || r.events.some((e) => !e.study || e.study === app.current || e.type.startsWith('study.') || e.type.startsWith('daemon') || e.type === 'db.changed');
          if (mine) refreshSoon();
        }
        setLive(!!r.daemon, r.daemon ? 'live (daemon)' : 'read-only');
        if (!!r.daemon !== !!app.daemon) { await loadStudies(); refreshSoon(true); } // a daemon came or went
      } catch (e) {
        setLive(false, e.status === 403 ? 'forbidden' : 'disconnected');
        await new Promise((res) => setTimeout(res, 2000));
      }
    }
  }

  window.addEventListener('hashchange', route);
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (app.route && app.route.page === 'study' && app.data) drawAll(); }, 150);
  });
  if (REPORT && !location.hash) location.hash = '#/study/' + q(REPORT.study.name);
  route().then(follow);
})();
