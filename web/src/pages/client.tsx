import { useEffect, useState } from 'preact/hooks';
import { useT } from '../i18n';
import { type Call, type DoorOpener, useSoftphone } from '../softphone';
import { CallTable, Snapshot } from './calls';

export function ClientPage(props: { companyId: string | null }) {
  const t = useT();
  const { registration, calls, quality, history, ended, audio, answer, reject, hangup, sendDtmf } = useSoftphone(props.companyId);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    if (ended > 0) setNotice(t('client.ended'));
  }, [ended]);
  useEffect(() => {
    if (calls.some((c) => c.state === 'ringing')) setNotice('');
  }, [calls.length]);

  if (!props.companyId) return <p>{t('client.noCompany')}</p>;

  const openDoor = (c: Call, door: DoorOpener) => {
    sendDtmf(c, door.dtmf);
    setNotice(t('client.doorSent'));
  };

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
      {calls.map((c) => (
        <div class={`card call ${c.state}`} data-testid="call" data-state={c.state} key={c.callId}>
          <h3>{c.state === 'ringing' ? t('client.incoming', { caller: c.caller }) : t('client.inCall', { caller: c.caller })}</h3>
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
              c.doors.map((d) => (
                <button class="door" onClick={() => openDoor(c, d)} data-testid="open-door" data-dtmf={d.dtmf}>
                  {t('client.openDoor', { door: d.name })}
                </button>
              ))}
            {c.state !== 'ringing' && (
              <button class="reject" onClick={() => hangup(c)} data-testid="hangup">
                {t('client.hangup')}
              </button>
            )}
          </div>
          {c.state === 'established' && quality && (
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
      ))}
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
