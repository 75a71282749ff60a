import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { onEvent } from '../events';
import { formatTime, language, type MessageKey, useT } from '../i18n';
import type { Node } from '../state';
import { useStore } from '../store';
import { Field, FormError, fieldErrors } from '../ui';
import { type FirmwareImage, listImages } from './firmware';

const deviceStates = ['pending', 'downloading', 'verifying', 'installing', 'rebooting', 'done', 'failed', 'rolled_back'] as const;
type DeviceState = (typeof deviceStates)[number];

interface RolloutDevice {
  device_id: string;
  name: string;
  wave: number;
  state: DeviceState;
  percent: number;
  error: string;
  from_version: string;
}

export interface Rollout {
  id: string;
  company_id: string;
  image_id: string;
  version?: string;
  state: string;
  current_wave: number;
  waves: number[];
  failure_threshold_percent: number;
  stop_reason: string;
  created_at?: number;
  counts?: Partial<Record<DeviceState, number>>;
  devices?: RolloutDevice[];
}

// Event fields may sit at the top level or under "data".
function fields(e: { data?: Record<string, any> }): Record<string, any> {
  return { ...(e as Record<string, any>), ...(e.data ?? {}) };
}

function StartForm(props: { companyId: string; sites: Node[]; images: FirmwareImage[]; onStarted: (id: string) => void }) {
  const t = useT();
  const images = props.images;
  const [image, setImage] = useState('');
  const [site, setSite] = useState('');
  const [waves, setWaves] = useState('1,10,100');
  const [threshold, setThreshold] = useState('20');
  const [error, setError] = useState<unknown>(null);
  const errors = fieldErrors(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = {
      company_id: props.companyId,
      image_id: image,
      waves: waves
        .split(',')
        .map((w) => w.trim())
        .filter(Boolean)
        .map(Number),
      failure_threshold_percent: Number(threshold),
    };
    if (site) body.site_id = site;
    try {
      const r = await api<Rollout>('POST', '/api/v1/rollouts', body);
      props.onStarted(r.id);
    } catch (err) {
      setError(err);
    }
  };
  const waveError = Object.entries(errors).find(([k]) => k.startsWith('waves'))?.[1];
  return (
    <form class="inline-form" onSubmit={submit} data-testid="rollout-form">
      <h3>{t('ro.start')}</h3>
      <Field label={t('ro.image')} name="image_id" errors={errors}>
        <select name="image_id" value={image} onChange={(e) => setImage(e.currentTarget.value)}>
          <option value="">{t('common.select')}</option>
          {images.map((i) => (
            <option value={i.id}>
              {i.manifest.family} {i.manifest.version}
              {i.manifest.security_critical ? ` (${t('fw.securityCritical')})` : ''}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('ro.site')} name="site_id" errors={errors}>
        <select name="site_id" value={site} onChange={(e) => setSite(e.currentTarget.value)}>
          <option value="">{t('ro.allSites')}</option>
          {props.sites.map((s) => (
            <option value={s.id}>{s.name}</option>
          ))}
        </select>
      </Field>
      <Field label={t('ro.waves')} name="waves" errors={waveError ? { waves: waveError } : errors}>
        <input name="waves" value={waves} onInput={(e) => setWaves(e.currentTarget.value)} />
      </Field>
      <Field label={t('ro.threshold')} name="failure_threshold_percent" errors={errors}>
        <input
          name="failure_threshold_percent"
          type="number"
          min={0}
          max={100}
          value={threshold}
          onInput={(e) => setThreshold(e.currentTarget.value)}
        />
      </Field>
      <FormError error={error} />
      <button type="submit">{t('ro.startButton')}</button>
    </form>
  );
}

function RolloutDetail(props: { id: string; onChanged: () => void }) {
  const t = useT();
  const [r, setR] = useState<Rollout | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = () =>
    api<Rollout>('GET', `/api/v1/rollouts/${props.id}`)
      .then((x) => {
        setR(x);
        setError(null);
      })
      .catch(setError);
  useEffect(() => {
    load();
    return onEvent((e) => {
      const f = fields(e);
      if (f.rollout_id !== props.id) return;
      if (e.type === 'rollout.progress') {
        setR((cur) => {
          if (!cur) return cur;
          const devices = cur.devices ?? [];
          const old = devices.find((d) => d.device_id === f.device_id);
          if (!old) {
            load();
            return cur;
          }
          const counts = { ...(cur.counts ?? {}) };
          if (old.state !== f.state) {
            counts[old.state] = Math.max(0, (counts[old.state] ?? 1) - 1);
            counts[f.state as DeviceState] = (counts[f.state as DeviceState] ?? 0) + 1;
          }
          return {
            ...cur,
            counts,
            devices: devices.map((d) =>
              d.device_id === f.device_id
                ? { ...d, state: f.state ?? d.state, percent: f.percent ?? d.percent, error: f.error ?? d.error }
                : d,
            ),
          };
        });
      } else if (e.type === 'rollout.changed') {
        load();
        props.onChanged();
      }
    });
  }, [props.id]);
  const act = async (action: 'pause' | 'resume' | 'cancel') => {
    try {
      setError(null);
      const next = await api<Rollout>('POST', `/api/v1/rollouts/${props.id}/${action}`);
      if (next?.id) setR((cur) => ({ ...cur, ...next }));
      else load();
      props.onChanged();
    } catch (err) {
      setError(err);
    }
  };
  if (!r) return <FormError error={error} />;
  const active = r.state === 'running' || r.state === 'paused';
  return (
    <div class="card" data-testid="rollout-detail" data-state={r.state}>
      <h3>
        {t('ro.rollout')} {r.version ?? r.image_id} · <span data-testid="rollout-state">{t(`ro.state.${r.state}` as MessageKey)}</span>
      </h3>
      <p>
        {t('ro.waveOf', { wave: r.current_wave + 1, count: r.waves.length, waves: r.waves.join(', ') })} ·{' '}
        {t('ro.thresholdIs', { n: r.failure_threshold_percent })}
      </p>
      {r.stop_reason && (
        <p class="warn" data-testid="stop-reason">
          {t('ro.stopReason', { reason: r.stop_reason })}
        </p>
      )}
      <ul class="counts" aria-label={t('ro.counts')}>
        {deviceStates.map((s) => (
          <li data-testid={`count-${s}`}>
            {t(`ro.dstate.${s}` as MessageKey)}: <strong>{r.counts?.[s] ?? 0}</strong>
          </li>
        ))}
      </ul>
      <div class="actions">
        {r.state === 'running' && (
          <button onClick={() => act('pause')} data-testid="pause">
            {t('ro.pause')}
          </button>
        )}
        {r.state === 'paused' && (
          <button onClick={() => act('resume')} data-testid="resume">
            {t('ro.resume')}
          </button>
        )}
        {active && (
          <button class="reject" onClick={() => act('cancel')} data-testid="cancel">
            {t('ro.cancel')}
          </button>
        )}
      </div>
      <FormError error={error} />
      <table tabIndex={0}>
        <thead>
          <tr>
            <th>{t('common.name')}</th>
            <th>{t('ro.wave')}</th>
            <th>{t('ro.deviceState')}</th>
            <th>{t('ro.progress')}</th>
            <th>{t('ro.fromVersion')}</th>
          </tr>
        </thead>
        <tbody>
          {(r.devices ?? []).map((d) => {
            const id = `p-${r.id}-${d.device_id}`;
            return (
              <tr data-testid="rollout-device" data-device={d.device_id} data-state={d.state}>
                <td id={`${id}-n`}>{d.name || d.device_id}</td>
                <td>{d.wave + 1}</td>
                <td>
                  <span class={d.state === 'failed' || d.state === 'rolled_back' ? 'off' : d.state === 'done' ? 'ok' : ''}>
                    {t(`ro.dstate.${d.state}` as MessageKey)}
                  </span>
                  {d.error && <small class="field-error"> {d.error}</small>}
                </td>
                <td>
                  <progress
                    max={100}
                    value={d.state === 'done' ? 100 : d.percent}
                    aria-labelledby={`${id}-n`}
                    aria-valuetext={`${d.state === 'done' ? 100 : d.percent} %`}
                    data-testid="device-progress"
                  />{' '}
                  <span>{d.state === 'done' ? 100 : d.percent} %</span>
                </td>
                <td>{d.from_version}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function RolloutsPage(props: { companyId: string | null }) {
  const t = useT();
  const lang = useStore(language);
  const [companies, setCompanies] = useState<Node[]>([]);
  const [sites, setSites] = useState<Node[]>([]);
  const [company, setCompany] = useState(props.companyId ?? '');
  const [rollouts, setRollouts] = useState<Rollout[]>([]);
  const [open, setOpen] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [images, setImages] = useState<FirmwareImage[]>([]);
  useEffect(() => {
    listImages().then(setImages).catch(() => undefined);
    Promise.all([listAll<Node>('/api/v1/companies'), listAll<Node>('/api/v1/sites')])
      .then(([c, s]) => {
        setCompanies(c);
        setSites(s);
        if (!company && c.length > 0) setCompany(c[0].id);
      })
      .catch(() => undefined);
  }, []);
  const load = () => {
    if (!company) return;
    listAll<Rollout>(`/api/v1/rollouts?company_id=${company}`)
      .then((r) => {
        setRollouts(r);
        setError(null);
      })
      .catch(setError);
  };
  useEffect(() => {
    load();
    return onEvent((e) => {
      if (e.type === 'rollout.changed') load();
    });
  }, [company]);
  const versionOf = (id: string) => {
    const i = images.find((x) => x.id === id);
    return i ? `${i.manifest.family} ${i.manifest.version}` : id;
  };
  return (
    <section>
      <h2>{t('ro.title')}</h2>
      {!props.companyId && (
        <label class="toolbar">
          {t('dash.company')}{' '}
          <select value={company} onChange={(e) => setCompany(e.currentTarget.value)} data-testid="rollout-company">
            {companies.map((c) => (
              <option value={c.id}>{c.name}</option>
            ))}
          </select>
        </label>
      )}
      <FormError error={error} />
      {rollouts.length === 0 ? (
        <p>{t('common.none')}</p>
      ) : (
        <ul class="plain">
          {rollouts.map((r) => (
            <li data-testid="rollout" data-id={r.id} data-state={r.state}>
              <button class="link" onClick={() => setOpen(open === r.id ? '' : r.id)}>
                {r.version ?? versionOf(r.image_id)}
              </button>{' '}
              · {t(`ro.state.${r.state}` as MessageKey)}
              {r.created_at ? ` · ${formatTime(lang, r.created_at * (r.created_at < 1e11 ? 1000 : 1))}` : ''}
            </li>
          ))}
        </ul>
      )}
      {open && <RolloutDetail id={open} onChanged={load} />}
      {company && (
        <StartForm
          companyId={company}
          sites={sites.filter((s) => s.company_id === company)}
          images={images}
          onStarted={(id) => {
            load();
            setOpen(id);
          }}
        />
      )}
    </section>
  );
}
