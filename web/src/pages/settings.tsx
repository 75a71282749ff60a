// Settings of one company, project or site: attributes, logo, update policy and alert settings.
import { useEffect, useState } from 'preact/hooks';
import { api, blobUrl, upload } from '../api';
import { type MessageKey, useT } from '../i18n';
import type { Node } from '../state';
import { Field, FormError, fieldErrors } from '../ui';

type Kind = 'company' | 'project' | 'site';
const collections: Record<Kind, string> = { company: 'companies', project: 'projects', site: 'sites' };

function Saved(props: { when: boolean; testid: string }) {
  const t = useT();
  return props.when ? (
    <span role="status" class="ok" data-testid={props.testid}>
      {t('devices.saved')}
    </span>
  ) : null;
}

function Attributes(props: { kind: Kind; node: Node; onSaved: () => void }) {
  const t = useT();
  const [rows, setRows] = useState<[string, string][]>(Object.entries(props.node.attributes ?? {}));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const errors = fieldErrors(error);
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    setError(null);
    const attributes: Record<string, string> = {};
    for (const [k, v] of rows) if (k.trim()) attributes[k.trim()] = v;
    try {
      await api('PATCH', `/api/v1/${collections[props.kind]}/${props.node.id}`, { attributes });
      setSaved(true);
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  const set = (i: number, part: 0 | 1, value: string) =>
    setRows(rows.map((r, j) => (j === i ? ((part === 0 ? [value, r[1]] : [r[0], value]) as [string, string]) : r)));
  const otherErrors = Object.entries(errors).filter(([k]) => k.startsWith('attributes'));
  return (
    <form class="inline-form" onSubmit={save} data-testid="attributes-form">
      <h4>{t('tree.attributes')}</h4>
      {rows.map(([k, v], i) => (
        <div class="member" data-testid="attribute-row">
          <input aria-label={t('set.key')} name={`key-${i}`} value={k} onInput={(e) => set(i, 0, e.currentTarget.value)} />
          <input aria-label={t('set.value')} name={`value-${i}`} value={v} onInput={(e) => set(i, 1, e.currentTarget.value)} />
          <button type="button" class="link" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
            {t('common.delete')}
          </button>
          {errors[`attributes.${k}`] && (
            <small class="field-error" role="alert" data-field={`attributes.${k}`}>
              {errors[`attributes.${k}`]}
            </small>
          )}
        </div>
      ))}
      {otherErrors
        .filter(([f]) => !rows.some(([k]) => f === `attributes.${k}`))
        .map(([f, reason]) => (
          <small class="field-error" role="alert" data-field={f}>
            {f}: {reason}
          </small>
        ))}
      <div class="actions">
        <button type="button" class="secondary" onClick={() => setRows([...rows, ['', '']])} data-testid="add-attribute">
          {t('set.addAttribute')}
        </button>
        <button type="submit">{t('common.save')}</button> <Saved when={saved} testid="attributes-saved" />
      </div>
      <FormError error={error} />
    </form>
  );
}

function Logo(props: { node: Node }) {
  const t = useT();
  const [url, setUrl] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [error, setError] = useState<unknown>(null);
  const show = () =>
    blobUrl(`/api/v1/companies/${props.node.id}/logo`)
      .then((u) =>
        setUrl((old) => {
          if (old) URL.revokeObjectURL(old);
          return u;
        }),
      )
      .catch(() => setUrl(''));
  useEffect(() => {
    show();
  }, [props.node.id]);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    try {
      await upload('PUT', `/api/v1/companies/${props.node.id}/logo`, file);
      await show();
    } catch (err) {
      setError(err);
    }
  };
  const errors = fieldErrors(error);
  const bodyError = errors.body ?? errors.logo ?? Object.values(errors)[0];
  return (
    <form class="inline-form" onSubmit={submit} data-testid="logo-form">
      <h4>{t('set.logo')}</h4>
      {url ? <img class="logo" src={url} alt={t('set.logoOf', { name: props.node.name })} data-testid="logo" /> : <p>{t('set.noLogo')}</p>}
      <Field label={t('set.logoFile')} name="body" errors={bodyError ? { body: bodyError } : {}}>
        <input type="file" name="logo" accept="image/png,image/jpeg,image/svg+xml" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      </Field>
      <FormError error={error} />
      <button type="submit" disabled={!file}>
        {t('set.uploadLogo')}
      </button>
    </form>
  );
}

const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

interface Policy {
  scope_id: string;
  mode: 'all' | 'security_only' | 'manual';
  window: { weekdays: string[]; start: string; end: string };
  inherited_from: string;
}

