// End-to-end (issue 4, test 3): two web client users of one company in two browsers, both members
// of one ring group. A door station presses its button, both browsers ring, the first answers and
// the other stops ringing; the call record names the first as the one who answered and the other
// leg as cancelled by the edge.
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

async function openClient(browser, username, password) {
  const page = await browser.context.newPage();
  await page.goto(`${platform.url}/`);
  const form = page.getByTestId('login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await form.getByRole('button').click();
  await page.getByTestId('me').filter({ hasText: username }).waitFor({ timeout: 10000 });
  await page.getByTestId('nav-client').click();
  await page.locator('[data-testid=registration][data-state=registered]').waitFor({ timeout: 15000 });
  return page;
}

test('ring group: two browsers ring, the first answers, the other stops ringing, record shows who answered', async () => {
  const admin = await platform.login(platform.admin.username, platform.admin.password);
  const company = await platform.create(admin, '/api/v1/companies', { name: 'Ring Co' });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'P', company_id: company.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'S', project_id: project.id, time_zone: 'Europe/Berlin' });
  const password = 'correct horse battery ring';
  const first = await platform.create(admin, '/api/v1/users', { username: 'ring-first', password, role: 'viewer', company_id: company.id });
  const second = await platform.create(admin, '/api/v1/users', { username: 'ring-second', password, role: 'viewer', company_id: company.id });
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: 'Front desk',
    site_id: site.id,
    ring_seconds: 30,
    members: [
      { kind: 'user', id: first.id },
      { kind: 'user', id: second.id },
    ],
  });
  const claim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: { call_buttons: [{ id: 'b1', label: 'Front desk', target: group.id }] },
  });
  const serial = `RG-${Date.now()}`;
  const door = await platform.startDevice({ claim: claim.code, serial });

  const browserA = await launchBrowser();
  const browserB = await launchBrowser();
  try {
    const [pageA, pageB] = await Promise.all([
      openClient(browserA, 'ring-first', password),
      openClient(browserB, 'ring-second', password),
    ]);
    await eventually(async () => {
      if (door.process.exitCode !== null) throw fatal(`device exited: ${door.process.output}`);
      const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, admin);
      const d = r.body.items.find((x) => x.serial === serial);
      return d && d.online && d.sip?.registered && d.config.state === 'applied';
    }, 30000, 100);

    const pressed = await control(door, { cmd: 'press', button: 'b1' });
    assert.notEqual(pressed.ok, false, JSON.stringify(pressed));
    const callA = pageA.locator('[data-testid=call]');
    const callB = pageB.locator('[data-testid=call]');
    // Both ring.
    await Promise.all([
      callA.and(pageA.locator('[data-state=ringing]')).waitFor({ timeout: 10000 }),
      callB.and(pageB.locator('[data-state=ringing]')).waitFor({ timeout: 10000 }),
    ]);

    await callA.getByTestId('answer').click();
    await callA.and(pageA.locator('[data-state=established]')).waitFor({ timeout: 10000 });
    // The other browser's incoming-call UI disappears (the edge CANCELs its leg).
    await callB.waitFor({ state: 'detached', timeout: 5000 });
    assert.equal(await pageB.locator('[data-testid=call]').count(), 0);
    // And stays gone while the first talks.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await pageB.locator('[data-testid=call]').count(), 0);
    assert.equal(await callA.getAttribute('data-state'), 'established');
    const talking = await eventually(async () => {
      const s = await control(door, { cmd: 'status' });
      return s.calls?.[0]?.state === 'established' ? s.calls[0] : false;
    }, 10000, 200);
    assert.ok(talking);

    await callA.getByTestId('hangup').click();
    await callA.waitFor({ state: 'detached', timeout: 10000 });

    const record = await eventually(async () => {
      const r = await platform.call('GET', '/api/v1/calls?limit=5', admin);
      const c = r.body.items.find((x) => x.status === 'answered' && x.ended_at);
      return c ?? false;
    }, 10000, 200);
    assert.equal(record.answered_by, first.id);
    assert.equal(record.ring_group_id, group.id);
    const legOf = (id) => record.legs.find((l) => l.member === id);
    assert.ok(legOf(first.id), JSON.stringify(record.legs));
    assert.ok(legOf(second.id), JSON.stringify(record.legs));
    assert.equal(legOf(first.id).status, 'answered', JSON.stringify(record.legs));
    // The loser's branch ends with 487 Request Terminated: the recorder shows it as cancelled
    // (or as failed with code 487 when the edge's branch failure event arrives before call.answered).
    const loser = legOf(second.id);
    assert.ok(loser.status === 'cancelled' || (loser.status === 'failed' && loser.code === 487), JSON.stringify(record.legs));
    assert.ok(loser.ringing_at, 'the second browser rang');
    assert.equal(loser.answered_at, null);

    // Both UIs show the call in their history as answered.
    for (const page of [pageA, pageB]) {
      await page.locator('[data-testid=call-row][data-status=answered]').first().waitFor({ timeout: 10000 });
    }
  } catch (e) {
    const records = await platform.call('GET', '/api/v1/calls?limit=3', admin).catch((err) => ({ body: String(err) }));
    e.message += `\n--- call records: ${JSON.stringify(records.body)}` +
      `\n--- browser A console:\n${browserA.logs.slice(-40).join('\n')}` +
      `\n--- browser B console:\n${browserB.logs.slice(-40).join('\n')}` +
      `\n--- door station:\n${door.process.output.slice(-2000)}` +
      `\n--- kamailio:\n${platform.logTail('kamailio')}`;
    throw e;
  } finally {
    await browserA.close();
    await browserB.close();
  }
});
