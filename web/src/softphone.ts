import { UA, WebSocketInterface } from 'jssip';
import type { RTCSession } from 'jssip/lib/RTCSession';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, listAll } from './api';
import { onEvent } from './events';
import type { CallRecord } from './pages/calls';

interface Credentials {
  aor: string;
  auth_user: string;
  password: string;
  realm: string;
  wss_url: string;
  expires_at: number; // Unix seconds
}

export interface DoorOpener {
  id: number;
  name: string;
  dtmf: string;
}

export type Registration = { state: 'idle' | 'connecting' | 'registered' | 'failed'; reason?: string };

export interface Call {
  session: RTCSession;
  callId: string;
  caller: string;
  state: 'ringing' | 'answering' | 'established' | 'ended';
  record?: CallRecord;
  doors: DoorOpener[];
  // When the call arrived (Date.now()): the operator queue is in this order.
  arrivedAt: number;
  // Put on hold by this client (re-INVITE a=sendonly); the other side hears nothing meanwhile.
  held: boolean;
  // A blind transfer (REFER) in progress or refused; on success the call ends.
  forward?: 'pending' | 'failed';
}

// Where a call can be forwarded: a user or a ring group of the company.
export interface ForwardTarget {
  kind: 'user' | 'group';
  id: string;
  name: string;
}

export interface Quality {
  bytesReceived: number;
  bytesSent: number;
  rttMs: number;
  jitterMs: number;
  lossPercent: number;
  kbpsIn: number;
  kbpsOut: number;
}

// No STUN/TURN: the platform's rtpengine is reached directly, and nothing may leave the network.
export const pcConfig: RTCConfiguration = { iceServers: [], rtcpMuxPolicy: 'require' };

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

// One reading of the call's WebRTC statistics; bit rates and loss relative to `previous`.
async function readQuality(pc: RTCPeerConnection, previous: Quality | null, intervalMs: number): Promise<Quality> {
  const q: Quality = { bytesReceived: 0, bytesSent: 0, rttMs: 0, jitterMs: 0, lossPercent: 0, kbpsIn: 0, kbpsOut: 0 };
  let received = 0;
  let lost = 0;
  const stats = await pc.getStats();
  stats.forEach((s: any) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      q.bytesReceived += s.bytesReceived ?? 0;
      q.jitterMs = Math.round((s.jitter ?? 0) * 1000);
      received += s.packetsReceived ?? 0;
      lost += Math.max(0, s.packetsLost ?? 0);
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      q.bytesSent += s.bytesSent ?? 0;
    } else if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) {
      q.rttMs = Math.round(s.currentRoundTripTime * 1000);
    } else if (s.type === 'remote-inbound-rtp' && s.kind === 'audio' && s.roundTripTime !== undefined && q.rttMs === 0) {
      q.rttMs = Math.round(s.roundTripTime * 1000);
    }
  });
  q.lossPercent = received + lost > 0 ? Math.round((lost / (received + lost)) * 1000) / 10 : 0;
  if (previous) {
    q.kbpsIn = Math.max(0, Math.round(((q.bytesReceived - previous.bytesReceived) * 8) / intervalMs));
    q.kbpsOut = Math.max(0, Math.round(((q.bytesSent - previous.bytesSent) * 8) / intervalMs));
  }
  return q;
}

// good / fair / poor, by the usual VoIP thresholds (ITU-T G.114 for delay).
export function qualityLevel(q: Quality): 'good' | 'fair' | 'poor' {
  if (q.rttMs > 400 || q.jitterMs > 50 || q.lossPercent > 5) return 'poor';
  if (q.rttMs > 150 || q.jitterMs > 20 || q.lossPercent > 1) return 'fair';
  return 'good';
}

export interface SoftphoneOptions {
  // Asked for every incoming call: true rejects it at once with 486 Busy Here.
  doNotDisturb?: () => boolean;
  onRejectedBusy?: (caller: string) => void;
}

