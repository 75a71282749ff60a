// The mobile client as an installable PWA: manifest, service worker (offline start, push
// notifications), the phone layout at 390x844 in light and dark mode, do-not-disturb and the PIN
// lock in front of the door openers, against a real `carillon up` and a real door station.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Platform, control, eventually, fatal, launchBrowser, webDir } from './harness.mjs';

const artifacts = path.join(webDir, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
const phone = { width: 390, height: 844 };
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// A screenshot of the phone screen as it is now, and axe's serious or critical findings on it.
async function capture(page, name, options = {}) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), ...options });
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ content: axeSource });
  const { violations, passed } = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      passed: r.passes.length,
      violations: r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    };
  });
  assert.deepEqual(violations, [], `axe on ${name}`);
  assert.ok(passed >= 10, `axe checked only ${passed} rules on ${name}`);
}

let platform;

before(async () => {
  platform = await Platform.start();
});

after(async () => {
  await platform?.stop();
});

async function signIn(page, username, password, hash = '') {
  await page.goto(`${platform.url}/${hash}`);
  const form = page.getByTestId('login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await form.getByRole('button').click();
}

function pngSize(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
  return `${buf.readUInt32BE(16)}x${buf.readUInt32BE(20)}`;
}

test('pwa: the manifest is served, complete, linked from the page, and its icons load', async () => {
  const r = await platform.call('GET', '/manifest.webmanifest');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^application\/manifest\+json/);
  // The harness parses JSON content types (application/manifest+json) already.
  const m = Buffer.isBuffer(r.body) ? JSON.parse(r.body.toString()) : r.body;
  for (const field of ['name', 'short_name', 'start_url', 'scope', 'display', 'theme_color', 'background_color', 'icons'])
    assert.ok(m[field], `manifest field ${field}`);
  assert.equal(m.display, 'standalone');
  assert.match(m.start_url, /#\/phone$/);
  const sizes = new Set();
  for (const icon of m.icons) {
    const got = await platform.call('GET', icon.src);
    assert.equal(got.status, 200, icon.src);
    assert.equal(got.headers['content-type'], icon.type, icon.src);
    if (icon.type === 'image/png') {
      assert.equal(pngSize(got.body), icon.sizes, icon.src);
      sizes.add(`${icon.sizes}/${icon.purpose}`);
    } else {
      assert.match(got.body.toString(), /<svg[\s\S]*<\/svg>/);
    }
  }
  // What Chromium's installability check asks for.
  assert.ok(sizes.has('192x192/any') && sizes.has('512x512/any'), [...sizes].join(','));
  assert.ok(sizes.has('512x512/maskable'));
  const index = await platform.call('GET', '/');
  assert.match(index.body.toString(), /<link rel="manifest" href="\/manifest.webmanifest"/);
  const sw = await platform.call('GET', '/sw.js');
  assert.equal(sw.status, 200);
  assert.match(sw.headers['content-type'], /^text\/javascript/);

  // Chromium itself parses the manifest without errors (DevTools protocol, as the install prompt does).
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${platform.url}/`);
    const cdp = await browser.context.newCDPSession(page);
    const manifest = await eventually(async () => {
      const res = await cdp.send('Page.getAppManifest');
      return res.data ? res : false;
    }, 10000);
    assert.deepEqual(manifest.errors, [], JSON.stringify(manifest.errors));
    assert.equal(JSON.parse(manifest.data).name, 'Carillon');
  } finally {
    await browser.close();
  }
});

test('pwa: the service worker registers, controls the page after a reload, starts the app offline, shows call pushes', async () => {
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${platform.url}/#/phone`);
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    assert.equal(scope, `${platform.url}/`);
    await page.reload();
    await page.getByTestId('login-form').waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL), `${platform.url}/sw.js`);

    // Offline: the app shell comes from the cache.
    await browser.context.setOffline(true);
    await page.reload();
    await page.getByTestId('login-form').waitFor({ timeout: 10000 });
    await browser.context.setOffline(false);

    // A push message as the push service would deliver it (DevTools protocol) becomes a notification.
    await browser.context.grantPermissions(['notifications'], { origin: platform.url });
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('ServiceWorker.enable');
    const registrationId = await eventually(
      () =>
        new Promise((resolve) => {
          cdp.once('ServiceWorker.workerRegistrationUpdated', (e) => resolve(e.registrations.find((r) => r.scopeURL === `${platform.url}/`)?.registrationId));
          cdp.send('ServiceWorker.enable').catch(() => resolve(undefined));
        }),
      5000,
    );
    const notifications = () =>
      page.evaluate(async () =>
        (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })),
      );
    // Delivered again until shown: a push to a worker that is just starting up may be lost in
    // DevTools' delivery; the tag makes repeats replace one notification.
    const shown = await eventually(async () => {
      await cdp.send('ServiceWorker.deliverPushMessage', {
        origin: platform.url,
        registrationId,
        data: JSON.stringify({ type: 'incoming-call', caller: 'Main entrance', snapshot_url: `${platform.url}/icons/icon-192.png`, call_id: 'c1' }),
      });
      await new Promise((r) => setTimeout(r, 300));
      const list = await notifications();
      return list.length > 0 ? list : false;
    }, 10000, 200);
    assert.deepEqual(shown, [{ title: 'Incoming call', body: 'from Main entrance', tag: 'call-c1' }]);
    // Anything else pushed is not shown.
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: platform.url, registrationId, data: '{"type":"other"}' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).length), 1);
  } catch (e) {
    e.message += `\n--- browser console:\n${browser.logs.slice(-40).join('\n')}`;
    throw e;
  } finally {
    await browser.close();
  }
});

