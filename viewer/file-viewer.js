// Spectra Edge cube viewer (`spectra view FILE`). The page never holds the cube: it asks the server for one float32
// plane at a time (GET /api/plane: a band, a band of the reference, |a - b| of a band, or the spectral angle) and for
// one pixel's spectrum (GET /api/spectrum), keeping a few recent planes. Everything shown is computed here from
// those planes, and the figures behind the image are exposed as data attributes on #image for tests and scripts.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const image = $('image');
  const plot = $('spectrum');
  const COLOURS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
  // A few planes are enough for quick slider moves back and forth; each can be tens of MB for a large cube.
  const MAX_PLANES = 12;
  // Percentiles come from at most this many samples (every n-th pixel): sorting a 16-Mpixel plane stalls the page.
  const MAX_SAMPLES = 1 << 20;

  let meta = null;
  const planes = new Map();
  const state = { mode: 'band', source: 'cube', band: 0, nm: [640, 550, 460], stretch: [2, 98] };
  const pins = [];
  let nextColour = 0;
  let hover = null;
  let hoverInFlight = false;
  let hoverPending = null;
  let renderToken = 0;
  let shown = null;

  function showError(message) {
    const e = $('error');
    e.textContent = message;
    e.hidden = !message;
  }

  async function getJson(url) {
    const res = await fetch(url, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `${url}: HTTP ${res.status}`);
    return body;
  }

  function getPlane(source, band) {
    const key = source === 'angle' ? 'angle' : `${source}:${band}`;
    let p = planes.get(key);
    if (p) {
      planes.delete(key);
      planes.set(key, p);
      return p;
    }
    const url = source === 'angle' ? '/api/plane?source=angle' : `/api/plane?source=${source}&band=${band}`;
    p = fetch(url, { cache: 'no-store' }).then(async (res) => {
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error(body.error || `${url}: HTTP ${res.status}`);
      }
      return new Float32Array(await res.arrayBuffer());
    });
    p.catch(() => planes.delete(key));
    planes.set(key, p);
    while (planes.size > MAX_PLANES) planes.delete(planes.keys().next().value);
    return p;
  }

  function validOf(source) {
    return source === 'compare' && meta.compare ? meta.compare.bandValid : meta.bandValid;
  }

  function wavelengthText(b) {
    return meta.wavelengthsKnown ? `${meta.wavelengths[b].toFixed(1)} nm` : 'no wavelength in the file';
  }

  // The valid band nearest to `nm`: invalid bands (bbl / band_valid) hold no data and never enter a colour.
  function nearestValidBand(nm, valid) {
    let best = -1;
    for (let b = 0; b < meta.wavelengths.length; b++) {
      if (!valid[b]) continue;
      if (best < 0 || Math.abs(meta.wavelengths[b] - nm) < Math.abs(meta.wavelengths[best] - nm)) best = b;
    }
    return best;
  }

  // Black and white points of one channel: the lo/hi percentiles of its finite values (0 and 100 are min and max).
  function stretchOf(plane, lo, hi) {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < plane.length; i++) {
      const v = plane[i];
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      n++;
    }
    if (n === 0) return { lo: 0, hi: 1, min: null, max: null, mean: null };
    let sorted = null;
    const q = (p) => {
      if (p <= 0) return min;
      if (p >= 100) return max;
      if (sorted === null) {
        const step = Math.max(1, Math.ceil(plane.length / MAX_SAMPLES));
        const sample = [];
        for (let i = 0; i < plane.length; i += step) if (Number.isFinite(plane[i])) sample.push(plane[i]);
        sorted = Float32Array.from(sample).sort();
      }
      return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * (sorted.length - 1)))];
    };
    return { lo: q(lo), hi: q(hi), min, max, mean: sum / n };
  }

  function toByte(v, s) {
    if (!Number.isFinite(v)) return 0;
    const span = s.hi > s.lo ? s.hi - s.lo : 1;
    return Math.max(0, Math.min(255, Math.round(((v - s.lo) / span) * 255)));
  }

  function viewName() {
    if (state.mode === 'rgb') return `rgb-${shown.bands.map((b) => meta.wavelengths[b]).join('-')}`;
    if (state.mode === 'diff') return `absdiff-band${state.band}`;
    if (state.mode === 'angle') return 'spectral-angle';
    return `${state.source === 'compare' ? 'reference-' : ''}band${state.band}`;
  }

  async function render() {
    const token = ++renderToken;
    image.dataset.state = 'loading';
    const [lo, hi] = state.stretch;
    if (!(lo >= 0 && hi <= 100 && lo < hi)) {
      $('range').textContent = `stretch: expected 0 <= low < high <= 100 but got ${lo} / ${hi}`;
      image.dataset.state = 'error';
      return;
    }
    try {
      const mode = state.mode;
      let bands;
      let sources;
      if (mode === 'rgb') {
        const valid = validOf(state.source);
        bands = state.nm.map((nm) => nearestValidBand(nm, valid));
        if (bands.some((b) => b < 0)) throw new Error('every band is marked invalid: nothing to show in colour');
        ['r', 'g', 'b'].forEach((c, i) => {
          $(`picked-${c}`).textContent = ` → band ${bands[i]} (${wavelengthText(bands[i])})`;
        });
        sources = bands.map((b) => getPlane(state.source, b));
      } else if (mode === 'band') {
        bands = [state.band];
        sources = [getPlane(state.source, state.band)];
      } else if (mode === 'diff') {
        bands = [state.band];
        sources = [getPlane('diff', state.band)];
      } else {
        bands = [];
        sources = [getPlane('angle')];
      }
      const data = await Promise.all(sources);
      if (token !== renderToken) return;
      const stats = data.map((p) => stretchOf(p, lo, hi));
      const [w, h] = [meta.shape[2], meta.shape[1]];
      const ctx = image.getContext('2d');
      const out = ctx.createImageData(w, h);
      const px = out.data;
      for (let i = 0; i < w * h; i++) {
        const r = toByte(data[0][i], stats[0]);
        px[i * 4] = r;
        px[i * 4 + 1] = data.length === 3 ? toByte(data[1][i], stats[1]) : r;
        px[i * 4 + 2] = data.length === 3 ? toByte(data[2][i], stats[2]) : r;
        px[i * 4 + 3] = 255;
      }
      ctx.putImageData(out, 0, 0);
      shown = { mode, bands, data };
      const unit = mode === 'angle' ? '°' : '';
      $('range').textContent = stats
        .map((s, i) => `${data.length === 3 ? 'RGB'[i] + ': ' : ''}black ${s.lo.toPrecision(4)}${unit}, white ${s.hi.toPrecision(4)}${unit}` +
          (s.min === null ? ', no finite value' : ` (min ${s.min.toPrecision(4)}, max ${s.max.toPrecision(4)}, mean ${s.mean.toPrecision(4)})`))
        .join('; ');
      Object.assign(image.dataset, {
        mode,
        source: mode === 'band' || mode === 'rgb' ? state.source : mode,
        band: String(state.band),
        bands: JSON.stringify(bands),
        stretch: JSON.stringify(stats.map((s) => [s.lo, s.hi])),
        stats: JSON.stringify(stats.map((s) => ({ min: s.min, max: s.max, mean: s.mean }))),
        state: 'ready',
      });
      showError('');
      updateReadout();
    } catch (err) {
      if (token !== renderToken) return;
      image.dataset.state = 'error';
      showError(err.message);
    }
  }

  function setBandLabel() {
    const b = state.band;
    const invalid = !validOf(state.source)[b];
    $('band-label').textContent = `band ${b} of ${meta.shape[0]}: ${wavelengthText(b)}${invalid ? ' (marked invalid)' : ''}`;
    drawSpectrum();
  }

  // Displayed (CSS) pixels -> cube pixels; clientLeft/clientWidth leave the border out.
  function pixelAt(ev) {
    const rect = image.getBoundingClientRect();
    const [w, h] = [meta.shape[2], meta.shape[1]];
    const x = Math.floor(((ev.clientX - rect.left - image.clientLeft) / image.clientWidth) * w);
    const y = Math.floor(((ev.clientY - rect.top - image.clientTop) / image.clientHeight) * h);
    return { x: Math.min(Math.max(x, 0), w - 1), y: Math.min(Math.max(y, 0), h - 1) };
  }

  function updateReadout() {
    if (!hover || !shown) return;
    const i = hover.y * meta.shape[2] + hover.x;
    const values = shown.data.map((p) => p[i]);
    const what = { band: 'value', rgb: 'R/G/B', diff: '|a − b|', angle: 'angle (°)' }[shown.mode];
    $('readout').textContent = `pixel (${hover.x}, ${hover.y}): ${what} ${values.map((v) => (Number.isFinite(v) ? v.toPrecision(5) : 'n/a')).join(' / ')}`;
  }

  function requestHover(at) {
    hoverPending = at;
    if (hoverInFlight) return;
    hoverInFlight = true;
    const next = hoverPending;
    hoverPending = null;
    getJson(`/api/spectrum?x=${next.x}&y=${next.y}`)
      .then((s) => {
        if (hover && hover.x === s.x && hover.y === s.y) {
          hover.values = s.values;
          hover.compare = s.compare;
          drawSpectrum();
        }
      })
      .catch((err) => showError(err.message))
      .finally(() => {
        hoverInFlight = false;
        if (hoverPending) requestHover(hoverPending);
      });
  }

  async function addPin(at) {
    if (pins.some((p) => p.x === at.x && p.y === at.y)) return;
    const pin = { x: at.x, y: at.y, colour: COLOURS[nextColour++ % COLOURS.length], values: null, compare: null };
    pins.push(pin);
    try {
      const s = await getJson(`/api/spectrum?x=${at.x}&y=${at.y}`);
      pin.values = s.values;
      pin.compare = s.compare;
    } catch (err) {
      pins.splice(pins.indexOf(pin), 1);
      showError(err.message);
    }
    renderPins();
  }

  function removePin(pin) {
    const i = pins.indexOf(pin);
    if (i >= 0) pins.splice(i, 1);
    renderPins();
  }

  function renderPins() {
    const list = $('pins');
    const markers = $('markers');
    list.replaceChildren();
    markers.replaceChildren();
    const [w, h] = [meta.shape[2], meta.shape[1]];
    for (const pin of pins) {
      if (pin.values === null) continue;
      const li = document.createElement('li');
      li.dataset.x = String(pin.x);
      li.dataset.y = String(pin.y);
      li.dataset.values = JSON.stringify(pin.values);
      if (pin.compare) li.dataset.compare = JSON.stringify(pin.compare);
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = pin.colour;
      const text = document.createElement('span');
      text.className = 'coords';
      text.textContent = `(${pin.x}, ${pin.y})`;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'remove';
      remove.textContent = 'remove';
      remove.addEventListener('click', () => removePin(pin));
      li.append(swatch, text, remove);
      list.appendChild(li);
      const marker = document.createElement('div');
      marker.className = 'pin-marker';
      marker.style.borderColor = pin.colour;
      marker.style.left = `${image.clientLeft + ((pin.x + 0.5) / w) * image.clientWidth}px`;
      marker.style.top = `${image.clientTop + ((pin.y + 0.5) / h) * image.clientHeight}px`;
      markers.appendChild(marker);
    }
    list.dataset.count = String(pins.filter((p) => p.values !== null).length);
    $('export-csv').disabled = pins.length === 0;
    $('clear-pins').disabled = pins.length === 0;
    drawSpectrum();
  }

  // Pinned spectra (solid), their reference spectra (dashed), the hovered pixel (grey); null values are gaps.
  function drawSpectrum() {
    if (!meta) return;
    const ctx = plot.getContext('2d');
    const [w, h] = [plot.width, plot.height];
    const pad = { l: 56, r: 12, t: 12, b: 30 };
    ctx.clearRect(0, 0, w, h);
    const series = [];
    for (const pin of pins) {
      if (pin.values === null) continue;
      series.push({ values: pin.values, colour: pin.colour, dash: [] });
      if (pin.compare) series.push({ values: pin.compare, colour: pin.colour, dash: [5, 4] });
    }
    if (hover && hover.values) {
      series.push({ values: hover.values, colour: '#9aa5b1', dash: [] });
      if (hover.compare) series.push({ values: hover.compare, colour: '#9aa5b1', dash: [5, 4] });
    }
    const wl = meta.wavelengths;
    const wMin = Math.min(...wl);
    const wMax = Math.max(...wl);
    const finite = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
    const vMin = finite.length ? Math.min(0, ...finite) : 0;
    const vMax = finite.length ? Math.max(...finite, vMin + 1e-6) : 1;
    const px = (x) => pad.l + ((x - wMin) / (wMax - wMin || 1)) * (w - pad.l - pad.r);
    const py = (y) => h - pad.b - ((y - vMin) / (vMax - vMin)) * (h - pad.t - pad.b);
    ctx.strokeStyle = '#9aa5b1';
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
    ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
    ctx.fillStyle = '#5f6b76';
    ctx.font = '11px "Liberation Sans", Arial, sans-serif';
    const unit = meta.wavelengthsKnown ? ' nm' : ' (band)';
    ctx.fillText(`${wMin.toFixed(0)}${unit}`, pad.l, h - 10);
    ctx.fillText(`${wMax.toFixed(0)}${unit}`, w - pad.r - 60, h - 10);
    ctx.fillText(vMax.toPrecision(4), 4, pad.t + 10);
    ctx.fillText(vMin.toPrecision(4), 4, h - pad.b);
    // Invalid bands are shaded, so a gap reads as "no data" rather than as a plotting fault.
    ctx.fillStyle = 'rgba(179, 38, 30, 0.08)';
    meta.bandValid.forEach((ok, b) => {
      if (!ok) ctx.fillRect(px(wl[b]) - 2, pad.t, 4, h - pad.t - pad.b);
    });
    ctx.strokeStyle = '#c9d1d9';
    ctx.beginPath();
    ctx.moveTo(px(wl[state.band]), pad.t);
    ctx.lineTo(px(wl[state.band]), h - pad.b);
    ctx.stroke();
    for (const s of series) {
      ctx.strokeStyle = s.colour;
      ctx.setLineDash(s.dash);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let drawing = false;
      s.values.forEach((v, b) => {
        if (v === null || !Number.isFinite(v)) {
          drawing = false;
          return;
        }
        if (drawing) ctx.lineTo(px(wl[b]), py(v));
        else ctx.moveTo(px(wl[b]), py(v));
        drawing = true;
      });
      ctx.stroke();
    }
    ctx.setLineDash([]);
    plot.dataset.series = String(series.length);
  }

  function stem() {
    return meta.name.replace(/\.[^.]*$/, '');
  }

  function download(name, blob) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  }

  // One row per band: the wavelength, then each pin's value (String() round-trips the float32 exactly); invalid bands
  // have empty cells, like the gaps in the plot.
  function pinsCsv() {
    const header = [meta.wavelengthsKnown ? 'wavelength_nm' : 'band', ...pins.filter((p) => p.values).map((p) => `x${p.x}_y${p.y}`)];
    const rows = meta.wavelengths.map((wl, b) => [String(wl), ...pins.filter((p) => p.values).map((p) => (p.values[b] === null ? '' : String(p.values[b])))]);
    return [header, ...rows].map((r) => r.join(',')).join('\n') + '\n';
  }

  function readStretch() {
    state.stretch = [Number($('stretch-lo').value), Number($('stretch-hi').value)];
    render();
  }

  function setNm(rgb) {
    ['r', 'g', 'b'].forEach((c, i) => {
      $(`nm-${c}`).value = String(rgb[i]);
    });
    state.nm = rgb.slice();
    render();
  }

  function wire() {
    document.querySelectorAll('input[name="mode"]').forEach((radio) =>
      radio.addEventListener('change', () => {
        state.mode = radio.value;
        render();
      }),
    );
    $('source').addEventListener('change', () => {
      state.source = $('source').value;
      setBandLabel();
      render();
    });
    $('band').addEventListener('input', () => {
      state.band = Number($('band').value);
      setBandLabel();
      if (state.mode !== 'rgb' && state.mode !== 'angle') render();
    });
    ['r', 'g', 'b'].forEach((c, i) =>
      $(`nm-${c}`).addEventListener('change', () => {
        const v = Number($(`nm-${c}`).value);
        if (Number.isFinite(v)) state.nm[i] = v;
        render();
      }),
    );
    $('true-colour').addEventListener('click', () => setNm([640, 550, 460]));
    $('false-colour').addEventListener('click', () => setNm([860, 650, 550]));
    $('stretch-lo').addEventListener('change', readStretch);
    $('stretch-hi').addEventListener('change', readStretch);
    $('stretch-minmax').addEventListener('click', () => {
      $('stretch-lo').value = '0';
      $('stretch-hi').value = '100';
      readStretch();
    });
    $('stretch-default').addEventListener('click', () => {
      $('stretch-lo').value = '2';
      $('stretch-hi').value = '98';
      readStretch();
    });
    image.addEventListener('mousemove', (ev) => {
      const at = pixelAt(ev);
      if (hover && hover.x === at.x && hover.y === at.y) return;
      hover = { x: at.x, y: at.y, values: null, compare: null };
      updateReadout();
      requestHover(at);
    });
    image.addEventListener('mouseleave', () => {
      hover = null;
      drawSpectrum();
    });
    image.addEventListener('click', (ev) => addPin(pixelAt(ev)));
    $('clear-pins').addEventListener('click', () => {
      pins.length = 0;
      renderPins();
    });
    $('export-png').addEventListener('click', () => image.toBlob((blob) => download(`${stem()}-${viewName()}.png`, blob), 'image/png'));
    $('export-csv').addEventListener('click', () => download(`${stem()}-spectra.csv`, new Blob([pinsCsv()], { type: 'text/csv' })));
  }

  async function start() {
    meta = await getJson('/api/cube');
    const [bands, h, w] = meta.shape;
    $('source-info').textContent = `${meta.path}: ${bands} bands × ${h} × ${w}` +
      (meta.compare ? `, compared with ${meta.compare.path}` : '') +
      (meta.bandValid.every((v) => v) ? '' : `; ${meta.bandValid.filter((v) => !v).length} band(s) marked invalid`);
    document.title = `${meta.name}: Spectra Edge cube viewer`;
    document.querySelectorAll('.compare-only').forEach((el) => {
      el.hidden = !meta.compare;
    });
    image.width = w;
    image.height = h;
    // Small cubes are magnified (pixelated) to about 512 px; large ones fit the page.
    const scale = Math.max(1, Math.floor(512 / Math.max(w, h)));
    image.style.width = `${Math.min(w * scale, 768)}px`;
    const slider = $('band');
    slider.max = String(bands - 1);
    // Start on the first valid band nearest the middle of the range: band 0 is often noise or marked invalid.
    state.band = Math.max(0, nearestValidBand((Math.min(...meta.wavelengths) + Math.max(...meta.wavelengths)) / 2, meta.bandValid));
    slider.value = String(state.band);
    wire();
    setBandLabel();
    await render();
    document.body.dataset.ready = 'true';
  }

  start().catch((err) => showError(err.message));
})();
