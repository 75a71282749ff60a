// Portal (issue 4) and device management (issue 5) pages against a real `carillon up` with real
// emulated devices, driven in headless Chromium: forwarding-rule week view, bulk edit with a
// result per device, company logo, attributes, dashboard, firmware upload, update policies,
// rollouts and alert settings; field errors next to their fields; axe-core on the new pages.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { Platform, eventually, fatal, launchBrowser, webDir } from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const artifacts = path.join(webDir, 'test-artifacts');
const operatorPassword = 'correct horse battery portal';

let platform;
let browser;
let admin; // access token of the platform admin
const ids = {};
let door;
let receiver;

before(async () => {
  platform = await Platform.start();
  mkdirSync(artifacts, { recursive: true });
  admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'Portal Co' });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'Riverside', company_id: company.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'Gate house', project_id: project.id, time_zone: 'Europe/Berlin' });
  const user = await platform.create(admin, '/api/v1/users', {
    username: 'portal-operator',
    password: operatorPassword,
    role: 'company-admin',
    company_id: company.id,
  });
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: 'Concierge',
    site_id: site.id,
    ring_seconds: 20,
    members: [{ kind: 'user', id: user.id }],
  });
  Object.assign(ids, { company: company.id, project: project.id, site: site.id, user: user.id, group: group.id });
  const doorClaim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: { door_openers: [{ id: 1, name: 'Main door', dtmf: '*1', output: 1 }] },
  });
  const receiverClaim = await platform.create(admin, '/api/v1/claim-codes', { site_id: site.id, role: 'receiving-station' });
  door = await platform.startDevice({ claim: doorClaim.code, serial: `PDOOR-${Date.now()}` });
  receiver = await platform.startDevice({ claim: receiverClaim.code, serial: `PRECV-${Date.now()}` });
  for (const d of [door, receiver]) {
    d.id = await eventually(async () => {
      if (d.process.exitCode !== null) throw fatal(`device exited: ${d.process.output}`);
      const r = await platform.call('GET', `/api/v1/devices?q=${d.serial}`, admin);
      const found = r.body.items.find((x) => x.serial === d.serial && x.online);
      return found?.id;
    }, 30000, 100);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await platform?.stop();
});

async function signIn(page, username = platform.admin.username, password = platform.admin.password, hash = '') {
  await page.goto(`${platform.url}/${hash}`);
  // newPage() starts without a session: the login form comes first.
  const form = page.getByTestId('login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await form.getByRole('button').click();
  await page.getByTestId('me').filter({ hasText: username }).waitFor({ timeout: 10000 });
}

async function newPage() {
  const context = browser.context;
  // Every test signs in on its own: start without a session from the previous one.
  const page = await context.newPage();
  await page.goto(`${platform.url}/`);
  await page.evaluate(() => localStorage.clear());
  // Leave the app so that the next goto loads it afresh (a hash change alone would not).
  await page.goto('about:blank');
  return page;
}

// Opens the tree and selects the test site (the pages below work on it).
async function selectSite(page) {
  await page.getByTestId('nav-tree').click();
  await page.getByTestId('site').filter({ hasText: 'Gate house' }).click();
}

// Settings panel of a node in the tree.
async function openSettings(page, kind, name) {
  await page.getByTestId('nav-tree').click();
  const item = page.locator('li', { has: page.getByTestId(kind).filter({ hasText: name }) }).last();
  await item.getByTestId('node-settings').first().click();
  return page.getByTestId(`settings-${kind}`);
}

// A 4x4 red PNG, built here so that the logo check sees real PNG bytes.
function png() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4, 0);
  ihdr.writeUInt32BE(4, 4);
  ihdr[8] = 8;
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < 4; y++) rows.push(Buffer.from([0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function scan(page, name) {
  await page.screenshot({ path: path.join(artifacts, `portal-${name}.png`), fullPage: true });
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      passed: r.passes.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })),
    };
  });
  writeFileSync(path.join(artifacts, `portal-${name}.axe.json`), JSON.stringify(result.violations, null, 2));
  assert.ok(result.passed >= 10, `axe checked only ${result.passed} rules on ${name}`);
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ page: name, ...v }));
}