// The browser's SIP phone: registration with short-lived credentials, incoming calls with their
// call records (snapshot, door openers of the calling device) and statistics of the active call.
export function useSoftphone(companyId: string | null, options: SoftphoneOptions = {}) {
  const [registration, setRegistration] = useState<Registration>({ state: 'idle' });
  const [calls, setCalls] = useState<Call[]>([]);
  const [quality, setQuality] = useState<Quality | null>(null);
  const [history, setHistory] = useState<CallRecord[]>([]);
  const [ended, setEnded] = useState(0);
  const audio = useRef<HTMLAudioElement>(null);
  // Host part of this client's SIP address: users and ring groups are dialled as sip:<id>@domain.
  const domain = useRef('');
  const callsRef = useRef<Call[]>([]);
  callsRef.current = calls;
  const optionsRef = useRef(options);
  optionsRef.current = options;

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
    if (!companyId) return;
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
      domain.current = creds.aor.replace(/^sips?:/, '').split('@').pop() ?? '';
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
        if (optionsRef.current.doNotDisturb?.()) {
          session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
          optionsRef.current.onRejectedBusy?.(caller);
          setTimeout(loadHistory, 300);
          return;
        }
        session.on('peerconnection', (pe: any) => {
          (pe.peerconnection as RTCPeerConnection).addEventListener('track', (te) => {
            if (audio.current && te.streams[0]) audio.current.srcObject = te.streams[0];
          });
        });
        session.on('sdp', (se: any) => {
          if (se.originator === 'remote' && se.type === 'offer') se.sdp = preferCodecClockDtmf(se.sdp);
        });
        session.on('confirmed', () => update(callId, { state: 'established' }));
        session.on('hold', (he: any) => he.originator === 'local' && update(callId, { held: true }));
        session.on('unhold', (he: any) => he.originator === 'local' && update(callId, { held: false }));
        const onEnd = () => {
          setCalls((list) => list.filter((c) => c.callId !== callId));
          setEnded((n) => n + 1);
          setTimeout(loadHistory, 300);
        };
        session.on('ended', onEnd);
        session.on('failed', onEnd);
        setCalls((list) => [...list, { session, callId, caller, state: 'ringing', doors: [], arrivedAt: Date.now(), held: false }]);
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
  }, [companyId]);

  // Until the snapshot is there, poll as well: the event may come before the upload finished.
  useEffect(() => {
    if (calls.length === 0 || calls.every((c) => c.record?.has_snapshot)) return;
    const timer = setInterval(loadHistory, 500);
    return () => clearInterval(timer);
  }, [calls]);

  const active = calls.find((c) => c.state === 'established' && !c.held) ?? calls.find((c) => c.state === 'established');
  useEffect(() => {
    if (!active) {
      setQuality(null);
      return;
    }
    let previous: Quality | null = null;
    const timer = setInterval(() => {
      const pc = active.session.connection as unknown as RTCPeerConnection | undefined;
      if (pc)
        readQuality(pc, previous, 1000)
          .then((q) => {
            previous = q;
            setQuality(q);
          })
          .catch(() => undefined);
    }, 1000);
    return () => clearInterval(timer);
  }, [active?.callId]);

  // Answering one call puts the calls in progress on hold; waiting calls keep ringing.
  const answer = (c: Call) => {
    for (const other of callsRef.current)
      if (other.callId !== c.callId && other.state === 'established' && !other.held) other.session.hold();
    update(c.callId, { state: 'answering' });
    c.session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig });
  };
  // The operator queue: the call that has waited longest.
  const takeNext = () => {
    const next = queueOf(callsRef.current)[0];
    if (next) answer(next);
  };
  const hold = (c: Call) => c.session.hold();
  const resume = (c: Call) => {
    for (const other of callsRef.current)
      if (other.callId !== c.callId && other.state === 'established' && !other.held) other.session.hold();
    c.session.unhold();
    // The speaker plays this call again (another call may have taken it meanwhile).
    const pc = c.session.connection as unknown as RTCPeerConnection | undefined;
    if (pc && audio.current) audio.current.srcObject = new MediaStream(pc.getReceivers().map((r) => r.track));
  };
  // Blind transfer: the other side (usually the door station) is asked to call `target` itself
  // (REFER); once it reports the new call as answered (NOTIFY 2xx) this call ends.
  const forward = (c: Call, target: ForwardTarget) => {
    update(c.callId, { forward: 'pending' });
    const failed = () => update(c.callId, { forward: 'failed' });
    c.session.refer(`sip:${target.id}@${domain.current}`, {
      eventHandlers: {
        requestFailed: failed,
        failed,
        accepted: () => {
          if (!c.session.isEnded()) c.session.terminate();
        },
      },
    } as any);
  };
  const reject = (c: Call) => c.session.terminate({ status_code: 603, reason_phrase: 'Decline' });
  const hangup = (c: Call) => c.session.terminate();
  // RFC 4733 telephone events (RTCDTMFSender), which the door station listens for.
  const sendDtmf = (c: Call, digits: string) =>
    c.session.sendDTMF(digits, { transportType: 'RFC2833', duration: 160, interToneGap: 100 } as any);

  return {
    registration,
    calls,
    quality,
    history,
    ended,
    audio,
    answer,
    reject,
    hangup,
    sendDtmf,
    hold,
    resume,
    forward,
    takeNext,
    reloadHistory: loadHistory,
  };
}

// Ringing calls, oldest first.
export function queueOf(calls: Call[]): Call[] {
  return calls.filter((c) => c.state === 'ringing').sort((a, b) => a.arrivedAt - b.arrivedAt);
}

// The users and ring groups of the company, for the forward picker.
export async function forwardTargets(companyId: string): Promise<ForwardTarget[]> {
  const [users, groups] = await Promise.all([
    listAll<{ id: string; username: string; disabled: boolean }>('/api/v1/users'),
    listAll<{ id: string; name: string }>(`/api/v1/ring-groups?company_id=${encodeURIComponent(companyId)}`),
  ]);
  return [
    ...users.filter((u) => !u.disabled).map((u) => ({ kind: 'user' as const, id: u.id, name: u.username })),
    ...groups.map((g) => ({ kind: 'group' as const, id: g.id, name: g.name })),
  ];
}
