import { useEffect, useRef, useState } from 'preact/hooks';
import { api, listAll, logout } from '../api';
import { formatTime, language, useT } from '../i18n';
import {
  enrollWebAuthn,
  pinSet,
  setPin,
  unlocked,
  unlockWithPin,
  unlockWithWebAuthn,
  webauthnAvailable,
  webauthnEnrolled,
} from '../lock';
import { type Favourite, type Ringtone, type Theme, prefs, setPrefs, toggleFavourite } from '../prefs';
import { type PushState, pushState, subscribePush, unsubscribePush } from '../push';
import { playRingtone } from '../ringtone';
import { type Call, type DoorOpener, type Quality, qualityLevel, useSoftphone } from '../softphone';
import { useStore } from '../store';
import { Snapshot } from './calls';

type Tab = 'home' | 'activity' | 'settings';
const ringtones: Ringtone[] = ['classic', 'chime', 'pulse', 'off'];
const themes: Theme[] = ['system', 'light', 'dark'];
const keypad = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

function QualityBadge(props: { quality: Quality | null; online: boolean; registered: boolean }) {
  const t = useT();
  const q = props.quality;
  const level = !props.online || !props.registered ? 'poor' : q ? qualityLevel(q) : 'good';
  return (
    <div class={`net ${level}`} data-testid="network" data-level={level} title={t(`phone.net.${level}`)}>
      <span class="bars" aria-hidden="true">
        <i />
        <i />
        <i />
      </span>
      <span class="sr-only">{t(`phone.net.${level}`)}</span>
    </div>
  );
}

// The numbers behind the indicator, shown during a call.
function QualityLine(props: { quality: Quality }) {
  const t = useT();
  const q = props.quality;
  return (
    <p
      class="muted quality"
      data-testid="quality"
      data-bytes-received={q.bytesReceived}
      data-rtt={q.rttMs}
      data-jitter={q.jitterMs}
      data-loss={q.lossPercent}
      data-kbps-in={q.kbpsIn}
    >
      {t('phone.quality', { rtt: q.rttMs, jitter: q.jitterMs, loss: q.lossPercent, kin: q.kbpsIn, kout: q.kbpsOut })}
    </p>
  );
}

// Asks for the PIN (or WebAuthn) before a door opens; resolves the pending action on success.
function PinDialog(props: { onDone: (ok: boolean) => void }) {
  const t = useT();
  const [pin, setPinText] = useState('');
  const [error, setError] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await unlockWithPin(pin)) props.onDone(true);
    else {
      setError(true);
      setPinText('');
    }
  };
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="pin-title">
      <form class="card" onSubmit={submit} data-testid="pin-dialog">
        <h2 id="pin-title">{t('phone.pin.enter')}</h2>
        <label class="field">
          <span>{t('phone.pin.label')}</span>
          <input
            ref={input}
            name="pin"
            type="password"
            inputMode="numeric"
            autocomplete="off"
            value={pin}
            onInput={(e) => setPinText(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="form-error" role="alert" data-testid="pin-error">
            {t('phone.pin.wrong')}
          </p>
        )}
        <div class="actions">
          <button type="submit">{t('phone.pin.unlock')}</button>
          {webauthnEnrolled() && (
            <button type="button" onClick={async () => (await unlockWithWebAuthn()) && props.onDone(true)}>
              {t('phone.pin.webauthn')}
            </button>
          )}
          <button type="button" class="secondary" onClick={() => props.onDone(false)}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </div>
  );
}