// A company with a user in a ring group that a door station's button calls.
async function doorStationSetup(name) {
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: `${name} Co` });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'P', company_id: company.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'S', project_id: project.id, time_zone: 'Europe/Berlin' });
  const password = 'correct horse battery phone';
  const username = `${name}-user`;
  const user = await platform.create(admin, '/api/v1/users', { username, password, role: 'viewer', company_id: company.id });
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: 'Residents',
    site_id: site.id,
    ring_seconds: 30,
    members: [{ kind: 'user', id: user.id }],
  });
  const claim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: {
      call_buttons: [{ id: 'b1', label: 'Residents', target: group.id }],
      door_openers: [{ id: 1, name: 'Main door', dtmf: '*1', output: 1 }],
    },
  });
  const serial = `PWA-${name}-${Date.now()}`;
  const door = await platform.startDevice({ claim: claim.code, serial });
  await eventually(async () => {
    if (door.process.exitCode !== null) throw fatal(`device exited: ${door.process.output}`);
    const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, admin);
    const d = r.body.items.find((x) => x.serial === serial);
    return d && d.online && d.sip?.registered && d.config.state === 'applied';
  }, 30000, 100);
  return { admin, username, password, door };
}

const webauthnOptions = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true };

const background = (page) => page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim());

test('phone layout 390x844: light and dark, do-not-disturb rejects a door call as busy, the PIN lock guards "open door"', async () => {
  const { admin, username, password, door } = await doorStationSetup('phone');
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  try {
    await page.setViewportSize(phone);
    await page.emulateMedia({ colorScheme: 'light' });
    await signIn(page, username, password, '#/phone');
    await page.getByTestId('phone').waitFor({ timeout: 10000 });
    await page.locator('[data-testid=registration][data-state=registered]').waitFor({ timeout: 15000 });

    // Light and dark follow the system, and the switch overrides it.
    const light = await background(page);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), phone.width, 'no sideways scrolling');
    await capture(page, 'pwa-phone-home-light');
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await background(page);
    assert.notEqual(light, dark);
    await capture(page, 'pwa-phone-home-dark');
    await page.getByTestId('tab-settings').click();
    await page.getByTestId('theme-light').check();
    assert.equal(await background(page), light);
    await page.getByTestId('theme-dark').check();
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await background(page), dark);
    await capture(page, 'pwa-phone-settings-dark', { fullPage: true });
    await page.getByTestId('theme-system').check();
    assert.equal(await background(page), light);
    await capture(page, 'pwa-phone-settings-light', { fullPage: true });

    // Favourites: a ring group and a door opener on the home screen.
    await page.getByTestId('tab-home').click();
    await page.getByTestId('edit-favourites').click();
    await page.getByRole('checkbox', { name: /Residents/ }).check();
    await page.getByRole('checkbox', { name: /Main door/ }).check();
    await page.getByTestId('edit-favourites').click();
    await page.locator('[data-testid=favourite][data-kind=ring_group]').filter({ hasText: 'Residents' }).waitFor();
    await page.locator('[data-testid=favourite][data-kind=door]').filter({ hasText: 'Main door' }).waitFor();
    await capture(page, 'pwa-phone-favourites-light');
    await page.getByTestId('tab-settings').click();

    // The PIN is set on this phone.
    const pinForm = page.getByTestId('pin-form');
    await pinForm.locator('input[name=new-pin]').fill('12');
    await pinForm.getByRole('button', { name: /Set PIN/ }).click();
    await page.getByTestId('pin-notice').filter({ hasText: '4 to 8 digits' }).waitFor();
    await pinForm.locator('input[name=new-pin]').fill('2468');
    await pinForm.getByRole('button', { name: /Set PIN/ }).click();
    await page.getByTestId('pin-notice').filter({ hasText: 'PIN saved' }).waitFor();
    // Reached by IP address there is no WebAuthn (no relying party ID), even with an authenticator.
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', { options: webauthnOptions });
    await page.getByTestId('tab-home').click();
    await page.getByTestId('tab-settings').click();
    await page.getByTestId('pin-form').getByRole('button', { name: 'Remove PIN' }).waitFor();
    assert.equal(await pinForm.getByRole('button', { name: /fingerprint or face/ }).count(), 0);

    // Do not disturb: the door station's call is declined with 486 and never rings here.
    await page.getByTestId('dnd').check();
    assert.notEqual((await control(door, { cmd: 'press', button: 'b1' })).ok, false);
    await page.getByTestId('notice').filter({ hasText: 'Do not disturb' }).waitFor({ timeout: 10000 });
    assert.equal(await page.getByTestId('call').count(), 0);
    const declined = await eventually(async () => {
      const s = await control(door, { cmd: 'status' });
      return (s.calls ?? []).length === 0 && (s.finished_calls ?? []).length > 0 ? s.finished_calls.at(-1) : false;
    }, 10000, 200).catch(async () => (await control(door, { cmd: 'status' })).finished_calls?.at(-1));
    const record = await eventually(async () => {
      const r = await platform.call('GET', '/api/v1/calls?limit=5', admin);
      const c = r.body.items.find((x) => x.caller.kind === 'device');
      return c && c.status !== 'in_progress' ? c : false;
    }, 10000, 200);
    assert.ok(['busy', 'rejected'].includes(record.status), `${JSON.stringify(record)} / ${JSON.stringify(declined)}`);
    assert.equal(record.answered_by, null);

    // DND off: the next call rings; answered, the door opens only after the PIN.
    await page.getByTestId('dnd').uncheck();
    // The ringtone is synthesised: count the oscillators WebAudio is asked for while it rings.
    await page.evaluate(() => {
      window.oscillators = 0;
      const create = AudioContext.prototype.createOscillator;
      AudioContext.prototype.createOscillator = function () {
        window.oscillators++;
        return create.call(this);
      };
    });
    assert.notEqual((await control(door, { cmd: 'press', button: 'b1' })).ok, false);
    const call = page.getByTestId('call');
    await call.and(page.locator('[data-state=ringing]')).waitFor({ timeout: 10000 });
    await call.getByTestId('snapshot').waitFor({ timeout: 10000 });
    await capture(page, 'pwa-phone-ringing-light');
    assert.ok((await page.evaluate(() => window.oscillators)) > 0, 'the ringtone plays');
    await call.getByTestId('answer').click();
    await call.and(page.locator('[data-state=established]')).waitFor({ timeout: 10000 });
    const quality = page.getByTestId('quality');
    await eventually(async () => Number(await quality.getAttribute('data-bytes-received')) > 0, 10000, 200);
    await eventually(async () => Number(await quality.getAttribute('data-kbps-in')) > 0, 10000, 200);
    await page.getByTestId('network').and(page.locator('[data-level=good]')).waitFor();

    // The favourite door is the first door button, starred.
    assert.match(await call.getByTestId('open-door').first().textContent(), /^★ Open Main door/);
    await call.getByTestId('open-door').click();
    const dialog = page.getByTestId('pin-dialog');
    await dialog.waitFor();
    await dialog.locator('input[name=pin]').fill('1111');
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    await page.getByTestId('pin-error').waitFor();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await control(door, { cmd: 'status' })).door_openings, 0, 'locked: the door must stay shut');
    await page.emulateMedia({ colorScheme: 'dark' });
    await capture(page, 'pwa-phone-pin-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await dialog.locator('input[name=pin]').fill('2468');
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    await dialog.waitFor({ state: 'detached' });
    await eventually(async () => (await control(door, { cmd: 'status' })).door_openings === 1, 10000, 200);

    // The keypad sends DTMF too: the door code typed digit by digit opens it again (unlocked now).
    await call.getByTestId('keypad-toggle').click();
    await capture(page, 'pwa-phone-call-keypad-light');
    await call.getByTestId('keypad').getByRole('button', { name: '*' }).click();
    await call.getByTestId('keypad').getByRole('button', { name: '1', exact: true }).click();
    assert.equal(await call.getByTestId('keypad-typed').textContent(), '*1');
    await eventually(async () => (await control(door, { cmd: 'status' })).door_openings === 2, 10000, 200);

    await call.getByTestId('hangup').click();
    await call.waitFor({ state: 'detached', timeout: 10000 });

    // The activity list shows both calls, the answered one with its snapshot.
    await page.getByTestId('tab-activity').click();
    const answered = page.locator('[data-testid=activity-row][data-status=answered]');
    await answered.first().getByTestId('snapshot').waitFor({ timeout: 10000 });
    assert.ok((await page.getByTestId('activity-row').count()) >= 2);
    await capture(page, 'pwa-phone-activity-light', { fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await capture(page, 'pwa-phone-activity-dark', { fullPage: true });

    // German throughout.
    await page.evaluate(() => localStorage.setItem('carillon.lang', 'de'));
    await page.reload();
    await page.getByTestId('tab-activity').filter({ hasText: 'Aktivität' }).waitFor({ timeout: 10000 });
  } catch (e) {
    const status = await control(door, { cmd: 'status' }).catch((err) => String(err));
    e.message += `\n--- door station status: ${JSON.stringify(status)}\n--- browser console:\n${browser.logs.slice(-60).join('\n')}` +
      `\n--- door station:\n${door.process.output.slice(-2000)}`;
    await page.screenshot({ path: path.join(artifacts, 'pwa-phone-failure.png') }).catch(() => undefined);
    throw e;
  } finally {
    await browser.close();
  }
});

