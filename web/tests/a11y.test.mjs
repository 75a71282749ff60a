// Accessibility and phone layout (issue 4, test 5): the main pages in a 390x844 phone viewport, in
// light and dark mode, scanned with axe-core (no serious or critical violation) and kept as
// screenshots (and axe's full findings) in web/test-artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Platform, control, eventually, fatal, launchBrowser, webDir } from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const artifacts = path.join(webDir, 'test-artifacts');
const phone = { width: 390, height: 844 };
const password = 'correct horse battery a11y';

let platform;
let door;

before(async () => {
  platform = await Platform.start();
  mkdirSync(artifacts, { recursive: true });
  // Something on every page: a tenancy tree, a ring group, an online door station and a call.
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'Access Co' });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'Harbour', company_id: company.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'Lobby', project_id: project.id, time_zone: 'Europe/Berlin' });
  const user = await platform.create(admin, '/api/v1/users', { username: 'a11y-operator', password, role: 'viewer', company_id: company.id });
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: 'Front desk',
    site_id: site.id,
    ring_seconds: 30,
    members: [{ kind: 'user', id: user.id }],
  });
  const claim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: {
      call_buttons: [{ id: 'b1', label: 'Front desk', target: group.id }],
      door_openers: [{ id: 1, name: 'Main door', dtmf: '*1', output: 1 }],
    },
  });
  const serial = `A11Y-${Date.now()}`;
  door = await platform.startDevice({ claim: claim.code, serial });
  await eventually(async () => {
    if (door.process.exitCode !== null) throw fatal(`device exited: ${door.process.output}`);
    const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, admin);
    const d = r.body.items.find((x) => x.serial === serial);
    return d && d.online && d.sip?.registered && d.config.state === 'applied';
  }, 30000, 100);
  // A call nobody takes (the operator is not registered yet): a row in the history.
  await control(door, { cmd: 'press', button: 'b1' });
  await eventually(async () => {
    const r = await platform.call('GET', '/api/v1/calls?limit=5', admin);
    return r.body.items.some((c) => c.status !== 'in_progress');
  }, 15000, 200);
});

after(async () => {
  await platform?.stop();
});

// Runs axe on the page as it is now; returns the serious and critical violations, and keeps a screenshot.
async function scan(page, name, scheme) {
  await page.screenshot({ path: path.join(artifacts, `${name}-${scheme}.png`), fullPage: true });
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      passed: r.passes.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })),
    };
  });
  // Every finding (also moderate and minor) is kept next to the screenshot.
  writeFileSync(path.join(artifacts, `${name}-${scheme}.axe.json`), JSON.stringify(result.violations, null, 2));
  // axe really looked at the page (colour contrast, names, landmarks, ... were checked).
  assert.ok(result.passed >= 10, `axe checked only ${result.passed} rules on ${name}`);
  const problems = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ page: `${name} (${scheme})`, ...v }));
  // The phone layout does not scroll sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) problems.push({ page: `${name} (${scheme})`, id: 'horizontal-scroll', help: `${overflow} px wider than the phone` });
  return problems;
}

async function signIn(page, username, pw) {
  const form = page.getByTestId('login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(pw);
  await form.getByRole('button').click();
  await page.getByTestId('me').filter({ hasText: username }).waitFor({ timeout: 10000 });
}

for (const scheme of ['light', 'dark']) {
  test(`a11y: portal pages in a phone viewport, ${scheme} mode, no serious or critical axe violation`, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.setViewportSize(phone);
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(`${platform.url}/`);
      await page.getByTestId('login-form').waitFor();
      // The dark palette is really in use (not just requested).
      const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
      assert.equal(bg, scheme === 'dark' ? 'rgb(18, 22, 29)' : 'rgb(246, 247, 249)');
      const found = await scan(page, 'login', scheme);

      await signIn(page, platform.admin.username, platform.admin.password);
      await page.getByTestId('company').filter({ hasText: 'Access Co' }).click();
      await page.getByTestId('project').filter({ hasText: 'Harbour' }).click();
      await page.getByTestId('site').filter({ hasText: 'Lobby' }).click();
      found.push(...(await scan(page, 'tree', scheme)));

      await page.getByTestId('nav-devices').click();
      await page.locator('[data-testid=device-row] [data-online=true]').first().waitFor({ timeout: 10000 });
      found.push(...(await scan(page, 'devices', scheme)));

      await page.getByTestId('nav-groups').click();
      await page.getByText('Front desk').first().waitFor({ timeout: 10000 });
      found.push(...(await scan(page, 'groups', scheme)));

      await page.getByTestId('nav-claim').click();
      await page.getByTestId('claim-form').waitFor({ timeout: 10000 });
      found.push(...(await scan(page, 'claim', scheme)));

      await page.getByTestId('nav-calls').click();
      await page.locator('[data-testid=call-row]').first().waitFor({ timeout: 10000 });
      found.push(...(await scan(page, 'history', scheme)));

      assert.deepEqual(found, [], JSON.stringify(found, null, 2));
    } finally {
      await browser.close();
    }
  });

  test(`a11y: web client idle and ringing, and the phone app, in a phone viewport, ${scheme} mode`, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.setViewportSize(phone);
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(`${platform.url}/`);
      await signIn(page, 'a11y-operator', password);
      await page.getByTestId('nav-client').click();
      await page.locator('[data-testid=registration][data-state=registered]').waitFor({ timeout: 15000 });
      const found = await scan(page, 'client', scheme);

      await control(door, { cmd: 'press', button: 'b1' });
      const call = page.locator('[data-testid=call]');
      await call.and(page.locator('[data-state=ringing]')).waitFor({ timeout: 10000 });
      await call.getByTestId('snapshot').waitFor({ timeout: 10000 }).catch(() => undefined);
      found.push(...(await scan(page, 'client-ringing', scheme)));
      await call.getByTestId('reject').click();
      await call.waitFor({ state: 'detached', timeout: 10000 });
      await eventually(async () => ((await control(door, { cmd: 'status' })).calls ?? []).length === 0, 10000, 200);

      // The phone app (the installable mobile client): its three tabs.
      await page.getByTestId('nav-phone').click();
      await page.locator('[data-testid=phone] [data-testid=registration][data-state=registered]').waitFor({ timeout: 15000 });
      for (const tab of ['home', 'activity', 'settings']) {
        await page.getByTestId(`tab-${tab}`).click();
        await page.getByTestId(tab).waitFor({ timeout: 5000 });
        found.push(...(await scan(page, `phone-${tab}`, scheme)));
      }

      assert.deepEqual(found, [], JSON.stringify(found, null, 2));
    } finally {
      await browser.close();
    }
  });
}