function CallView(props: {
  call: Call;
  quality: Quality | null;
  favourites: Favourite[];
  answer: () => void;
  reject: () => void;
  hangup: () => void;
  toggleHold: () => void;
  openDoor: (d: DoorOpener) => void;
  dtmf: (digit: string) => void;
}) {
  const t = useT();
  const c = props.call;
  const [showKeypad, setShowKeypad] = useState(false);
  const [typed, setTyped] = useState('');
  const deviceId = c.record?.caller.kind === 'device' ? c.record.caller.id : '';
  const isFav = (d: DoorOpener) => props.favourites.some((f) => f.kind === 'door' && f.id === `${deviceId}:${d.id}`);
  // Favourite doors first: the one usually opened is the first button.
  const doors = [...c.doors].sort((a, b) => Number(isFav(b)) - Number(isFav(a)));
  return (
    <section class={`phone-call ${c.state}`} data-testid="call" data-state={c.state} aria-live="polite">
      <h2>{c.state === 'ringing' ? t('client.incoming', { caller: c.caller }) : t('client.inCall', { caller: c.caller })}</h2>
      {c.record?.has_snapshot ? <Snapshot call={c.record} large /> : <p class="muted">{t('client.waitingSnapshot')}</p>}
      {c.state === 'established' && props.quality && <QualityLine quality={props.quality} />}
      {c.state === 'ringing' ? (
        <div class="big-actions">
          <button class="reject round" onClick={props.reject} data-testid="reject">
            {t('client.reject')}
          </button>
          <button class="answer round" onClick={props.answer} data-testid="answer">
            {t('client.answer')}
          </button>
        </div>
      ) : (
        <>
          {doors.length > 0 && (
            <div class="doors" role="group" aria-label={t('phone.doors')}>
              {doors.map((d) => (
                <button class="door" onClick={() => props.openDoor(d)} data-testid="open-door" data-dtmf={d.dtmf} disabled={c.state !== 'established'}>
                  {isFav(d) ? '★ ' : ''}
                  {t('client.openDoor', { door: d.name })}
                </button>
              ))}
            </div>
          )}
          {showKeypad && (
            <div class="keypad" role="group" aria-label={t('phone.keypad')} data-testid="keypad">
              <output data-testid="keypad-typed">{typed}</output>
              {keypad.map((k) => (
                <button
                  class="key"
                  onClick={() => {
                    setTyped((x) => (x + k).slice(-16));
                    props.dtmf(k);
                  }}
                  disabled={c.state !== 'established'}
                >
                  {k}
                </button>
              ))}
            </div>
          )}
          <div class="big-actions">
            <button class="secondary" onClick={() => setShowKeypad((x) => !x)} aria-pressed={showKeypad} data-testid="keypad-toggle">
              {t('phone.keypad')}
            </button>
            <button
              class="secondary"
              onClick={props.toggleHold}
              disabled={c.state !== 'established'}
              aria-pressed={c.held}
              aria-label={t(c.held ? 'client.resumeLabel' : 'client.holdLabel', { caller: c.caller })}
              data-testid="hold"
            >
              {t(c.held ? 'client.resume' : 'client.hold')}
            </button>
            <button class="reject" onClick={props.hangup} data-testid="hangup">
              {t('client.hangup')}
            </button>
          </div>
        </>
      )}
    </section>
  );
}

interface Contact extends Favourite {
  detail?: string;
}

