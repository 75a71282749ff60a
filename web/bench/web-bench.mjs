// Web benchmarks for issue 4, against a real `carillon up` (tests/harness.mjs) and Debian's
// headless Chromium:
//  (a) ring latency: an emulated door station presses its call button (control channel) and a
//      web client rings. Two intervals per call, all on one host clock (CLOCK_REALTIME):
//        invite_to_ring = ringing card in the browser's DOM - the call.start `ts` Kamailio stamps
//                         when it routes the (authenticated) INVITE (the call record's started_at);
//        press_to_ring  = ringing card in the DOM - the moment this script sends "press".
//      The DOM time is taken in the page by a MutationObserver (performance.timeOrigin +
//      performance.now()), i.e. when the card is in the document, before it is painted; the next
//      animation frame is recorded as well (paint_ring).
//  (b) portal first load from a cold cache (a new browser profile per load): bytes of JS and CSS
//      as transferred (Resource Timing transferSize: compressed body + headers) and the time from
//      navigation start until the login form's username field is in the DOM and enabled.
// Usage: CARILLON_BIN=... node bench/web-bench.mjs [--calls 30] [--loads 10]
import { gzipSync } from 'node:zlib';
import { Platform, control, eventually, fatal, launchBrowser } from '../tests/harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const callCount = arg('calls', 30);
const loadCount = arg('loads', 10);

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
const round = (x) => Math.round(x * 10) / 10;
// Nearest-rank percentiles: with fewer than 100 samples p99 is the maximum.
const summary = (values) => ({
  n: values.length,
  p50: round(percentile(values, 50)),
  p99: round(percentile(values, 99)),
  min: round(Math.min(...values)),
  max: round(Math.max(...values)),
});

// Watches for the ringing card from the first byte of the page on; records epoch milliseconds.
function installRingWatch() {
  window.__rings = [];
  const seen = new WeakSet();
  const check = () => {
    for (const el of document.querySelectorAll('[data-testid=call][data-state=ringing]')) {
      if (seen.has(el)) continue;
      seen.add(el);
      const entry = { dom: performance.timeOrigin + performance.now() };
      window.__rings.push(entry);
      requestAnimationFrame(() => {
        entry.paint = performance.timeOrigin + performance.now();
      });
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
}

async function ringLatency(platform) {
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'Bench Co' });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'P', company_id: company.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'S', project_id: project.id, time_zone: 'Europe/Berlin' });
  const password = 'correct horse battery bench';
  const user = await platform.create(admin, '/api/v1/users', { username: 'bench-operator', password, role: 'viewer', company_id: company.id });
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: 'Bench',
    site_id: site.id,
    ring_seconds: 30,
    members: [{ kind: 'user', id: user.id }],
  });
  const claim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: { call_buttons: [{ id: 'b1', label: 'Bench', target: group.id }] },
  });
  const serial = `BENCH-${Date.now()}`;
  const door = await platform.startDevice({ claim: claim.code, serial });
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.addInitScript(installRingWatch);
    await page.goto(`${platform.url}/`);
    const form = page.getByTestId('login-form');
    await form.locator('input[name=username]').fill('bench-operator');
    await form.locator('input[name=password]').fill(password);
    await form.getByRole('button').click();
    await page.getByTestId('me').filter({ hasText: 'bench-operator' }).waitFor({ timeout: 10000 });
    await page.getByTestId('nav-client').click();
    await page.locator('[data-testid=registration][data-state=registered]').waitFor({ timeout: 15000 });
    await eventually(async () => {
      if (door.process.exitCode !== null) throw fatal(`device exited: ${door.process.output}`);
      const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, admin);
      const d = r.body.items.find((x) => x.serial === serial);
      return d && d.online && d.sip?.registered && d.config.state === 'applied';
    }, 30000, 100);

    const samples = [];
    // The list is ordered by id, not by time: the newest record is the one that started last.
    const newest = async () =>
      (await platform.call('GET', '/api/v1/calls?limit=200', admin)).body.items.reduce((a, c) => (!a || c.started_at > a.started_at ? c : a), null);
    for (let i = 0; i < callCount; i++) {
      const before = (await newest())?.id;
      const pressedAt = Date.now();
      const pressed = await control(door, { cmd: 'press', button: 'b1' });
      if (pressed.ok === false) throw new Error(`press: ${JSON.stringify(pressed)}`);
      const call = page.locator('[data-testid=call][data-state=ringing]');
      await call.waitFor({ timeout: 10000 });
      const ring = await eventually(() => page.evaluate((n) => (window.__rings[n]?.paint ? window.__rings[n] : null), i), 5000, 20);
      // This call's record: the newest one, created after the press.
      const record = await eventually(async () => {
        const c = await newest();
        return c && c.id !== before ? c : false;
      }, 5000, 50);
      if (record.started_at < pressedAt) throw new Error(`call started ${pressedAt - record.started_at} ms before the press`);
      samples.push({
        invite_to_ring: ring.dom - record.started_at,
        invite_to_paint: ring.paint - record.started_at,
        press_to_ring: ring.dom - pressedAt,
      });
      await call.getByTestId('reject').click();
      await page.locator('[data-testid=call]').waitFor({ state: 'detached', timeout: 10000 });
      await eventually(async () => ((await control(door, { cmd: 'status' })).calls ?? []).length === 0, 10000, 50);
      await eventually(async () => (await newest())?.status !== 'in_progress', 10000, 50);
    }
    return {
      invite_to_ring_ms: summary(samples.map((s) => s.invite_to_ring)),
      invite_to_paint_ms: summary(samples.map((s) => s.invite_to_paint)),
      press_to_ring_ms: summary(samples.map((s) => s.press_to_ring)),
    };
  } finally {
    await browser.close();
  }
}