test('forwarding rules: the week view shows which rule decides each hour; a slot prefills the form; field error next to its field', async () => {
  const office = await platform.create(admin, `/api/v1/ring-groups/${ids.group}/forwarding-rules`, {
    name: 'Office hours',
    priority: 10,
    weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
    time: { from: '08:00', to: '18:00' },
    steps: [{ kind: 'ring_group', id: ids.group, ring_seconds: 20 }],
  });
  const night = await platform.create(admin, `/api/v1/ring-groups/${ids.group}/forwarding-rules`, {
    name: 'Night',
    priority: 20,
    weekdays: ['tue'],
    time: { from: '22:00', to: '06:00' },
    steps: [{ kind: 'user', id: ids.user, ring_seconds: 30 }],
  });
  const page = await newPage();
  try {
    await signIn(page);
    await selectSite(page);
    await page.getByTestId('nav-groups').click();
    const group = page.getByTestId('group').filter({ hasText: 'Concierge' });
    await group.getByTestId('rules-toggle').click();
    const week = group.getByTestId('week-view');
    await week.waitFor({ timeout: 10000 });
    await group.getByTestId('rule').filter({ hasText: 'Night' }).waitFor();
    const slot = (day, hour) => week.locator(`tr[data-day=${day}] [data-testid=slot][data-hour="${hour}"]`);
    const ruleAt = (day, hour) => slot(day, hour).getAttribute('data-rule');
    assert.equal(await ruleAt('mon', 9), office.id);
    assert.equal(await ruleAt('fri', 17), office.id);
    assert.equal(await ruleAt('fri', 18), '');
    assert.equal(await ruleAt('sat', 9), '');
    assert.equal(await ruleAt('tue', 23), night.id);
    // 22:00-06:00 on Tuesday reaches into Wednesday morning, not into Tuesday morning.
    assert.equal(await ruleAt('wed', 3), night.id);
    assert.equal(await ruleAt('tue', 3), '');
    assert.equal(await ruleAt('wed', 7), '');
    assert.match(await slot('mon', 9).getAttribute('aria-label'), /Office hours/);

    // A free slot prefills the new rule: that weekday, that hour.
    await slot('sat', 10).click();
    const form = group.getByTestId('rule-form').last();
    // The form fills in after the click re-renders it: wait for the value rather than race it.
    const valueOf = async (locator, expected) => {
      for (let i = 0; i < 50 && (await locator.inputValue()) !== expected; i++) await new Promise((r) => setTimeout(r, 100));
      return locator.inputValue();
    };
    assert.equal(await valueOf(form.locator('input[name="time.from"]'), '10:00'), '10:00');
    assert.equal(await form.locator('input[name="time.to"]').inputValue(), '11:00');
    assert.equal(await form.locator('input[name=day-sat]').isChecked(), true);
    assert.equal(await form.locator('input[name=day-mon]').isChecked(), false);
    await form.locator('input[name=name]').fill('Saturday desk');
    await form.getByLabel('Step 1: target').selectOption({ label: 'Concierge' });

    // An impossible time: the server's reason is shown next to the field.
    await form.locator('input[name="time.from"]').fill('25:00');
    await form.getByRole('button', { name: 'Create' }).click();
    await form.locator('.field-error[data-field="time.from"]').waitFor({ timeout: 5000 });

    await form.locator('input[name="time.from"]').fill('10:00');
    await form.getByRole('button', { name: 'Create' }).click();
    await group.getByTestId('rule').filter({ hasText: 'Saturday desk' }).waitFor({ timeout: 5000 });
    const rules = await platform.call('GET', `/api/v1/ring-groups/${ids.group}/forwarding-rules`, admin);
    const created = rules.body.items.find((r) => r.name === 'Saturday desk');
    assert.deepEqual(created.weekdays, ['sat']);
    assert.deepEqual(created.time, { from: '10:00', to: '11:00' });
    await eventually(async () => (await ruleAt('sat', 10)) === created.id, 5000);
    assert.equal(await ruleAt('sat', 11), '');
  } finally {
    await page.close();
  }
});