function Home(props: { favourites: Favourite[] }) {
  const t = useT();
  const [editing, setEditing] = useState(false);
  const [contacts, setContacts] = useState<Contact[] | null>(null);
  useEffect(() => {
    if (!editing || contacts) return;
    (async () => {
      const found: Contact[] = [];
      const groups = await listAll<{ id: string; name: string; members?: unknown[] }>('/api/v1/ring-groups').catch(() => []);
      for (const g of groups) found.push({ kind: 'ring_group', id: g.id, name: g.name, detail: t('groups.kind.ring_group') });
      const users = await listAll<{ id: string; username: string }>('/api/v1/users').catch(() => []);
      for (const u of users) found.push({ kind: 'user', id: u.id, name: u.username, detail: t('groups.kind.user') });
      const devices = await listAll<{ id: string; name?: string; serial: string; role: string }>('/api/v1/devices').catch(() => []);
      for (const d of devices.filter((x) => x.role === 'door-station').slice(0, 50)) {
        const cfg = await api('GET', `/api/v1/devices/${d.id}/config`).catch(() => null);
        for (const door of (cfg?.desired?.door_openers ?? []) as DoorOpener[])
          found.push({ kind: 'door', id: `${d.id}:${door.id}`, name: door.name, detail: d.name || d.serial });
      }
      setContacts(found);
    })();
  }, [editing]);
  const isFav = (c: Favourite) => props.favourites.some((f) => f.kind === c.kind && f.id === c.id);
  return (
    <section data-testid="home">
      <div class="row">
        <h2>{t('phone.favourites')}</h2>
        <button class="secondary" onClick={() => setEditing((x) => !x)} aria-pressed={editing} data-testid="edit-favourites">
          {editing ? t('phone.done') : t('phone.editFavourites')}
        </button>
      </div>
      {!editing &&
        (props.favourites.length === 0 ? (
          <p class="muted">{t('phone.noFavourites')}</p>
        ) : (
          <ul class="tiles">
            {props.favourites.map((f) => (
              <li class={`tile ${f.kind}`} data-testid="favourite" data-kind={f.kind}>
                <span class="tile-icon" aria-hidden="true">
                  {f.kind === 'door' ? '🚪' : f.kind === 'user' ? '👤' : '👥'}
                </span>
                <span>{f.name}</span>
                <small class="muted">{t(f.kind === 'door' ? 'phone.doorHint' : `groups.kind.${f.kind}`)}</small>
              </li>
            ))}
          </ul>
        ))}
      {editing &&
        (contacts === null ? (
          <p>{t('common.loading')}</p>
        ) : (
          <ul class="list">
            {contacts.map((c) => (
              <li>
                <label>
                  <input type="checkbox" checked={isFav(c)} onChange={() => toggleFavourite({ kind: c.kind, id: c.id, name: c.name })} data-testid="favourite-toggle" />
                  <span>{c.name}</span> <small class="muted">{c.detail}</small>
                </label>
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}

function Activity(props: { history: ReturnType<typeof useSoftphone>['history'] }) {
  const t = useT();
  const lang = useStore(language);
  return (
    <section data-testid="activity">
      <h2>{t('phone.activity')}</h2>
      {props.history.length === 0 && <p class="muted">{t('common.none')}</p>}
      <ul class="list activity">
        {props.history.map((c) => (
          <li data-testid="activity-row" data-status={c.status}>
            {c.has_snapshot ? <Snapshot call={c} /> : <span class="snapshot placeholder" aria-hidden="true" />}
            <span>
              <strong>{c.caller.name || c.caller.id}</strong>
              <br />
              <small class="muted">
                {formatTime(lang, c.started_at)} · <span class={`status ${c.status}`}>{t(`status.${c.status}` as any)}</span>
                {c.door_events.length > 0 && ` · ${t('calls.door')} ${t('calls.doorOpened')}`}
              </small>
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Settings(props: { username: string }) {
  const t = useT();
  const p = useStore(prefs);
  const [push, setPush] = useState<PushState | 'busy'>('off');
  const [pushError, setPushError] = useState('');
  const [hasPin, setHasPin] = useState(pinSet());
  const [newPin, setNewPin] = useState('');
  const [pinNotice, setPinNotice] = useState('');
  const [canWebauthn, setCanWebauthn] = useState(false);
  const [enrolled, setEnrolled] = useState(webauthnEnrolled());
  useEffect(() => {
    pushState().then(setPush).catch(() => setPush('unsupported'));
    webauthnAvailable().then(setCanWebauthn);
  }, []);
  const togglePush = async () => {
    setPushError('');
    const was = push;
    setPush('busy');
    try {
      setPush(was === 'on' ? await unsubscribePush() : await subscribePush());
    } catch (e) {
      setPush(was);
      setPushError(String((e as Error).message));
    }
  };
  const savePin = async (e: Event) => {
    e.preventDefault();
    if (!/^\d{4,8}$/.test(newPin)) {
      setPinNotice(t('phone.pin.invalid'));
      return;
    }
    await setPin(newPin);
    setNewPin('');
    setHasPin(true);
    setPinNotice(t('phone.pin.saved'));
  };
  return (
    <section class="settings" data-testid="settings">
      <h2>{t('phone.settings')}</h2>
      <fieldset>
        <legend>{t('phone.theme')}</legend>
        {themes.map((th) => (
          <label class="choice">
            <input type="radio" name="theme" value={th} checked={p.theme === th} onChange={() => setPrefs({ theme: th })} data-testid={`theme-${th}`} />
            {t(`phone.theme.${th}`)}
          </label>
        ))}
      </fieldset>
      <label class="field">
        <span>{t('phone.ringtone')}</span>
        <select value={p.ringtone} onChange={(e) => setPrefs({ ringtone: e.currentTarget.value as Ringtone })} data-testid="ringtone">
          {ringtones.map((r) => (
            <option value={r}>{t(`phone.ringtone.${r}`)}</option>
          ))}
        </select>
      </label>
      <button class="secondary" onClick={() => playRingtone(p.ringtone, true)} disabled={p.ringtone === 'off'}>
        {t('phone.ringtone.preview')}
      </button>
      <form onSubmit={savePin} data-testid="pin-form">
        <h3>{t('phone.pin.title')}</h3>
        <p class="muted">{hasPin ? t('phone.pin.on') : t('phone.pin.off')}</p>
        <label class="field">
          <span>{t('phone.pin.new')}</span>
          <input name="new-pin" type="password" inputMode="numeric" autocomplete="new-password" value={newPin} onInput={(e) => setNewPin(e.currentTarget.value)} />
        </label>
        <div class="actions">
          <button type="submit">{t('phone.pin.set')}</button>
          {hasPin && (
            <button
              type="button"
              class="secondary"
              onClick={async () => {
                await setPin(null);
                setHasPin(false);
                setEnrolled(false);
                setPinNotice(t('phone.pin.removed'));
              }}
            >
              {t('phone.pin.remove')}
            </button>
          )}
          {hasPin && canWebauthn && !enrolled && (
            <button
              type="button"
              class="secondary"
              onClick={() =>
                enrollWebAuthn(props.username).then(
                  () => setEnrolled(true),
                  (e) => setPinNotice(String(e.message)),
                )
              }
            >
              {t('phone.pin.enrollWebauthn')}
            </button>
          )}
        </div>
        {pinNotice && (
          <p class="notice" role="status" data-testid="pin-notice">
            {pinNotice}
          </p>
        )}
      </form>
      <h3>{t('phone.push.title')}</h3>
      <p class="muted" data-testid="push-state" data-state={push}>
        {t(`phone.push.${push}`)}
      </p>
      {(push === 'on' || push === 'off' || push === 'unavailable' || push === 'no-service') && (
        <button onClick={togglePush} data-testid="push-toggle">
          {push === 'on' ? t('phone.push.disable') : t('phone.push.enable')}
        </button>
      )}
      {pushError && (
        <p class="form-error" role="alert">
          {pushError}
        </p>
      )}
      <p>
        <a href="#/tree">{t('phone.portal')}</a> ·{' '}
        <button class="link" onClick={() => logout()}>
          {t('nav.logout')}
        </button>
      </p>
    </section>
  );
}

// The mobile client: what the installed app (manifest start_url) opens, laid out for phones.
export function PhonePage(props: { companyId: string | null; username: string }) {
  const t = useT();
  const p = useStore(prefs);
  const [tab, setTab] = useState<Tab>('home');
  const [notice, setNotice] = useState('');
  const [online, setOnline] = useState(navigator.onLine);
  const [pending, setPending] = useState<(() => void) | null>(null);
  const phone = useSoftphone(props.companyId, {
    doNotDisturb: () => prefs.value.dnd,
    onRejectedBusy: (caller) => setNotice(t('phone.dndRejected', { caller })),
  });
  useEffect(() => {
    const on = () => setOnline(navigator.onLine);
    window.addEventListener('online', on);
    window.addEventListener('offline', on);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', on);
    };
  }, []);
  const ringing = phone.calls.some((c) => c.state === 'ringing');
  useEffect(() => {
    if (!ringing) return;
    setNotice('');
    return playRingtone(p.ringtone);
  }, [ringing, p.ringtone]);
  useEffect(() => {
    if (phone.ended > 0) setNotice(t('client.ended'));
  }, [phone.ended]);

  if (!props.companyId) return <p>{t('client.noCompany')}</p>;

  const guarded = (action: () => void) => {
    if (unlocked()) action();
    else setPending(() => action);
  };
  const call = phone.calls.find((c) => c.state !== 'ringing') ?? phone.calls[0];
  return (
    <div class="phone" data-testid="phone">
      <header class="phone-bar">
        <strong>{t('app.title')}</strong>
        <span data-testid="registration" data-state={phone.registration.state} class="reg">
          <span class={`dot ${phone.registration.state === 'registered' ? 'ok' : 'off'}`} />
          {phone.registration.state === 'failed'
            ? t('client.state.failed', { reason: phone.registration.reason ?? '' })
            : t(`client.state.${phone.registration.state}`)}
        </span>
        <QualityBadge quality={phone.quality} online={online} registered={phone.registration.state === 'registered'} />
        <label class="switch">
          <input type="checkbox" role="switch" checked={p.dnd} onChange={(e) => setPrefs({ dnd: e.currentTarget.checked })} data-testid="dnd" />
          <span>{t('phone.dnd')}</span>
        </label>
      </header>
      <audio ref={phone.audio} autoplay />
      <main class="phone-main">
        {notice && (
          <p class="notice" role="status" data-testid="notice">
            {notice}
          </p>
        )}
        {call ? (
          <CallView
            call={call}
            quality={phone.quality}
            favourites={p.favourites}
            answer={() => phone.answer(call)}
            reject={() => phone.reject(call)}
            hangup={() => phone.hangup(call)}
            toggleHold={() => (call.held ? phone.resume(call) : phone.hold(call))}
            openDoor={(d) =>
              guarded(() => {
                phone.sendDtmf(call, d.dtmf);
                setNotice(t('client.doorSent'));
              })
            }
            dtmf={(k) => phone.sendDtmf(call, k)}
          />
        ) : tab === 'home' ? (
          <Home favourites={p.favourites} />
        ) : tab === 'activity' ? (
          <Activity history={phone.history} />
        ) : (
          <Settings username={props.username} />
        )}
      </main>
      {!call && (
        <nav class="tabs" aria-label={t('phone.tabs')}>
          {(['home', 'activity', 'settings'] as Tab[]).map((x) => (
            <button class={tab === x ? 'active' : ''} aria-current={tab === x ? 'page' : undefined} onClick={() => setTab(x)} data-testid={`tab-${x}`}>
              {t(`phone.tab.${x}`)}
            </button>
          ))}
        </nav>
      )}
      {pending && (
        <PinDialog
          onDone={(ok) => {
            const action = pending;
            setPending(null);
            if (ok) action();
          }}
        />
      )}
    </div>
  );
}
