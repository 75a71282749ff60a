import { useEffect, useState } from 'preact/hooks';
import { api, blobUrl, request } from '../api';
import { onEvent } from '../events';
import { formatTime, language, type MessageKey, useT } from '../i18n';
import { selectedSite } from '../state';
import { useStore } from '../store';

export interface CallRecord {
  id: string;
  sip_call_id: string;
  status: string;
  target: string;
  caller: { kind: string | null; id: string; name: string };
  started_at: number;
  answered_by: string | null;
  duration_seconds: number;
  door_events: { device_id: string; door: number; at: number }[];
  has_snapshot: boolean;
}

export function Snapshot(props: { call: CallRecord; large?: boolean }) {
  const [url, setUrl] = useState('');
  useEffect(() => {
    if (!props.call.has_snapshot) return;
    let revoked = '';
    blobUrl(`/api/v1/calls/${props.call.id}/snapshot`)
      .then((u) => {
        revoked = u;
        setUrl(u);
      })
      .catch(() => undefined);
    return () => revoked && URL.revokeObjectURL(revoked);
  }, [props.call.id, props.call.has_snapshot]);
  if (!url) return null;
  return <img class={props.large ? 'snapshot large' : 'snapshot'} src={url} alt="" data-testid="snapshot" />;
}

const statuses = ['answered', 'missed', 'busy', 'rejected', 'failed', 'timed_out', 'in_progress'];

export function CallTable(props: { calls: CallRecord[] }) {
  const t = useT();
  const lang = useStore(language);
  // Focusable: on a phone the table scrolls sideways on its own, also by keyboard.
  return (
    <table tabIndex={0}>
      <thead>
        <tr>
          <th>{t('calls.snapshot')}</th>
          <th>{t('calls.started')}</th>
          <th>{t('calls.caller')}</th>
          <th>{t('calls.status')}</th>
          <th>{t('calls.duration')}</th>
          <th>{t('calls.door')}</th>
        </tr>
      </thead>
      <tbody>
        {props.calls.map((c) => (
          <tr key={c.id} data-testid="call-row" data-status={c.status} data-call-id={c.sip_call_id}>
            <td>
              <Snapshot call={c} />
            </td>
            <td>{formatTime(lang, c.started_at)}</td>
            <td>{c.caller.name || c.caller.id}</td>
            <td>{t(`status.${c.status}` as MessageKey)}</td>
            <td>{c.duration_seconds} s</td>
            <td data-testid="door-events">{c.door_events.length > 0 ? `${t('calls.doorOpened')} (${c.door_events.map((d) => d.door).join(', ')})` : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function CallsPage() {
  const t = useT();
  const site = useStore(selectedSite);
  const [status, setStatus] = useState('');
  const [calls, setCalls] = useState<CallRecord[]>([]);
  const query = () => {
    const q = new URLSearchParams();
    if (site) q.set('site_id', site.id);
    if (status) q.set('status', status);
    return q.toString();
  };
  const load = async () => setCalls((await api<{ items: CallRecord[] }>('GET', `/api/v1/calls?${query()}&limit=100`)).items);
  useEffect(() => {
    load().catch(() => undefined);
    return onEvent((e) => {
      if (e.type === 'call.updated') load().catch(() => undefined);
    });
  }, [site?.id, status]);
  const exportCsv = async () => {
    const r = await request('GET', `/api/v1/calls.csv?${query()}`, undefined, 'text/csv');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await r.blob());
    a.download = 'calls.csv';
    a.click();
  };
  return (
    <section>
      <h2>
        {t('calls.title')} {site && <small>· {site.name}</small>}
      </h2>
      <div class="toolbar">
        <label>
          {t('calls.filterStatus')}{' '}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">{t('calls.all')}</option>
            {statuses.map((s) => (
              <option value={s}>{t(`status.${s}` as MessageKey)}</option>
            ))}
          </select>
        </label>
        <button onClick={exportCsv} data-testid="csv">
          {t('calls.csv')}
        </button>
      </div>
      {calls.length === 0 ? <p>{t('common.none')}</p> : <CallTable calls={calls} />}
    </section>
  );
}