test('bulk edit: one setting on two devices, a result per device, one fails', async () => {
  const page = await newPage();
  try {
    await signIn(page);
    await selectSite(page);
    await page.getByTestId('nav-devices').click();
    for (const d of [door, receiver]) {
      await page.locator(`[data-testid=device-row][data-serial="${d.serial}"] [data-testid=select]`).check({ timeout: 10000 });
    }
    const bulk = page.getByTestId('bulk-edit');
    await bulk.locator('input[name=path]').fill('door_openers');
    await bulk.locator('input[name=value]').fill('[{"id":1,"name":"Side door","dtmf":"*2","output":1}]');
    await bulk.getByTestId('bulk-apply').click();
    const results = bulk.getByTestId('bulk-result');
    await results.nth(1).waitFor({ timeout: 10000 });
    assert.equal(await results.count(), 2);
    assert.equal(await bulk.locator(`[data-testid=bulk-result][data-id="${door.id}"]`).getAttribute('data-ok'), 'true');
    const failed = bulk.locator(`[data-testid=bulk-result][data-id="${receiver.id}"]`);
    assert.equal(await failed.getAttribute('data-ok'), 'false');
    assert.match(await failed.textContent(), /door openers/);
    // The server agrees: the door station has the new opener, the receiving station none.
    const doorConfig = await platform.call('GET', `/api/v1/devices/${door.id}/config`, admin);
    assert.equal(doorConfig.body.desired.door_openers[0].name, 'Side door');
    const receiverConfig = await platform.call('GET', `/api/v1/devices/${receiver.id}/config`, admin);
    assert.deepEqual(receiverConfig.body.desired.door_openers ?? [], []);

    // A plain number on both: both succeed.
    await bulk.locator('input[name=path]').fill('audio.speaker_volume');
    await bulk.locator('input[name=value]').fill('35');
    await bulk.getByTestId('bulk-apply').click();
    await eventually(async () => (await bulk.locator('[data-testid=bulk-result][data-ok=true]').count()) === 2, 10000);
    const after = await platform.call('GET', `/api/v1/devices/${receiver.id}/config`, admin);
    assert.equal(after.body.desired.audio.speaker_volume, 35);
  } finally {
    await page.close();
  }
});

test('company logo: uploaded in the settings panel and shown', async () => {
  const page = await newPage();
  try {
    await signIn(page);
    const settings = await openSettings(page, 'company', 'Portal Co');
    const form = settings.getByTestId('logo-form');
    await form.locator('input[type=file]').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: png() });
    await form.getByRole('button', { name: 'Upload logo' }).click();
    const img = form.getByTestId('logo');
    await img.waitFor({ timeout: 10000 });
    await eventually(async () => (await img.evaluate((i) => i.complete && i.naturalWidth)) === 4, 5000);
    const logo = await platform.call('GET', `/api/v1/companies/${ids.company}/logo`, admin);
    assert.equal(logo.status, 200);
    assert.equal(logo.headers['content-type'], 'image/png');
    // Not an image: the reason is shown with the file field.
    await form.locator('input[type=file]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await form.getByRole('button', { name: 'Upload logo' }).click();
    await form.locator('.field-error[data-field=body]').waitFor({ timeout: 5000 });
  } finally {
    await page.close();
  }
});

test('attributes: key/value pairs on a company and a site are saved', async () => {
  const page = await newPage();
  try {
    await signIn(page);
    const company = await openSettings(page, 'company', 'Portal Co');
    const form = company.getByTestId('attributes-form');
    await form.getByTestId('add-attribute').click();
    await form.locator('input[name=key-0]').fill('contract');
    await form.locator('input[name=value-0]').fill('C-42');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByTestId('attributes-saved').waitFor({ timeout: 5000 });
    const c = await platform.call('GET', `/api/v1/companies/${ids.company}`, admin);
    assert.deepEqual(c.body.attributes, { contract: 'C-42' });

    await page.getByTestId('company').filter({ hasText: 'Portal Co' }).click();
    await page.getByTestId('project').filter({ hasText: 'Riverside' }).click();
    const site = await openSettings(page, 'site', 'Gate house');
    const siteForm = site.getByTestId('attributes-form');
    await siteForm.getByTestId('add-attribute').click();
    await siteForm.locator('input[name=key-0]').fill('floor');
    await siteForm.locator('input[name=value-0]').fill('ground');
    await siteForm.getByRole('button', { name: 'Save' }).click();
    await siteForm.getByTestId('attributes-saved').waitFor({ timeout: 5000 });
    const s = await platform.call('GET', `/api/v1/sites/${ids.site}`, admin);
    assert.deepEqual(s.body.attributes, { floor: 'ground' });
  } finally {
    await page.close();
  }
});

test('dashboard: the start page of a company user; device counts follow WebSocket events', async () => {
  const api = await platform.call('GET', `/api/v1/dashboard?company_id=${ids.company}`, admin);
  assert.equal(api.status, 200, `GET /api/v1/dashboard: ${api.status} ${JSON.stringify(api.body)}`);
  const page = await newPage();
  try {
    await signIn(page, 'portal-operator', operatorPassword);
    const dash = page.getByTestId('dashboard');
    await dash.waitFor({ timeout: 10000 });
    await eventually(async () => (await dash.getByTestId('count-online').textContent()) === '2', 10000);
    assert.equal(await dash.getByTestId('count-total').textContent(), '2');
    assert.ok((await dash.getByTestId('activity').count()) > 0, 'recent activity lists audit events');
    assert.equal(await dash.getByTestId('dash-calls').locator('svg[role=img]').count(), 1);
    // The receiving station goes away: the dashboard shows it offline without a reload.
    receiver.process.kill('SIGTERM');
    await eventually(async () => (await dash.getByTestId('count-offline').textContent()) === '1', 20000, 200);
    assert.equal(await dash.getByTestId('count-online').textContent(), '1');
  } finally {
    await page.close();
  }
});