test('pwa: the notification switch asks the platform for its VAPID key and subscribes, or says why not', async () => {
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'Push Co' });
  const password = 'correct horse battery push';
  await platform.create(admin, '/api/v1/users', { username: 'push-user', password, role: 'viewer', company_id: company.id });
  const token = await platform.login('push-user', password);
  const vapid = await platform.call('GET', '/api/v1/push/vapid-public-key', token);
  console.log(`vapid-public-key: ${vapid.status}`);
  const browser = await launchBrowser();
  try {
    await browser.context.grantPermissions(['notifications'], { origin: platform.url });
    const page = await browser.context.newPage();
    await page.setViewportSize(phone);
    await signIn(page, 'push-user', password, '#/phone');
    await page.getByTestId('tab-settings').click();
    const state = page.getByTestId('push-state');
    await state.and(page.locator('[data-state=off]')).waitFor({ timeout: 10000 });
    await page.getByTestId('push-toggle').click();
    if (vapid.status !== 200) {
      // The server has no Web Push: a clear message instead of an error.
      await state.and(page.locator('[data-state=unavailable]')).waitFor({ timeout: 10000 });
      assert.match(await state.textContent(), /does not offer push/);
      return;
    }
    const outcome = await eventually(async () => {
      const s = await state.getAttribute('data-state');
      if (s === 'on' || s === 'no-service') return s;
      const error = await page.locator('.settings .form-error').textContent({ timeout: 100 }).catch(() => '');
      return s === 'off' && error ? `error: ${error}` : false;
    }, 30000, 200);
    console.log(`push subscription in headless Chromium: ${outcome}`);
    if (outcome === 'on') {
      const endpoint = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).pushManager.getSubscription())?.endpoint);
      assert.match(endpoint, /^https:\/\//);
    }
  } finally {
    await browser.close();
  }
});

