import { UA, WebSocketInterface } from 'jssip';
import type { RTCSession } from 'jssip/lib/RTCSession';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { onEvent } from '../events';
import { useT } from '../i18n';
import { type CallRecord, CallTable, Snapshot } from './calls';

interface Credentials {
  aor: string;
  auth_user: string;
  password: string;
  realm: string;
  wss_url: string;
  expires_at: number; // Unix seconds
}

interface DoorOpener {
  id: number;
  name: string;
  dtmf: string;
}

type Registration = { state: 'idle' | 'connecting' | 'registered' | 'failed'; reason?: string };

interface Call {
  session: RTCSession;
  callId: string;
  caller: string;
  state: 'ringing' | 'answering' | 'established' | 'ended';
  record?: CallRecord;
  doors: DoorOpener[];
}

interface Quality {
  bytesReceived: number;
  bytesSent: number;
  rttMs: number;
  jitterMs: number;
}

// No STUN/TURN: the platform's rtpengine is reached directly, and nothing may leave the network.
const pcConfig: RTCConfiguration = { iceServers: [], rtcpMuxPolicy: 'require' };

// Keeps only the telephone-event format at the clock of the offer's preferred codec. Chrome
// otherwise sends RFC 4733 events at 8 kHz next to Opus at 48 kHz, and a device that expects the
// events on the audio clock (RFC 4733 section 2.1) ignores them: the door would not open.
export function preferCodecClockDtmf(sdp: string): string {
  const lines = sdp.split('\r\n');
  const audio = lines.findIndex((l) => l.startsWith('m=audio '));
  if (audio < 0) return sdp;
  const pts = lines[audio].split(' ').slice(3);
  const clockOf = (pt: string) => {
    const rtpmap = lines.find((l) => l.startsWith(`a=rtpmap:${pt} `));
    return rtpmap ? { name: rtpmap.split(' ')[1].split('/')[0].toLowerCase(), clock: rtpmap.split('/')[1] } : null;
  };
  const first = pts.map((pt) => ({ pt, f: clockOf(pt) })).find((x) => x.f && x.f.name !== 'telephone-event');
  if (!first?.f) return sdp;
  const events = pts.filter((pt) => clockOf(pt)?.name === 'telephone-event');
  const drop = events.filter((pt) => clockOf(pt)?.clock !== first.f!.clock);
  if (drop.length === 0 || drop.length === events.length) return sdp;
  return lines
    .map((l, i) => (i === audio ? l.split(' ').filter((x, k) => k < 3 || !drop.includes(x)).join(' ') : l))
    .filter((l) => !drop.some((pt) => l.startsWith(`a=rtpmap:${pt} `) || l.startsWith(`a=fmtp:${pt} `) || l.startsWith(`a=rtcp-fb:${pt} `)))
    .join('\r\n');
}

async function readQuality(pc: RTCPeerConnection): Promise<Quality> {
  const q: Quality = { bytesReceived: 0, bytesSent: 0, rttMs: 0, jitterMs: 0 };
  const stats = await pc.getStats();
  stats.forEach((s: any) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      q.bytesReceived += s.bytesReceived ?? 0;
      q.jitterMs = Math.round((s.jitter ?? 0) * 1000);
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      q.bytesSent += s.bytesSent ?? 0;
    } else if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) {
      q.rttMs = Math.round(s.currentRoundTripTime * 1000);
    }
  });
  return q;
}