function UpdatePolicy(props: { node: Node; nameOf?: (id: string) => string | undefined }) {
  const t = useT();
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    api<Policy>('GET', `/api/v1/update-policies/${props.node.id}`)
      .then((p) => setPolicy({ ...p, window: p.window ?? { weekdays: [], start: '', end: '' } }))
      .catch(setError);
  }, [props.node.id]);
  if (!policy) return <FormError error={error} />;
  const errors = fieldErrors(error);
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    setError(null);
    try {
      const p = await api<Policy>('PUT', `/api/v1/update-policies/${props.node.id}`, {
        mode: policy.mode,
        // No weekday: no window at all, updates at any time.
        window: policy.window.weekdays.length ? policy.window : null,
      });
      if (p) setPolicy({ ...p, window: p.window ?? policy.window });
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  const w = policy.window;
  const setWindow = (patch: Partial<Policy['window']>) => setPolicy({ ...policy, window: { ...w, ...patch } });
  return (
    <form class="inline-form" onSubmit={save} data-testid="policy-form">
      <h4>{t('set.policy')}</h4>
      {policy.inherited_from && policy.inherited_from !== props.node.id && (
        <p class="muted" data-testid="policy-inherited">
          {t('set.inherited', { scope: props.nameOf?.(policy.inherited_from) ?? policy.inherited_from })}
        </p>
      )}
      <Field label={t('set.mode')} name="mode" errors={errors}>
        <select name="mode" value={policy.mode} onChange={(e) => setPolicy({ ...policy, mode: e.currentTarget.value as Policy['mode'] })}>
          {(['all', 'security_only', 'manual'] as const).map((m) => (
            <option value={m}>{t(`set.mode.${m}` as MessageKey)}</option>
          ))}
        </select>
      </Field>
      <fieldset>
        <legend>{t('set.window')}</legend>
        <div class="weekdays">
          {weekdays.map((d) => (
            <label class="check">
              <input
                type="checkbox"
                name={`window-${d}`}
                checked={w.weekdays.includes(d)}
                onChange={(e) =>
                  setWindow({ weekdays: e.currentTarget.checked ? weekdays.filter((x) => x === d || w.weekdays.includes(x)) : w.weekdays.filter((x) => x !== d) })
                }
              />{' '}
              {t(`day.${d}` as MessageKey)}
            </label>
          ))}
        </div>
        {errors['window.weekdays'] && (
          <small class="field-error" role="alert" data-field="window.weekdays">
            {errors['window.weekdays']}
          </small>
        )}
        <Field label={t('set.start')} name="window.start" errors={errors}>
          <input name="window.start" value={w.start} placeholder="22:00" onInput={(e) => setWindow({ start: e.currentTarget.value })} />
        </Field>
        <Field label={t('set.end')} name="window.end" errors={errors}>
          <input name="window.end" value={w.end} placeholder="04:00" onInput={(e) => setWindow({ end: e.currentTarget.value })} />
        </Field>
        <p class="muted">{t('set.windowHint')}</p>
      </fieldset>
      <FormError error={error} />
      <button type="submit">{t('common.save')}</button> <Saved when={saved} testid="policy-saved" />
    </form>
  );
}

interface AlertSettings {
  recipients: string[];
  offline_after_minutes: number;
  kinds: Record<string, boolean>;
}

const alertKinds = ['offline', 'online', 'firmware', 'platform'] as const;

function Alerts(props: { node: Node }) {
  const t = useT();
  const [settings, setSettings] = useState<AlertSettings | null>(null);
  const [recipients, setRecipients] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    api<AlertSettings>('GET', `/api/v1/companies/${props.node.id}/alert-settings`)
      .then((s) => {
        setSettings({ ...s, kinds: s.kinds ?? {} });
        setRecipients((s.recipients ?? []).join('\n'));
      })
      .catch(setError);
  }, [props.node.id]);
  if (!settings) return <FormError error={error} />;
  const errors = fieldErrors(error);
  const list = recipients
    .split(/[\n,]/)
    .map((r) => r.trim())
    .filter(Boolean);
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    setError(null);
    try {
      const s = await api<AlertSettings>('PUT', `/api/v1/companies/${props.node.id}/alert-settings`, {
        recipients: list,
        offline_after_minutes: settings.offline_after_minutes,
        kinds: settings.kinds,
      });
      if (s) setSettings({ ...s, kinds: s.kinds ?? settings.kinds });
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  const recipientErrors = Object.entries(errors)
    .filter(([k]) => k.startsWith('recipients'))
    .map(([k, v]) => {
      const i = /\[(\d+)\]/.exec(k);
      return i ? `${list[Number(i[1])] ?? k}: ${v}` : v;
    });
  return (
    <form class="inline-form" onSubmit={save} data-testid="alerts-form">
      <h4>{t('set.alerts')}</h4>
      <Field label={t('set.recipients')} name="recipients" errors={recipientErrors.length ? { recipients: recipientErrors.join('; ') } : {}}>
        <textarea name="recipients" rows={3} value={recipients} onInput={(e) => setRecipients(e.currentTarget.value)} />
      </Field>
      <Field label={t('set.offlineAfter')} name="offline_after_minutes" errors={errors}>
        <input
          name="offline_after_minutes"
          type="number"
          min={1}
          value={settings.offline_after_minutes}
          onInput={(e) => setSettings({ ...settings, offline_after_minutes: Number(e.currentTarget.value) })}
        />
      </Field>
      <fieldset>
        <legend>{t('set.kinds')}</legend>
        {alertKinds.map((k) => (
          <label class="check">
            <input
              type="checkbox"
              name={`kind-${k}`}
              checked={!!settings.kinds[k]}
              onChange={(e) => setSettings({ ...settings, kinds: { ...settings.kinds, [k]: e.currentTarget.checked } })}
            />{' '}
            {t(`set.kind.${k}` as MessageKey)}
          </label>
        ))}
      </fieldset>
      <FormError error={error} />
      <button type="submit">{t('common.save')}</button> <Saved when={saved} testid="alerts-saved" />
    </form>
  );
}

export function NodeSettings(props: { kind: Kind; node: Node; onSaved: () => void; nameOf?: (id: string) => string | undefined }) {
  const t = useT();
  return (
    <div class="card settings" data-testid={`settings-${props.kind}`}>
      <h3>{t('set.title', { name: props.node.name })}</h3>
      <Attributes kind={props.kind} node={props.node} onSaved={props.onSaved} />
      {props.kind === 'company' && <Logo node={props.node} />}
      <UpdatePolicy node={props.node} nameOf={props.nameOf} />
      {props.kind === 'company' && <Alerts node={props.node} />}
    </div>
  );
}
