// End-to-end: the built web app served by a real `carillon up`, driven in headless Chromium,
// with real emulated devices (`carillon device`) calling through Kamailio and rtpengine.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Platform, control, eventually, fatal, launchBrowser } from './harness.mjs';

let platform;

before(async () => {
  platform = await Platform.start();
});

after(async () => {
  await platform?.stop();
});

async function signIn(page, username, password) {
  await page.goto(`${platform.url}/`);
  const form = page.getByTestId('login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await form.getByRole('button').click();
  await page.getByTestId('me').filter({ hasText: username }).waitFor({ timeout: 10000 });
}

test('portal: tenancy tree, claim code with QR, device shows online live, field errors, German', async () => {
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await signIn(page, platform.admin.username, platform.admin.password);

    // A server field error is shown next to its field.
    const companyForm = page.getByTestId('create-company');
    await companyForm.getByRole('button').click();
    await companyForm.locator('.field-error[data-field=name]').waitFor({ timeout: 5000 });

    await companyForm.locator('input[name=name]').fill('Acme Housing');
    await companyForm.locator('input[name=labels]').fill('vip:#e0115f');
    await companyForm.getByRole('button').click();
    await page.getByTestId('company').filter({ hasText: 'Acme Housing' }).click();
    const projectForm = page.getByTestId('create-project');
    await projectForm.locator('input[name=name]').fill('Harbour Towers');
    await projectForm.getByRole('button').click();
    await page.getByTestId('project').filter({ hasText: 'Harbour Towers' }).click();
    const siteForm = page.getByTestId('create-site');
    await siteForm.locator('input[name=name]').fill('Tower A lobby');
    await siteForm.locator('input[name=time_zone]').fill('Europe/Berlin');
    await siteForm.getByRole('button').click();
    await page.getByTestId('site').filter({ hasText: 'Tower A lobby' }).click();

    await page.getByTestId('nav-claim').click();
    const claimForm = page.getByTestId('claim-form');
    await claimForm.locator('textarea[name=config]').fill('{"door_openers":[{"id":1,"name":"Main door","dtmf":"*1","output":1}]}');
    await claimForm.getByRole('button').click();
    const code = (await page.getByTestId('claim-code').textContent({ timeout: 10000 })).trim();
    assert.match(code, /\S{6,}/);
    assert.equal(await page.getByTestId('claim-qr').locator('svg').count(), 1);

    await page.getByTestId('nav-devices').click();
    await page.getByTestId('live').and(page.locator('.ok')).waitFor({ timeout: 10000 });
    const serial = `WEB-${Date.now()}`;
    const device = await platform.startDevice({ claim: code, serial });
    const token = await platform.login(platform.admin.username, platform.admin.password);
    // The moment the platform knows the device is online ...
    await eventually(async () => {
      if (device.process.exitCode !== null) throw fatal(`device exited: ${device.process.output}`);
      const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, token);
      return r.body.items.some((d) => d.serial === serial && d.online);
    }, 30000, 50);
    const onlineAt = Date.now();
    // ... the portal shows it online within 2 s, without a reload (WebSocket events).
    const row = page.locator(`[data-testid=device-row][data-serial="${serial}"]`);
    await row.locator('[data-online=true]').waitFor({ timeout: 2000 });
    const shownAfter = Date.now() - onlineAt;
    assert.ok(shownAfter <= 2000, `shown online ${shownAfter} ms after the platform knew`);

    // Offline is live too.
    await control(device, { cmd: 'status' });
    device.process.kill('SIGTERM');
    await row.locator('[data-online=false]').waitFor({ timeout: 15000 });

    // German: every string comes from the message files.
    await page.getByTestId('language').selectOption('de');
    await page.getByTestId('nav-devices').filter({ hasText: 'Geräte' }).waitFor({ timeout: 2000 });
    await row.locator('[data-online=false]').filter({ hasText: 'offline' }).waitFor();
  } finally {
    await browser.close();
  }
});

test('portal: an expired session signs in again without losing typed input', async () => {
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await signIn(page, platform.admin.username, platform.admin.password);
    const form = page.getByTestId('create-company');
    await form.locator('input[name=name]').fill('Typed Before Expiry');
    // Both tokens become invalid (as after a long pause), written by another tab of the app.
    const other = await browser.context.newPage();
    await other.goto(`${platform.url}/#/calls`);
    await other.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('carillon.session'));
      s.access_token = 'expired';
      s.refresh_token = 'expired';
      localStorage.setItem('carillon.session', JSON.stringify(s));
    });
    await other.close();
    // The request fails with 401; the app asks to sign in again and then repeats the request.
    // (The live-event socket may notice the expiry first: then the dialog is already up.)
    const sent = await form.getByRole('button').click({ timeout: 1500 }).then(() => true, () => false);
    const relogin = page.getByTestId('relogin-form');
    await relogin.waitFor({ timeout: 5000 });
    await relogin.locator('input[name=username]').fill(platform.admin.username);
    await relogin.locator('input[name=password]').fill(platform.admin.password);
    await relogin.getByRole('button').click();
    await relogin.waitFor({ state: 'detached', timeout: 5000 });
    assert.equal(await form.locator('input[name=name]').inputValue(), sent ? '' : 'Typed Before Expiry');
    if (!sent) await form.getByRole('button').click();
    // The pending request is sent again with the new token: the company exists.
    await page.getByTestId('company').filter({ hasText: 'Typed Before Expiry' }).waitFor({ timeout: 10000 });
  } finally {
    await browser.close();
  }
});

