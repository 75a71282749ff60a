// Call control in the web client (issue 4, C3): hold and resume, forwarding a door call to
// another user (REFER, followed by the emulated door station), and the operator queue. Real
// `carillon up`, real emulated devices, headless Chromium with a fake microphone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Platform, control, eventually, fatal, launchBrowser } from './harness.mjs';

let platform;
let admin;

before(async () => {
  platform = await Platform.start();
  admin = await platform.login(platform.admin.username, platform.admin.password);
});

after(async () => {
  await platform?.stop();
});

const password = 'correct horse battery callctl';

// A company with a site and `users` operators; the ring group rings the first of them.
async function company(name, users) {
  const c = await platform.create(admin, '/api/v1/companies', { name });
  const project = await platform.create(admin, '/api/v1/projects', { name: 'P', company_id: c.id });
  const site = await platform.create(admin, '/api/v1/sites', { name: 'S', project_id: project.id, time_zone: 'Europe/Berlin' });
  const created = [];
  for (const u of users) {
    created.push(await platform.create(admin, '/api/v1/users', { username: u, password, role: 'viewer', company_id: c.id }));
  }
  const group = await platform.create(admin, '/api/v1/ring-groups', {
    name: `${name} operators`,
    site_id: site.id,
    ring_seconds: 60,
    members: [{ kind: 'user', id: created[0].id }],
  });
  return { company: c, site, users: created, group };
}

// A door station whose button b1 calls the ring group; resolves once it is registered.
async function doorStation(site, group, serial) {
  const claim = await platform.create(admin, '/api/v1/claim-codes', {
    site_id: site.id,
    role: 'door-station',
    config: {
      call_buttons: [{ id: 'b1', label: 'Operators', target: group.id }],
      door_openers: [{ id: 1, name: 'Main door', dtmf: '*1', output: 1 }],
    },
  });
  const door = await platform.startDevice({ claim: claim.code, serial, toneHz: 440, listenHz: 1000 });
  await eventually(async () => {
    if (door.process.exitCode !== null) throw fatal(`device exited: ${door.process.output}`);
    const r = await platform.call('GET', `/api/v1/devices?q=${serial}`, admin);
    const d = r.body.items.find((x) => x.serial === serial);
    return d && d.online && d.sip?.registered && d.config.state === 'applied';
  }, 30000, 100);
  return door;
}