test('firmware: a platform admin uploads an image with its manifest fields; field errors next to the fields', async () => {
  const page = await newPage();
  try {
    await signIn(page, platform.admin.username, platform.admin.password, '#/firmware');
    const form = page.getByTestId('firmware-upload');
    await form.waitFor({ timeout: 10000 });
    const image = Buffer.alloc(64 * 1024, 7);
    await form.locator('input[type=file]').setInputFiles({ name: 'mx-1.2.0.bin', mimeType: 'application/octet-stream', buffer: image });
    await form.locator('input[name=version]').fill('not a version');
    await form.getByRole('button', { name: 'Upload' }).click();
    await form.locator('.field-error[data-field=version]').waitFor({ timeout: 10000 });

    await form.locator('input[name=version]').fill('1.2.0');
    await form.locator('input[name=models]').fill('ID5 TD, ID8 TD');
    await form.locator('input[name=security_critical]').check();
    await form.locator('textarea[name=release_notes]').fill('Fixes the door relay timing.');
    await form.getByRole('button', { name: 'Upload' }).click();
    const row = page.locator('[data-testid=firmware-image][data-version="1.2.0"]');
    await row.waitFor({ timeout: 15000 });
    assert.match(await row.textContent(), /ID5 TD, ID8 TD/);
    const list = await platform.call('GET', '/api/v1/firmware-images', admin);
    const stored = list.body.items.find((i) => i.manifest.version === '1.2.0');
    assert.equal(stored.manifest.size, image.length);
    assert.equal(stored.manifest.security_critical, true);
    assert.deepEqual(stored.manifest.models, ['ID5 TD', 'ID8 TD']);
    assert.equal(stored.release_notes, 'Fixes the door relay timing.');
  } finally {
    await page.close();
  }
});

test('update policy: saved on the company, inherited by the site; field error for the window', async () => {
  const page = await newPage();
  try {
    await signIn(page);
    const company = await openSettings(page, 'company', 'Portal Co');
    const form = company.getByTestId('policy-form');
    await form.locator('select[name=mode]').selectOption('security_only');
    await form.locator('input[name=window-sat]').check();
    await form.locator('input[name="window.start"]').fill('25:99');
    await form.locator('input[name="window.end"]').fill('04:00');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.locator('.field-error[data-field="window.start"]').waitFor({ timeout: 5000 });
    await form.locator('input[name="window.start"]').fill('22:00');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByTestId('policy-saved').waitFor({ timeout: 5000 });
    const stored = await platform.call('GET', `/api/v1/update-policies/${ids.company}`, admin);
    assert.equal(stored.body.mode, 'security_only');
    assert.deepEqual(stored.body.window, { weekdays: ['sat'], start: '22:00', end: '04:00' });

    await page.getByTestId('company').filter({ hasText: 'Portal Co' }).click();
    await page.getByTestId('project').filter({ hasText: 'Riverside' }).click();
    const site = await openSettings(page, 'site', 'Gate house');
    const siteForm = site.getByTestId('policy-form');
    await siteForm.getByTestId('policy-inherited').waitFor({ timeout: 5000 });
    assert.equal(await siteForm.locator('select[name=mode]').inputValue(), 'security_only');
  } finally {
    await page.close();
  }
});

test('alert settings: recipients with a field error on the bad address, then saved', async () => {
  const page = await newPage();
  try {
    await signIn(page);
    const company = await openSettings(page, 'company', 'Portal Co');
    const form = company.getByTestId('alerts-form');
    await form.waitFor({ timeout: 10000 });
    await form.locator('textarea[name=recipients]').fill('ops@example.com\nnot-an-address');
    await form.locator('input[name=offline_after_minutes]').fill('15');
    await form.locator('input[name=kind-offline]').check();
    await form.getByRole('button', { name: 'Save' }).click();
    const error = form.locator('.field-error[data-field=recipients]');
    await error.waitFor({ timeout: 5000 });
    assert.match(await error.textContent(), /not-an-address/);
    await form.locator('textarea[name=recipients]').fill('ops@example.com\nfacility@example.com');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByTestId('alerts-saved').waitFor({ timeout: 5000 });
    const stored = await platform.call('GET', `/api/v1/companies/${ids.company}/alert-settings`, admin);
    assert.deepEqual(stored.body.recipients, ['ops@example.com', 'facility@example.com']);
    assert.equal(stored.body.offline_after_minutes, 15);
    assert.equal(stored.body.kinds.offline, true);
  } finally {
    await page.close();
  }
});