test('pwa: on a domain origin the PIN lock also enrols WebAuthn (a platform authenticator with user verification)', async () => {
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'WebAuthn Co' });
  const password = 'correct horse battery webauthn';
  await platform.create(admin, '/api/v1/users', { username: 'webauthn-user', password, role: 'viewer', company_id: company.id });
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.setViewportSize(phone);
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: webauthnOptions });
    // The same platform under its name: "localhost" is a valid relying party ID, 127.0.0.1 is not.
    const origin = platform.url.replace('127.0.0.1', 'localhost');
    await page.goto(`${origin}/#/phone`);
    const form = page.getByTestId('login-form');
    await form.locator('input[name=username]').fill('webauthn-user');
    await form.locator('input[name=password]').fill(password);
    await form.getByRole('button').click();
    await page.getByTestId('tab-settings').click();
    const pinForm = page.getByTestId('pin-form');
    // Only after a PIN: WebAuthn is the second way in, the PIN the fallback.
    assert.equal(await pinForm.getByRole('button', { name: /fingerprint or face/ }).count(), 0);
    await pinForm.locator('input[name=new-pin]').fill('135790');
    await pinForm.getByRole('button', { name: /Set PIN/ }).click();
    await pinForm.getByRole('button', { name: /fingerprint or face/ }).click();
    await pinForm.getByRole('button', { name: /fingerprint or face/ }).waitFor({ state: 'detached', timeout: 10000 });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    const stored = await page.evaluate(() => localStorage.getItem('carillon.webauthn'));
    assert.equal(Buffer.from(stored, 'base64').toString('base64'), Buffer.from(credentials[0].credentialId, 'base64').toString('base64'));
    // Removing the PIN removes the WebAuthn unlock too.
    await pinForm.getByRole('button', { name: 'Remove PIN' }).click();
    await page.getByTestId('pin-notice').filter({ hasText: 'PIN removed' }).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('carillon.webauthn')), null);
  } catch (e) {
    e.message += `\n--- notice: ${await browser.context.pages()[0]?.getByTestId('pin-notice').textContent({ timeout: 500 }).catch(() => '-')}`;
    throw e;
  } finally {
    await browser.close();
  }
});