test('web client: door station calls, browser rings with snapshot, two-way audio, opens the door, history', async () => {
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'Client Co' });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'P', company_id: company.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'S', project_id: project.id, time_zone: 'Europe/Berlin' });
  const password = 'correct horse battery web';
  const user = await platform.create(admin, '/api/v1/users', {
    username: 'operator-web',
    password,
    role: 'viewer',
    company_id: company.id,
  });
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: 'Operators',
    site_id: site.id,
    ring_seconds: 30,
    members: [{ kind: 'user', id: user.id }],
  });
  const claim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: {
      call_buttons: [{ id: 'b1', label: 'Operators', target: group.id }],
      door_openers: [{ id: 1, name: 'Main door', dtmf: '*1', output: 1 }],
    },
  });
  const serial = `DOOR-${Date.now()}`;
  const door = await platform.startDevice({ claim: claim.code, serial, toneHz: 440, listenHz: 1000 });

  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await signIn(page, 'operator-web', password);
    await page.getByTestId('nav-client').click();
    await page.locator('[data-testid=registration][data-state=registered]').waitFor({ timeout: 15000 });

    // The door station is online, registered and runs the config with the button.
    await eventually(async () => {
      if (door.process.exitCode !== null) throw fatal(`device exited: ${door.process.output}`);
      const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, admin);
      const d = r.body.items.find((x) => x.serial === serial);
      return d && d.online && d.sip?.registered && d.config.state === 'applied';
    }, 30000, 100);

    const pressed = await control(door, { cmd: 'press', button: 'b1' });
    assert.notEqual(pressed.ok, false, JSON.stringify(pressed));
    const call = page.locator('[data-testid=call]');
    await call.and(page.locator('[data-state=ringing]')).waitFor({ timeout: 10000 });
    await call.getByTestId('snapshot').waitFor({ timeout: 10000 });
    await call.getByTestId('answer').click();
    await call.and(page.locator('[data-state=established]')).waitFor({ timeout: 10000 });

    // Audio both ways: the browser receives RTP, the door station hears the fake microphone.
    await eventually(async () => Number(await call.getByTestId('quality').getAttribute('data-bytes-received')) > 0, 10000, 200);
    const heard = await eventually(async () => {
      const s = await control(door, { cmd: 'status' });
      const c = s.calls?.[0];
      return c && c.state === 'established' && c.heard_loud_frames > 0 ? c : false;
    }, 10000, 200);
    assert.equal(heard.srtp, true);

    await call.getByTestId('open-door').click();
    await eventually(async () => (await control(door, { cmd: 'status' })).door_openings === 1, 10000, 200);

    // The browser ends the call: its BYE crosses both fork stages to the door station.
    await call.getByTestId('hangup').click();
    await call.waitFor({ state: 'detached', timeout: 10000 });
    await eventually(async () => ((await control(door, { cmd: 'status' })).calls ?? []).length === 0, 10000, 200);
    const row = page.locator('[data-testid=call-row][data-status=answered]');
    await row.first().waitFor({ timeout: 10000 });
    await row.first().getByTestId('snapshot').waitFor({ timeout: 10000 });
    await eventually(async () => (await row.first().getByTestId('door-events').textContent()).trim() !== '—', 10000, 200);

    const calls = await platform.call('GET', '/api/v1/calls?limit=5', admin);
    const record = calls.body.items.find((c) => c.caller.id && c.status === 'answered');
    assert.ok(record, JSON.stringify(calls.body));
    assert.equal(record.answered_by, user.id);
    assert.equal(record.has_snapshot, true);
    assert.equal(record.door_events.length, 1);
  } catch (e) {
    const status = await control(door, { cmd: 'status' }).catch((err) => String(err));
    const quality = await browser.context.pages().at(-1)?.getByTestId('quality').first().textContent({ timeout: 500 }).catch(() => '-');
    const records = await platform.call('GET', '/api/v1/calls?limit=3', admin).catch((err) => ({ body: String(err) }));
    const rows = await browser.context.pages().at(-1)?.locator('[data-testid=call-row]').evaluateAll((r) => r.map((x) => x.outerHTML)).catch(() => []);
    e.message += `\n--- call records: ${JSON.stringify(records.body)}\n--- history rows: ${rows?.join('\n')}` +
      `\n--- door station status: ${JSON.stringify(status)}\n--- browser quality: ${quality}` +
      `\n--- browser console:\n${browser.logs.slice(-80).join('\n')}` +
      `\n--- door station:\n${door.process.output.slice(-3000)}` +
      `\n--- kamailio:\n${platform.logTail('kamailio')}\n--- rtpengine:\n${platform.logTail('rtpengine')}`;
    throw e;
  } finally {
    await browser.close();
  }
});