async function openClient(browser, username) {
  const page = await browser.context.newPage();
  // JSSIP_DEBUG=1 logs the SIP messages of the page (shown with a failure).
  if (process.env.JSSIP_DEBUG) await page.addInitScript(() => localStorage.setItem('debug', 'JsSIP:*'));
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

// The door station's view of its (only) established call.
async function doorCall(door) {
  const s = await control(door, { cmd: 'status' });
  return (s.calls ?? []).find((c) => c.state === 'established');
}

// How many loud frames the door heard during `ms`.
async function loudDuring(door, ms) {
  const before = (await doorCall(door))?.heard_loud_frames ?? 0;
  await new Promise((r) => setTimeout(r, ms));
  const after = await doorCall(door);
  assert.ok(after, 'the door station still has its call');
  return after.heard_loud_frames - before;
}

async function report(e, browser, doors) {
  const statuses = [];
  for (const d of doors) statuses.push(await control(d, { cmd: 'status' }).catch((err) => String(err)));
  e.message +=
    `\n--- door stations: ${JSON.stringify(statuses)}` +
    `\n--- browser console:\n${browser.logs.slice(-200).join('\n')}` +
    `\n--- door station:\n${doors.map((d) => d.process.output.slice(-2500)).join('\n---\n')}` +
    `\n--- kamailio:\n${platform.logTail('kamailio')}`;
  return e;
}

test('web client: hold stops the audio to the door station, resume brings it back', async () => {
  const { site, users, group } = await company('Hold Co', ['hold-op']);
  const door = await doorStation(site, group, `HOLD-${Date.now()}`);
  const browser = await launchBrowser();
  try {
    const page = await openClient(browser, users[0].username);
    await control(door, { cmd: 'press', button: 'b1' });
    const call = page.locator('[data-testid=call]');
    await call.and(page.locator('[data-state=ringing]')).waitFor({ timeout: 10000 });
    await call.getByTestId('answer').click();
    await call.and(page.locator('[data-state=established]')).waitFor({ timeout: 10000 });
    await eventually(async () => ((await doorCall(door))?.heard_loud_frames ?? 0) > 0, 10000, 200);
    assert.ok((await loudDuring(door, 1500)) > 10, 'the door hears the browser before hold');

    const hold = call.getByTestId('hold');
    assert.equal(await hold.getAttribute('aria-pressed'), 'false');
    assert.match(await hold.getAttribute('aria-label'), /hold/i);
    await hold.click();
    await page.locator('[data-testid=call][data-held=true]').waitFor({ timeout: 5000 });
    assert.equal(await hold.getAttribute('aria-pressed'), 'true');
    await new Promise((r) => setTimeout(r, 500)); // frames already in the jitter buffer
    assert.equal(await loudDuring(door, 2000), 0, 'the door hears nothing while the call is held');
    // The call is kept on both sides.
    assert.equal((await doorCall(door))?.state, 'established');

    await hold.click();
    await page.locator('[data-testid=call][data-held=false]').waitFor({ timeout: 5000 });
    await eventually(async () => (await loudDuring(door, 1000)) > 10, 10000, 0);
    await call.getByTestId('hangup').click();
    await call.waitFor({ state: 'detached', timeout: 10000 });
  } catch (e) {
    throw await report(e, browser, [door]);
  } finally {
    await browser.close();
  }
});

test('web client: forwarding a door call to another user (REFER followed by the door station)', async () => {
  const { site, users, group } = await company('Forward Co', ['fwd-a', 'fwd-b']);
  const door = await doorStation(site, group, `FWD-${Date.now()}`);
  const browserA = await launchBrowser();
  const browserB = await launchBrowser();
  try {
    const pageA = await openClient(browserA, 'fwd-a');
    const pageB = await openClient(browserB, 'fwd-b');
    await control(door, { cmd: 'press', button: 'b1' });
    const callA = pageA.locator('[data-testid=call]');
    await callA.and(pageA.locator('[data-state=ringing]')).waitFor({ timeout: 10000 });
    await callA.getByTestId('answer').click();
    await callA.and(pageA.locator('[data-state=established]')).waitFor({ timeout: 10000 });
    const first = await eventually(() => doorCall(door), 10000, 200);

    await callA.getByTestId('forward').click();
    const form = callA.getByTestId('forward-form');
    const picker = form.getByTestId('forward-target');
    await picker.locator(`option[data-id="${users[1].id}"]`).waitFor({ state: 'attached', timeout: 5000 });
    await picker.selectOption(`user:${users[1].id}`);
    await form.getByTestId('forward-send').click();

    // B rings with the door's new call and answers it; A is out of the call.
    const callB = pageB.locator('[data-testid=call]');
    await callB.and(pageB.locator('[data-state=ringing]')).waitFor({ timeout: 10000 });
    await callB.getByTestId('answer').click();
    await callB.and(pageB.locator('[data-state=established]')).waitFor({ timeout: 10000 });
    await callA.waitFor({ state: 'detached', timeout: 10000 });

    // Audio both ways between the door station and B, on a new call.
    const second = await eventually(async () => {
      const c = await doorCall(door);
      return c && c.call_id !== first.call_id && c.heard_loud_frames > 0 ? c : false;
    }, 10000, 200);
    assert.equal(second.incoming, false);
    await eventually(async () => Number(await callB.getByTestId('quality').getAttribute('data-bytes-received')) > 0, 10000, 200);
    const s = await control(door, { cmd: 'status' });
    assert.equal(s.calls.length, 1, 'the door station ended the first call');

    await callB.getByTestId('hangup').click();
    await callB.waitFor({ state: 'detached', timeout: 10000 });
  } catch (e) {
    throw await report(e, browserA, [door]);
  } finally {
    await browserA.close();
    await browserB.close();
  }
});

test('web client: operator queue of three waiting calls, taken in arrival order', async () => {
  const { site, users, group } = await company('Queue Co', ['queue-op']);
  const doors = [];
  for (let i = 0; i < 3; i++) doors.push(await doorStation(site, group, `Q${i}-${Date.now()}`));
  const browser = await launchBrowser();
  try {
    const page = await openClient(browser, users[0].username);
    const queue = page.getByTestId('queue');
    const callIds = [];
    for (let i = 0; i < 3; i++) {
      await control(doors[i], { cmd: 'press', button: 'b1' });
      await page.locator(`[data-testid=queue][data-count="${i + 1}"]`).waitFor({ timeout: 10000 });
      const s = await control(doors[i], { cmd: 'status' });
      callIds.push(s.calls[0].call_id);
      await new Promise((r) => setTimeout(r, 1100)); // distinct waiting times
    }
    const items = queue.locator('[data-testid=call]');
    assert.deepEqual(await items.evaluateAll((els) => els.map((e) => e.dataset.callId)), callIds);
    const waited = await queue.getByTestId('waiting').evaluateAll((els) => els.map((e) => Number(e.dataset.seconds)));
    assert.deepEqual(await queue.getByTestId('waiting').evaluateAll((els) => els.map((e) => Number(e.dataset.position))), [1, 2, 3]);
    assert.ok(waited[0] > waited[1] && waited[1] > waited[2], `waiting times ${waited}`);
    // Live: the oldest call's waiting time counts up.
    await eventually(async () => Number(await queue.getByTestId('waiting').first().getAttribute('data-seconds')) > waited[0], 3000, 200);

    for (let i = 0; i < 3; i++) {
      await page.getByTestId('take-next').click();
      // The oldest waiting call is answered; the others keep waiting (and earlier ones are held).
      await page.locator(`[data-testid=call][data-state=established][data-held=false][data-call-id="${callIds[i]}"]`).waitFor({ timeout: 10000 });
      await eventually(async () => (await control(doors[i], { cmd: 'status' })).calls[0]?.state === 'established', 10000, 200);
      if (i < 2) await page.locator(`[data-testid=queue][data-count="${2 - i}"]`).waitFor({ timeout: 5000 });
      for (let j = i + 1; j < 3; j++) {
        const state = (await control(doors[j], { cmd: 'status' })).calls[0]?.state;
        assert.ok(state === 'ringing' || state === 'calling', `door ${j} still waits (${state})`);
      }
      for (let j = 0; j < i; j++) {
        await page.locator(`[data-testid=call][data-held=true][data-call-id="${callIds[j]}"]`).waitFor({ timeout: 5000 });
      }
    }
    assert.equal(await queue.count(), 0);
    for (let left = 3; left > 0; left--) {
      await page.locator('[data-testid=call]').first().getByTestId('hangup').click();
      await eventually(async () => (await page.locator('[data-testid=call]').count()) === left - 1, 10000, 100);
    }
  } catch (e) {
    throw await report(e, browser, doors);
  } finally {
    await browser.close();
  }
});
