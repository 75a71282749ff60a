import { useEffect, useRef, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { eventsConnected, onEvent } from '../events';
import { formatTime, language, type MessageKey, useT } from '../i18n';
import type { Node } from '../state';
import { useStore } from '../store';
import { FormError } from '../ui';
import { type CallRecord, Snapshot } from './calls';
import { Bars, Donut, StackedBars } from './charts';

export interface Dashboard {
  devices: { total: number; online: number; offline: number };
  firmware: { current: number; update_available: number; updating: number; failed: number };
  gateways?: { total: number; online: number };
  calls_per_day: { date: string; answered: number; missed: number }[];
  recent_calls: CallRecord[];
  sites?: { id: string; name: string; online: number; offline: number }[];
}

interface AuditEvent {
  id: string;
  at: number;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
}

const colors = {
  online: 'var(--ok)',
  offline: 'var(--off)',
  current: 'var(--ok)',
  update_available: '#b26b00',
  updating: 'var(--accent)',
  failed: 'var(--off)',
  answered: 'var(--ok)',
  missed: 'var(--off)',
};

// Events after which the numbers on the dashboard may have changed.
const refreshing = ['device.online', 'device.offline', 'device.claimed', 'call.updated', 'call.ended', 'rollout.progress', 'rollout.changed'];

// The last 14 days (UTC, like the server counts them), days without calls as zero.
function lastDays(days: Dashboard['calls_per_day']): Dashboard['calls_per_day'] {
  const byDate = new Map(days.map((x) => [x.date, x]));
  const today = Date.now();
  const out: Dashboard['calls_per_day'] = [];
  for (let i = 13; i >= 0; i--) {
    const date = new Date(today - i * 86400000).toISOString().slice(0, 10);
    out.push(byDate.get(date) ?? { date, answered: 0, missed: 0 });
  }
  return out;
}

export function DashboardPage(props: { companyId: string | null }) {
  const t = useT();
  const lang = useStore(language);
  const live = useStore(eventsConnected);
  const [companies, setCompanies] = useState<Node[]>([]);
  const [projects, setProjects] = useState<Node[]>([]);
  const [sites, setSites] = useState<Node[]>([]);
  const [company, setCompany] = useState(props.companyId ?? '');
  const [project, setProject] = useState('');
  const [site, setSite] = useState('');
  const [label, setLabel] = useState('');
  const [data, setData] = useState<Dashboard | null>(null);
  const [activity, setActivity] = useState<AuditEvent[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [treeLoaded, setTreeLoaded] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    Promise.all([listAll<Node>('/api/v1/companies'), listAll<Node>('/api/v1/projects'), listAll<Node>('/api/v1/sites')])
      .then(([c, p, s]) => {
        setCompanies(c);
        setProjects(p);
        setSites(s);
        setTreeLoaded(true);
        // A platform admin looks at one company at a time: the first one to begin with.
        if (!props.companyId && c.length > 0) setCompany((cur) => cur || c[0].id);
      })
      .catch(() => undefined);
  }, []);

  const query = () => {
    const q = new URLSearchParams();
    if (company) q.set('company_id', company);
    if (project) q.set('project_id', project);
    if (site) q.set('site_id', site);
    if (label.trim()) q.set('label', label.trim());
    return q.toString();
  };
  const load = async () => {
    try {
      const [d, a] = await Promise.all([
        api<Dashboard>('GET', `/api/v1/dashboard?${query()}`),
        api<{ items: AuditEvent[] }>('GET', `/api/v1/audit-events?limit=10${company ? `&company_id=${company}` : ''}`).catch(() => ({ items: [] })),
      ]);
      setData(d);
      setActivity(a.items);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    if (!company && !props.companyId) return;
    load();
    // A burst of events (a wave of a rollout, many devices reconnecting) is one reload.
    const off = onEvent((e) => {
      if (!refreshing.includes(e.type) && !e.type.startsWith('call.')) return;
      clearTimeout(timer.current);
      timer.current = setTimeout(load, 300);
    });
    return () => {
      off();
      clearTimeout(timer.current);
    };
  }, [company, project, site, label]);

  const shownProjects = projects.filter((p) => !company || p.company_id === company);
  const shownSites = sites.filter((s) => (!company || s.company_id === company) && (!project || s.project_id === project));
  const d = data;
  const fw = d?.firmware;
  const calls14 = lastDays(d?.calls_per_day ?? []);
  const callSeries = [
    { label: t('status.answered'), color: colors.answered },
    { label: t('status.missed'), color: colors.missed },
  ];
  return (
    <section data-testid="dashboard">
      <h2>
        {t('dash.title')}{' '}
        <small class={live ? 'ok' : 'warn'} data-testid="live">
          {live ? t('devices.live') : t('devices.disconnected')}
        </small>
      </h2>
      <div class="toolbar filters">
        {!props.companyId && (
          <label>
            {t('dash.company')}{' '}
            <select value={company} onChange={(e) => { setCompany(e.currentTarget.value); setProject(''); setSite(''); }} data-testid="filter-company">
              {companies.map((c) => (
                <option value={c.id}>{c.name}</option>
              ))}
            </select>
          </label>
        )}
        <label>
          {t('dash.project')}{' '}
          <select value={project} onChange={(e) => { setProject(e.currentTarget.value); setSite(''); }} data-testid="filter-project">
            <option value="">{t('calls.all')}</option>
            {shownProjects.map((p) => (
              <option value={p.id}>{p.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t('tree.site')}{' '}
          <select value={site} onChange={(e) => setSite(e.currentTarget.value)} data-testid="filter-site">
            <option value="">{t('calls.all')}</option>
            {shownSites.map((s) => (
              <option value={s.id}>{s.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t('dash.label')}{' '}
          <input value={label} size={10} onChange={(e) => setLabel(e.currentTarget.value)} data-testid="filter-label" />
        </label>
      </div>
      <FormError error={error} />
      {!d ? (
        !error && <p>{treeLoaded && !company ? t('common.none') : t('common.loading')}</p>
      ) : (
        <div class="dash-grid">
          <div class="card" data-testid="dash-devices">
            <h3>{t('dash.devices')}</h3>
            <div class="row">
              <Donut
                label={t('dash.devicesSummary', { online: d.devices.online, offline: d.devices.offline, total: d.devices.total })}
                center={String(d.devices.total)}
                segments={[
                  { label: t('devices.online'), value: d.devices.online, color: colors.online },
                  { label: t('devices.offline'), value: d.devices.offline, color: colors.offline },
                ]}
              />
              <dl class="numbers">
                <dt>{t('devices.online')}</dt>
                <dd class="ok" data-testid="count-online">{d.devices.online}</dd>
                <dt>{t('devices.offline')}</dt>
                <dd class="off" data-testid="count-offline">{d.devices.offline}</dd>
                <dt>{t('dash.total')}</dt>
                <dd data-testid="count-total">{d.devices.total}</dd>
              </dl>
            </div>
            {d.gateways && d.gateways.total > 0 && (
              <p data-testid="gateways">{t('dash.gateways', { online: d.gateways.online, total: d.gateways.total })}</p>
            )}
          </div>
          {fw && (
            <div class="card" data-testid="dash-firmware">
              <h3>{t('dash.firmware')}</h3>
              <Bars
                segments={(['current', 'update_available', 'updating', 'failed'] as const).map((k) => ({
                  label: t(`fw.status.${k}` as MessageKey),
                  value: fw[k],
                  color: colors[k],
                }))}
              />
            </div>
          )}
          <div class="card wide" data-testid="dash-calls">
            <h3>{t('dash.callsPerDay')}</h3>
            <StackedBars
              label={t('dash.callsSummary', {
                answered: calls14.reduce((s, c) => s + c.answered, 0),
                missed: calls14.reduce((s, c) => s + c.missed, 0),
                days: calls14.length,
              })}
              series={callSeries}
              stacks={calls14.map((c) => ({ label: c.date.slice(8), parts: [c.answered, c.missed] }))}
            />
            <p class="legend">
              {callSeries.map((s) => (
                <span>
                  <i style={{ background: s.color }} aria-hidden="true" /> {s.label}
                </span>
              ))}
            </p>
            <details>
              <summary>{t('dash.asTable')}</summary>
              <table data-testid="calls-table">
                <thead>
                  <tr>
                    <th>{t('dash.date')}</th>
                    <th>{t('status.answered')}</th>
                    <th>{t('status.missed')}</th>
                  </tr>
                </thead>
                <tbody>
                  {calls14.map((c) => (
                    <tr>
                      <td>{c.date}</td>
                      <td>{c.answered}</td>
                      <td>{c.missed}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          </div>
          {d.sites && d.sites.length > 0 && (
            <div class="card" data-testid="dash-sites">
              <h3>{t('dash.sites')}</h3>
              <ul class="plain">
                {d.sites.map((s) => (
                  <li>
                    {s.name}: <span class="ok">{t('dash.nOnline', { n: s.online })}</span>, <span class="off">{t('dash.nOffline', { n: s.offline })}</span>
                  </li>
                ))}
              </ul>
            </div>
          )}
          <div class="card wide" data-testid="dash-recent-calls">
            <h3>{t('dash.recentCalls')}</h3>
            {d.recent_calls.length === 0 ? (
              <p>{t('common.none')}</p>
            ) : (
              <ul class="plain recent">
                {d.recent_calls.slice(0, 8).map((c) => (
                  <li data-testid="recent-call" data-status={c.status}>
                    <Snapshot call={c} /> <span>{formatTime(lang, c.started_at)}</span> · <span>{c.caller.name || c.caller.id}</span> ·{' '}
                    <span class={c.status === 'answered' ? 'ok' : 'off'}>{t(`status.${c.status}` as MessageKey)}</span>
                  </li>
                ))}
              </ul>
            )}
            <a href="#/calls">{t('dash.allCalls')}</a>
          </div>
          <div class="card wide" data-testid="dash-activity">
            <h3>{t('dash.activity')}</h3>
            {activity.length === 0 ? (
              <p>{t('common.none')}</p>
            ) : (
              <ul class="plain">
                {activity.map((a) => (
                  <li data-testid="activity">
                    <span class="muted">{formatTime(lang, a.at * 1000)}</span> <code>{a.action}</code> {a.target_type} {a.target_id}
                  </li>
                ))}
              </ul>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