test('rollouts: start one for the company, per-device progress bars, pause and resume', async () => {
  const images = await platform.call('GET', '/api/v1/firmware-images', admin);
  assert.equal(images.status, 200, `GET /api/v1/firmware-images: ${images.status}`);
  assert.ok(images.body.items.length > 0, 'the firmware test uploaded an image');
  const page = await newPage();
  try {
    await signIn(page, platform.admin.username, platform.admin.password, '#/rollouts');
    await page.getByTestId('rollout-company').selectOption({ label: 'Portal Co' });
    const form = page.getByTestId('rollout-form');
    await form.locator('select[name=image_id]').selectOption({ index: 1 });
    await form.locator('input[name=waves]').fill('50,100');
    await form.locator('input[name=failure_threshold_percent]').fill('50');
    await form.getByRole('button').click();
    const detail = page.getByTestId('rollout-detail');
    await detail.waitFor({ timeout: 10000 });
    await detail.getByTestId('rollout-device').first().waitFor({ timeout: 10000 });
    const bars = detail.locator('progress[data-testid=device-progress]');
    assert.ok((await bars.count()) >= 1);
    // Every progress bar has a name (the device).
    const names = await bars.evaluateAll((ps) => ps.map((p) => document.getElementById(p.getAttribute('aria-labelledby'))?.textContent ?? ''));
    assert.ok(names.every((n) => n.length > 0), JSON.stringify(names));
    const state = await detail.getAttribute('data-state');
    if (state === 'running') {
      await detail.getByTestId('pause').click();
      await page.locator('[data-testid=rollout-detail][data-state=paused]').waitFor({ timeout: 5000 });
      await page.getByTestId('rollout-detail').getByTestId('resume').click();
      await page.locator('[data-testid=rollout-detail]:not([data-state=paused])').waitFor({ timeout: 5000 });
    }
    await page.getByTestId('rollout').first().waitFor({ timeout: 5000 });
  } finally {
    await page.close();
  }
});

test('a11y: the new portal pages have no serious or critical axe violation (desktop light, phone dark)', async () => {
  const page = await newPage();
  const found = [];
  try {
    await signIn(page);
    for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(viewport);
      const tag = viewport.width < 600 ? 'phone' : 'desktop';
      await page.emulateMedia({ colorScheme: tag === 'phone' ? 'dark' : 'light' });
      await page.getByTestId('nav-dashboard').click();
      await page.getByTestId('dashboard').waitFor({ timeout: 10000 });
      await page.waitForTimeout(500);
      found.push(...(await scan(page, `dashboard-${tag}`)));
      await openSettings(page, 'company', 'Portal Co');
      await page.getByTestId('policy-form').waitFor({ timeout: 10000 }).catch(() => undefined);
      found.push(...(await scan(page, `settings-${tag}`)));
      await selectSite(page);
      await page.getByTestId('nav-groups').click();
      await page.getByTestId('rules-toggle').first().click();
      await page.getByTestId('week-view').waitFor({ timeout: 10000 });
      found.push(...(await scan(page, `rules-${tag}`)));
      await page.getByTestId('nav-devices').click();
      await page.getByTestId('select-all').check({ timeout: 10000 });
      await page.getByTestId('bulk-edit').waitFor();
      found.push(...(await scan(page, `bulk-${tag}`)));
      await page.getByTestId('nav-firmware').click();
      await page.getByTestId('firmware-upload').waitFor({ timeout: 10000 });
      found.push(...(await scan(page, `firmware-${tag}`)));
      await page.getByTestId('nav-rollouts').click();
      await page.getByTestId('rollout-form').waitFor({ timeout: 10000 }).catch(() => undefined);
      const rollout = page.getByTestId('rollout').first();
      if (await rollout.waitFor({ timeout: 3000 }).then(() => true, () => false)) {
        if (!(await page.getByTestId('rollout-detail').count())) await rollout.getByRole('button').click();
        await page.getByTestId('rollout-detail').waitFor({ timeout: 5000 });
      }
      found.push(...(await scan(page, `rollouts-${tag}`)));
      if (tag === 'phone') {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `the rollouts page is ${overflow} px wider than the phone`);
      }
    }
    assert.deepEqual(found, [], JSON.stringify(found, null, 2));
  } finally {
    await page.close();
  }
});
