// D4 bulk edit: one setting on many devices, with each device's result.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { useT } from '../i18n';
import { Field, FormError, fieldErrors } from '../ui';
import type { Device } from './devices';

interface Result {
  id: string;
  ok: boolean;
  version?: number;
  status?: number;
  detail?: string;
  field?: string;
}

// Settings a device config has (src/devices/config.cpp); offered as suggestions, any path works.
const paths = [
  'name',
  'language',
  'auto_answer',
  'audio.speaker_volume',
  'audio.microphone_gain',
  'audio.preset',
  'audio.noise_suppression',
  'screen.brightness',
  'screen.timeout_s',
  'door_openers',
  'call_buttons',
];

// "audio.speaker_volume" + 40 -> {"audio": {"speaker_volume": 40}} (a JSON merge patch).
export function patchFor(path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.').filter(Boolean);
  let out: unknown = value;
  for (const k of keys.reverse()) out = { [k]: out };
  return out as Record<string, unknown>;
}

// The value as JSON when it is JSON (40, true, [..], "x"), otherwise as text.
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function BulkEdit(props: { devices: Device[]; selected: string[]; onDone: () => void }) {
  const t = useT();
  const [path, setPath] = useState('audio.speaker_volume');
  const [value, setValue] = useState('');
  const [results, setResults] = useState<Result[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const errors = fieldErrors(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setResults(null);
    if (!path.trim()) {
      setError({ fields: { path: t('bulk.pathRequired') } });
      return;
    }
    setBusy(true);
    try {
      const r = await api<{ results: Result[] }>('POST', '/api/v1/devices/bulk-config', {
        device_ids: props.selected,
        config: patchFor(path.trim(), parseValue(value)),
      });
      setResults(r.results);
      props.onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const local = (error as { fields?: Record<string, string> } | null)?.fields ?? {};
  const all = { ...errors, ...local };
  const name = (id: string) => {
    const d = props.devices.find((x) => x.id === id);
    return d ? d.name || d.serial : id;
  };
  const ok = results?.filter((r) => r.ok).length ?? 0;
  return (
    <form class="card" onSubmit={submit} data-testid="bulk-edit">
      <h3>{t('bulk.title', { n: props.selected.length })}</h3>
      <div class="row-fields">
        <Field label={t('bulk.path')} name="path" errors={all}>
          <input name="path" list="bulk-paths" value={path} onInput={(e) => setPath(e.currentTarget.value)} />
        </Field>
        <datalist id="bulk-paths">
          {paths.map((p) => (
            <option value={p} />
          ))}
        </datalist>
        <Field label={t('bulk.value')} name="value" errors={all}>
          <input name="value" value={value} placeholder="40" onInput={(e) => setValue(e.currentTarget.value)} />
        </Field>
      </div>
      <p class="muted">{t('bulk.hint')}</p>
      {Object.entries(errors)
        .filter(([k]) => k !== 'path' && k !== 'value')
        .map(([k, v]) => (
          <small class="field-error" role="alert" data-field={k}>
            {k}: {v}
          </small>
        ))}
      <FormError error={error instanceof Error ? error : null} />
      <button type="submit" disabled={busy || props.selected.length === 0} data-testid="bulk-apply">
        {t('bulk.apply')}
      </button>
      {results && (
        <div data-testid="bulk-results">
          <p role="status">{t('bulk.summary', { ok, failed: results.length - ok })}</p>
          <ul class="plain">
            {results.map((r) => (
              <li data-testid="bulk-result" data-id={r.id} data-ok={String(r.ok)} class={r.ok ? 'ok' : 'off'}>
                {name(r.id)}: {r.ok ? t('bulk.okVersion', { version: r.version ?? '' }) : t('bulk.failed', { detail: `${r.field ? `${r.field}: ` : ''}${r.detail ?? r.status ?? ''}` })}
              </li>
            ))}
          </ul>
        </div>
      )}
    </form>
  );
}
