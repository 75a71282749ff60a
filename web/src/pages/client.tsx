import { useEffect, useState } from 'preact/hooks';
import { useT } from '../i18n';
import { type Call, type DoorOpener, type ForwardTarget, forwardTargets, queueOf, useSoftphone } from '../softphone';
import { CallTable, Snapshot } from './calls';

// Seconds as m:ss.
function waited(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// Picks a user or ring group and forwards the call there (blind transfer).
function ForwardControl(props: { companyId: string; call: Call; onForward: (target: ForwardTarget) => void }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const [targets, setTargets] = useState<ForwardTarget[] | null>(null);
  const [choice, setChoice] = useState('');
  useEffect(() => {
    if (!open || targets) return;
    forwardTargets(props.companyId)
      .then(setTargets)
      .catch(() => setTargets([]));
  }, [open]);
  if (!open)
    return (
      <button onClick={() => setOpen(true)} data-testid="forward" disabled={props.call.forward === 'pending'}>
        {t('client.forward')}
      </button>
    );
  const submit = (e: Event) => {
    e.preventDefault();
    const target = targets?.find((x) => `${x.kind}:${x.id}` === choice);
    if (!target) return;
    props.onForward(target);
    setOpen(false);
  };
  return (
    <form class="forward" onSubmit={submit} data-testid="forward-form">
      <label class="field">
        <span>{t('client.forwardTo')}</span>
        <select name="target" value={choice} onChange={(e) => setChoice(e.currentTarget.value)} data-testid="forward-target">
          <option value="">{targets ? t('common.select') : t('common.loading')}</option>
          {(['user', 'group'] as const).map((kind) => (
            <optgroup label={t(kind === 'user' ? 'client.forwardUsers' : 'client.forwardGroups')} key={kind}>
              {(targets ?? [])
                .filter((x) => x.kind === kind)
                .map((x) => (
                  <option value={`${x.kind}:${x.id}`} key={x.id} data-id={x.id}>
                    {x.name}
                  </option>
                ))}
            </optgroup>
          ))}
        </select>
      </label>
      <button type="submit" disabled={!choice} data-testid="forward-send">
        {t('client.forwardSend')}
      </button>
      <button type="button" class="secondary" onClick={() => setOpen(false)}>
        {t('common.cancel')}
      </button>
    </form>
  );
}

export function ClientPage(props: { companyId: string | null }) {
  const t = useT();
  const { registration, calls, quality, history, ended, audio, answer, reject, hangup, sendDtmf, hold, resume, forward, takeNext } =
    useSoftphone(props.companyId);
  const [notice, setNotice] = useState('');
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (ended > 0) setNotice(t('client.ended'));
  }, [ended]);
  useEffect(() => {
    if (calls.some((c) => c.state === 'ringing')) setNotice('');
  }, [calls.length]);
  const queue = queueOf(calls);
  // The waiting times count up live while calls wait.
  useEffect(() => {
    if (queue.length === 0) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [queue.length]);

  if (!props.companyId) return <p>{t('client.noCompany')}</p>;
  const companyId = props.companyId;

  const openDoor = (c: Call, door: DoorOpener) => {
    sendDtmf(c, door.dtmf);
    setNotice(t('client.doorSent'));
  };

  const card = (c: Call, position?: number) => (
    <div
      class={`card call ${c.state}${c.held ? ' held' : ''}`}
      data-testid="call"
      data-state={c.state}
      data-held={String(c.held)}
      data-call-id={c.callId}
      data-caller={c.caller}
      key={c.callId}
    >
      <h3>
        {c.state === 'ringing'
          ? t('client.incoming', { caller: c.caller })
          : c.held
            ? t('client.onHold', { caller: c.caller })
            : t('client.inCall', { caller: c.caller })}
      </h3>
      {position !== undefined && (
        <p class="muted" data-testid="waiting" data-position={position} data-seconds={Math.floor((now - c.arrivedAt) / 1000)}>
          {t('client.waiting', { position, time: waited(now - c.arrivedAt) })}
        </p>
      )}
      {c.record?.has_snapshot ? <Snapshot call={c.record} large /> : <p class="muted">{t('client.waitingSnapshot')}</p>}
      <div class="actions">
        {c.state === 'ringing' && (
          <>
            <button class="answer" onClick={() => answer(c)} data-testid="answer">
              {t('client.answer')}
            </button>
            <button class="reject" onClick={() => reject(c)} data-testid="reject">
              {t('client.reject')}
            </button>
          </>
        )}
        {c.state === 'established' &&
          !c.held &&
          c.doors.map((d) => (
            <button class="door" onClick={() => openDoor(c, d)} data-testid="open-door" data-dtmf={d.dtmf}>
              {t('client.openDoor', { door: d.name })}
            </button>
          ))}
        {c.state === 'established' && (
          <button
            onClick={() => (c.held ? resume(c) : hold(c))}
            data-testid="hold"
            aria-pressed={c.held}
            aria-label={t(c.held ? 'client.resumeLabel' : 'client.holdLabel', { caller: c.caller })}
          >
            {t(c.held ? 'client.resume' : 'client.hold')}
          </button>
        )}
        {c.state === 'established' && <ForwardControl companyId={companyId} call={c} onForward={(target) => forward(c, target)} />}
        {c.state !== 'ringing' && (
          <button class="reject" onClick={() => hangup(c)} data-testid="hangup">
            {t('client.hangup')}
          </button>
        )}
      </div>
      {c.forward && (
        <p class={c.forward === 'failed' ? 'form-error' : 'muted'} role="status" data-testid="forward-state" data-state={c.forward}>
          {t(c.forward === 'failed' ? 'client.forwardFailed' : 'client.forwarding')}
        </p>
      )}
      {c.state === 'established' && !c.held && quality && (
        <p class="muted" data-testid="quality" data-bytes-received={quality.bytesReceived} data-bytes-sent={quality.bytesSent}>
          {t('client.quality', {
            inKb: (quality.bytesReceived / 1024).toFixed(1),
            outKb: (quality.bytesSent / 1024).toFixed(1),
            rtt: quality.rttMs,
            jitter: quality.jitterMs,
          })}
        </p>
      )}
    </div>
  );

  return (
    <section class="client">
      <h2>{t('client.title')}</h2>
      <p data-testid="registration" data-state={registration.state}>
        <span class={`dot ${registration.state === 'registered' ? 'ok' : 'off'}`} />
        {registration.state === 'failed'
          ? t('client.state.failed', { reason: registration.reason ?? '' })
          : t(`client.state.${registration.state}`)}
      </p>
      <audio ref={audio} autoplay />
      {calls.filter((c) => c.state !== 'ringing').map((c) => card(c))}
      {queue.length > 0 && (
        <section class="queue" data-testid="queue" data-count={queue.length} aria-label={t('client.queue', { count: queue.length })}>
          <h3>{t('client.queue', { count: queue.length })}</h3>
          <button class="answer" onClick={takeNext} data-testid="take-next">
            {t('client.takeNext')}
          </button>
          <ol>
            {queue.map((c, i) => (
              <li key={c.callId}>{card(c, i + 1)}</li>
            ))}
          </ol>
        </section>
      )}
      {notice && (
        <p class="notice" data-testid="notice">
          {notice}
        </p>
      )}
      <h3>{t('client.history')}</h3>
      <CallTable calls={history} />
    </section>
  );
}