async function firstLoad(platform) {
  const loads = [];
  for (let i = 0; i < loadCount; i++) {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.addInitScript(() => {
        const check = () => {
          const input = document.querySelector('[data-testid=login-form] input[name=username]');
          if (input && !input.disabled && window.__interactive === undefined) window.__interactive = performance.now();
        };
        new MutationObserver(check).observe(document, { subtree: true, childList: true });
      });
      const encodings = new Map();
      page.on('response', (r) => encodings.set(r.url(), r.headers()['content-encoding'] ?? 'identity'));
      await page.goto(`${platform.url}/`, { waitUntil: 'load' });
      await page.getByTestId('login-form').locator('input[name=username]').waitFor();
      const m = await page.evaluate(() => {
        const res = performance.getEntriesByType('resource');
        const nav = performance.getEntriesByType('navigation')[0];
        const pick = (re) => res.filter((r) => re.test(new URL(r.name).pathname));
        const sum = (list, key) => list.reduce((a, r) => a + r[key], 0);
        const js = pick(/\.m?js$/);
        const css = pick(/\.css$/);
        return {
          files: [...js, ...css].map((r) => ({ url: r.name, transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize })),
          js_transfer: sum(js, 'transferSize'),
          css_transfer: sum(css, 'transferSize'),
          js_css_decoded: sum(js, 'decodedBodySize') + sum(css, 'decodedBodySize'),
          html_transfer: nav.transferSize,
          dom_content_loaded: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd,
          interactive: window.__interactive,
        };
      });
      m.files = m.files.map((f) => ({ ...f, encoding: encodings.get(f.url) }));
      // What the same files would weigh gzip-compressed (level 9), for comparison with the target.
      if (i === 0) {
        for (const f of m.files) {
          const body = await (await browser.context.request.get(f.url)).body();
          f.gzip9 = gzipSync(body, { level: 9 }).length;
        }
      }
      loads.push(m);
    } finally {
      await browser.close();
    }
  }
  return {
    files: loads[0].files,
    js_css_transfer_bytes: loads[0].js_transfer + loads[0].css_transfer,
    js_css_decoded_bytes: loads[0].js_css_decoded,
    js_css_gzip9_bytes: loads[0].files.reduce((a, f) => a + f.gzip9, 0),
    html_transfer_bytes: loads[0].html_transfer,
    interactive_ms: summary(loads.map((l) => l.interactive)),
    dom_content_loaded_ms: summary(loads.map((l) => l.dom_content_loaded)),
    load_ms: summary(loads.map((l) => l.load)),
  };
}

const platform = await Platform.start();
try {
  const result = {
    nproc: (await import('node:os')).availableParallelism(),
    loadavg_before: (await import('node:os')).loadavg().map((x) => x.toFixed(2)),
    first_load: await firstLoad(platform),
    ring: await ringLatency(platform),
  };
  result.loadavg_after = (await import('node:os')).loadavg().map((x) => x.toFixed(2));
  console.log(JSON.stringify(result, null, 2));
} finally {
  await platform.stop();
}
