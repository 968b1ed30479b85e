// Spectra Edge live viewer. Quicklooks (PNG) and status arrive over MQTT-over-WebSocket; a pixel's spectrum is
// fetched from the view server (GET /api/<device>/spectrum?x=&y=), because whole cubes are far too large for
// browsers over MQTT-over-WebSocket (mqtt.js #655, #980).
'use strict';

(function () {
  const devices = new Map();
  const connection = document.getElementById('connection');

  function setConnection(state, text) {
    connection.dataset.state = state;
    connection.textContent = text;
  }

  async function getJson(url) {
    const res = await fetch(url, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `${url}: HTTP ${res.status}`);
    return body;
  }

  function deviceView(name) {
    let d = devices.get(name);
    if (d) return d;
    const node = document.getElementById('device-template').content.firstElementChild.cloneNode(true);
    node.dataset.device = name;
    node.querySelector('.name').textContent = name;
    document.getElementById('devices').appendChild(node);
    document.getElementById('empty').hidden = true;
    d = {
      name,
      node,
      img: node.querySelector('.quicklook'),
      marker: node.querySelector('.marker'),
      canvas: node.querySelector('.spectrum'),
      readout: node.querySelector('.readout'),
      arrivals: [],
      objectUrl: null,
      pinned: null,
      pending: null,
      inFlight: false,
    };
    d.img.addEventListener('mousemove', (ev) => {
      if (!d.pinned) requestSpectrum(d, pixelAt(d, ev));
    });
    d.img.addEventListener('click', (ev) => {
      d.pinned = pixelAt(d, ev);
      node.dataset.pinned = `${d.pinned.x},${d.pinned.y}`;
      requestSpectrum(d, d.pinned);
    });
    d.img.addEventListener('dblclick', () => {
      d.pinned = null;
      delete node.dataset.pinned;
    });
    devices.set(name, d);
    return d;
  }

  // Displayed (CSS) pixels -> cube pixels: the quicklook has the cube's spatial size.
  function pixelAt(d, ev) {
    const rect = d.img.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - rect.left) / rect.width) * d.img.naturalWidth);
    const y = Math.floor(((ev.clientY - rect.top) / rect.height) * d.img.naturalHeight);
    return {
      x: Math.min(Math.max(x, 0), d.img.naturalWidth - 1),
      y: Math.min(Math.max(y, 0), d.img.naturalHeight - 1),
    };
  }

  // One request in flight per device; while it runs only the newest cursor position is kept.
  function requestSpectrum(d, at) {
    d.pending = at;
    if (d.inFlight) return;
    d.inFlight = true;
    const next = d.pending;
    d.pending = null;
    getJson(`/api/${encodeURIComponent(d.name)}/spectrum?x=${next.x}&y=${next.y}`)
      .then((s) => drawSpectrum(d, s))
      .catch((err) => {
        d.readout.textContent = err.message;
      })
      .finally(() => {
        d.inFlight = false;
        if (d.pending) requestSpectrum(d, d.pending);
      });
  }

  function drawSpectrum(d, s) {
    const c = d.canvas;
    c.dataset.x = String(s.x);
    c.dataset.y = String(s.y);
    c.dataset.sequence = String(s.sequence);
    c.dataset.values = JSON.stringify(s.values);
    c.dataset.wavelengths = JSON.stringify(s.wavelengths);
    const rect = d.img.getBoundingClientRect();
    d.marker.style.display = 'block';
    d.marker.style.left = `${((s.x + 0.5) / d.img.naturalWidth) * rect.width}px`;
    d.marker.style.top = `${((s.y + 0.5) / d.img.naturalHeight) * rect.height}px`;

    const ctx = c.getContext('2d');
    const w = c.width;
    const h = c.height;
    const pad = { l: 48, r: 10, t: 10, b: 28 };
    ctx.clearRect(0, 0, w, h);
    const wl = s.wavelengths;
    const v = s.values.map((x) => (Number.isFinite(x) ? x : 0));
    const wMin = wl[0];
    const wMax = wl[wl.length - 1];
    const vMin = Math.min(0, ...v);
    const vMax = Math.max(...v, vMin + 1e-6);
    const px = (x) => pad.l + ((x - wMin) / (wMax - wMin || 1)) * (w - pad.l - pad.r);
    const py = (y) => h - pad.b - ((y - vMin) / (vMax - vMin)) * (h - pad.t - pad.b);
    ctx.strokeStyle = '#9aa5b1';
    ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
    ctx.fillStyle = '#5f6b76';
    ctx.font = '11px "Liberation Sans", Arial, sans-serif';
    ctx.fillText(`${wMin.toFixed(0)} nm`, pad.l, h - 10);
    ctx.fillText(`${wMax.toFixed(0)} nm`, w - pad.r - 44, h - 10);
    ctx.fillText(vMax.toFixed(3), 4, pad.t + 10);
    ctx.fillText(vMin.toFixed(3), 4, h - pad.b);
    ctx.strokeStyle = '#1f6feb';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    v.forEach((y, i) => (i === 0 ? ctx.moveTo(px(wl[i]), py(y)) : ctx.lineTo(px(wl[i]), py(y))));
    ctx.stroke();
    const peak = v.indexOf(Math.max(...v));
    d.readout.textContent = `pixel (${s.x}, ${s.y}) of #${s.sequence}: ${v.length} bands, peak ${v[peak].toFixed(4)} at ${wl[peak]} nm`;
  }

  async function onQuicklook(name, payload) {
    const d = deviceView(name);
    const now = performance.now();
    d.arrivals.push(now);
    while (d.arrivals.length > 2 && now - d.arrivals[0] > 10000) d.arrivals.shift();
    const blob = new Blob([payload], { type: 'image/png' });
    const url = URL.createObjectURL(blob);
    await new Promise((resolve) => {
      d.img.onload = resolve;
      d.img.onerror = resolve;
      d.img.src = url;
    });
    if (d.objectUrl) URL.revokeObjectURL(d.objectUrl);
    d.objectUrl = url;
    let latest;
    try {
      latest = await getJson(`/api/${encodeURIComponent(name)}/latest`);
    } catch (err) {
      d.node.querySelector('.state').textContent = err.message;
      return;
    }
    const q = (sel) => d.node.querySelector(sel);
    q('.sequence').textContent = String(latest.sequence);
    q('.shape').textContent = `${latest.shape[0]} bands × ${latest.shape[1]} × ${latest.shape[2]}`;
    q('.model').textContent = latest.model ? `${latest.model.id} (${latest.model.precision})` : '–';
    const shownMs = Date.now() - Date.parse(latest.capturedAt);
    q('.latency').textContent = `${latest.latencyMs.toFixed(0)} ms capture→viewer (shown ${shownMs.toFixed(0)} ms after capture)`;
    const span = (d.arrivals[d.arrivals.length - 1] - d.arrivals[0]) / 1000;
    q('.fps').textContent = d.arrivals.length >= 2 && span > 0 ? ((d.arrivals.length - 1) / span).toFixed(2) : '–';
    d.node.dataset.sequence = String(latest.sequence);
    d.node.dataset.width = String(latest.shape[2]);
    d.node.dataset.height = String(latest.shape[1]);
    if (d.pinned) requestSpectrum(d, d.pinned);
  }

  function onStatus(name, payload) {
    let s;
    try {
      s = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    const d = deviceView(name);
    d.node.dataset.state = s.state || '';
    d.node.querySelector('.state').textContent = s.state || '';
    const parts = [];
    if (typeof s.fps === 'number') parts.push(`${s.fps.toFixed(2)} fps`);
    if (s.latencyMs) parts.push(`latency p50 ${s.latencyMs.p50} / p90 ${s.latencyMs.p90} / p99 ${s.latencyMs.p99} ms`);
    if (s.outbox) parts.push(`outbox ${s.outbox.depth}`);
    if (s.jetson && s.jetson.maxTemperatureC !== undefined) parts.push(`${s.jetson.maxTemperatureC} °C`);
    if (s.jetson && s.jetson.totalPowerMw !== undefined) parts.push(`${(s.jetson.totalPowerMw / 1000).toFixed(1)} W`);
    // A bare {"state":"offline"} (the last will) keeps the last figures on screen: they say how it ran until then.
    const status = d.node.querySelector('.device-status');
    if (parts.length > 0) status.textContent = parts.join(', ');
    else if (status.textContent === '–') status.textContent = s.state || '–';
  }

  async function start() {
    const config = await getJson('/api/config');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = config.broker || `${scheme}://${location.host}/mqtt`;
    // MQTT 3.1.1: every broker speaks it, the embedded aedes one included.
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clientId: `spectra-viewer-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 2000,
    });
    client.on('connect', () => {
      setConnection('connected', `connected to ${url}`);
      client.subscribe(['spectra/+/quicklook', 'spectra/+/status'], { qos: 0 });
    });
    client.on('offline', () => setConnection('offline', `offline; retrying ${url}`));
    client.on('error', (err) => setConnection('error', `${url}: ${err.message}`));
    client.on('message', (topic, payload) => {
      const parts = topic.split('/');
      if (parts.length !== 3 || parts[0] !== 'spectra') return;
      if (parts[2] === 'quicklook') onQuicklook(parts[1], payload);
      else if (parts[2] === 'status') onStatus(parts[1], payload);
    });
  }

  start().catch((err) => setConnection('error', err.message));
})();