export function ClientPage(props: { companyId: string | null }) {
  const t = useT();
  const [registration, setRegistration] = useState<Registration>({ state: 'idle' });
  const [calls, setCalls] = useState<Call[]>([]);
  const [quality, setQuality] = useState<Quality | null>(null);
  const [history, setHistory] = useState<CallRecord[]>([]);
  const [notice, setNotice] = useState('');
  const audio = useRef<HTMLAudioElement>(null);
  const callsRef = useRef<Call[]>([]);
  callsRef.current = calls;

  const update = (callId: string, patch: Partial<Call>) =>
    setCalls((list) => list.map((c) => (c.callId === callId ? { ...c, ...patch } : c)));

  const loadHistory = () =>
    api<{ items: CallRecord[] }>('GET', '/api/v1/calls?limit=20')
      .then((r) => {
        setHistory(r.items);
        // The call record (and its snapshot, which the door uploads a moment after the call
        // starts) of every call on screen.
        for (const c of callsRef.current) {
          const record = r.items.find((x) => x.sip_call_id === c.callId);
          if (record && (!c.record || record.has_snapshot !== c.record.has_snapshot || record.status !== c.record.status)) {
            update(c.callId, { record });
            if (record.caller.kind === 'device' && c.doors.length === 0) {
              api('GET', `/api/v1/devices/${record.caller.id}/config`)
                .then((cfg) => update(c.callId, { doors: (cfg.desired?.door_openers ?? []) as DoorOpener[] }))
                .catch(() => undefined);
            }
          }
        }
      })
      .catch(() => undefined);

  useEffect(() => {
    if (!props.companyId) return;
    let ua: UA | null = null;
    let renew: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const start = async () => {
      setRegistration({ state: 'connecting' });
      let creds: Credentials;
      try {
        creds = await api<Credentials>('POST', '/api/v1/sip/credentials');
      } catch (e) {
        setRegistration({ state: 'failed', reason: String((e as Error).message) });
        renew = setTimeout(start, 5000);
        return;
      }
      if (stopped) return;
      const next = new UA({
        sockets: [new WebSocketInterface(creds.wss_url)],
        uri: creds.aor,
        authorization_user: creds.auth_user,
        password: creds.password,
        realm: creds.realm,
        register: true,
        register_expires: 300,
        session_timers: false,
        user_agent: 'Carillon web client',
      });
      next.on('registered', () => setRegistration({ state: 'registered' }));
      next.on('unregistered', () => setRegistration((r) => (r.state === 'failed' ? r : { state: 'idle' })));
      next.on('registrationFailed', (e: any) => setRegistration({ state: 'failed', reason: String(e.cause ?? '') }));
      next.on('newRTCSession', (e: any) => {
        if (e.originator !== 'remote') return;
        const session = e.session as RTCSession;
        const callId = (e.request?.call_id as string) ?? '';
        const identity = session.remote_identity;
        const caller = identity.display_name || identity.uri.user;
        session.on('peerconnection', (pe: any) => {
          (pe.peerconnection as RTCPeerConnection).addEventListener('track', (te) => {
            if (audio.current && te.streams[0]) audio.current.srcObject = te.streams[0];
          });
        });
        session.on('sdp', (se: any) => {
          if (se.originator === 'remote' && se.type === 'offer') se.sdp = preferCodecClockDtmf(se.sdp);
        });
        session.on('confirmed', () => update(callId, { state: 'established' }));
        const ended = () => {
          setCalls((list) => list.filter((c) => c.callId !== callId));
          setNotice(t('client.ended'));
          setTimeout(loadHistory, 300);
        };
        session.on('ended', ended);
        session.on('failed', ended);
        setCalls((list) => [...list, { session, callId, caller, state: 'ringing', doors: [] }]);
        setNotice('');
        loadHistory();
      });
      next.start();
      // The credentials are short-lived: take new ones before they expire, between calls.
      const renewIn = Math.max(30, creds.expires_at - Date.now() / 1000 - 60) * 1000;
      const renewLater = () => {
        if (stopped) return;
        if (callsRef.current.length > 0) {
          renew = setTimeout(renewLater, 10000);
          return;
        }
        next.stop();
        start();
      };
      renew = setTimeout(renewLater, Math.min(renewIn, 2 ** 31 - 1));
      ua = next;
    };
    start();
    loadHistory();
    const off = onEvent((e) => {
      if (e.type === 'call.updated') loadHistory();
    });
    return () => {
      stopped = true;
      clearTimeout(renew);
      off();
      ua?.stop();
    };
  }, [props.companyId]);

  // Until the snapshot is there, poll as well: the event may come before the upload finished.
  useEffect(() => {
    if (calls.length === 0 || calls.every((c) => c.record?.has_snapshot)) return;
    const timer = setInterval(loadHistory, 500);
    return () => clearInterval(timer);
  }, [calls]);

  const active = calls.find((c) => c.state === 'established');
  useEffect(() => {
    if (!active) {
      setQuality(null);
      return;
    }
    const timer = setInterval(() => {
      const pc = active.session.connection as unknown as RTCPeerConnection | undefined;
      if (pc) readQuality(pc).then(setQuality).catch(() => undefined);
    }, 1000);
    return () => clearInterval(timer);
  }, [active?.callId]);

  if (!props.companyId) return <p>{t('client.noCompany')}</p>;

  const answer = (c: Call) => {
    update(c.callId, { state: 'answering' });
    c.session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig });
  };
  const reject = (c: Call) => c.session.terminate({ status_code: 603, reason_phrase: 'Decline' });
  const hangup = (c: Call) => c.session.terminate();
  const openDoor = (c: Call, door: DoorOpener) => {
    // RFC 4733 telephone events (RTCDTMFSender), which the door station listens for.
    c.session.sendDTMF(door.dtmf, { transportType: 'RFC2833', duration: 160, interToneGap: 100 } as any);
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
