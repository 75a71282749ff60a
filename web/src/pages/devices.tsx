import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { eventsConnected, onEvent } from '../events';
import { type MessageKey, useT } from '../i18n';
import { selectedSite } from '../state';
import { useStore } from '../store';
import { Field, FormError, fieldErrors } from '../ui';
import { BulkEdit } from './bulk';

export interface Device {
  id: string;
  serial: string;
  name: string;
  role: string;
  site_id: string;
  online: boolean;
  sip: { registered?: boolean } | null;
  config: { state: string; desired_version: number; applied_version: number; error: string };
}

function ConfigEditor(props: { device: Device; onDone: () => void }) {
  const t = useT();
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    api('GET', `/api/v1/devices/${props.device.id}/config`)
      .then((c) => setText(JSON.stringify(c.desired ?? {}, null, 2)))
      .catch(setError);
  }, [props.device.id]);
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      setError({ fields: { config: t('devices.invalidJson') } });
      return;
    }
    try {
      setError(null);
      await api('PATCH', `/api/v1/devices/${props.device.id}/config`, body);
      setSaved(true);
      props.onDone();
    } catch (err) {
      setError(err);
    }
  };
  const errors = (error as { fields?: Record<string, string> })?.fields ?? fieldErrors(error);
  return (
    <form class="inline-form" onSubmit={save} data-testid="config-editor">
      <Field label={t('devices.configJson')} name="config" errors={errors}>
        <textarea rows={12} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </Field>
      {Object.entries(errors)
        .filter(([k]) => k !== 'config')
        .map(([k, v]) => (
          <small class="field-error" role="alert" data-field={k}>
            {k}: {v}
          </small>
        ))}
      <FormError error={error instanceof Error ? error : null} />
      <button type="submit">{t('common.save')}</button> {saved && <span>{t('devices.saved')}</span>}
    </form>
  );
}

export function DevicesPage() {
  const t = useT();
  const site = useStore(selectedSite);
  const live = useStore(eventsConnected);
  const [devices, setDevices] = useState<Device[]>([]);
  const [editing, setEditing] = useState('');
  const [selected, setSelected] = useState<string[]>([]);
  const load = async () => setDevices(await listAll<Device>(`/api/v1/devices${site ? `?site_id=${site.id}` : ''}`));
  useEffect(() => {
    load().catch(() => undefined);
    return onEvent((e) => {
      const id = e.data.id as string | undefined;
      if (e.type === 'device.online' || e.type === 'device.offline') {
        setDevices((list) => list.map((d) => (d.id === id ? { ...d, online: e.type === 'device.online' } : d)));
      } else if (e.type === 'sip.registration') {
        setDevices((list) =>
          list.map((d) => (d.id === e.data.username ? { ...d, sip: { ...(d.sip ?? {}), registered: !!e.data.registered } } : d)),
        );
      } else if (e.type.startsWith('device.') && e.type !== 'device.event') {
        load().catch(() => undefined);
      }
    });
  }, [site?.id]);
  return (
    <section>
      <h2>
        {t('devices.title')} {site && <small>· {site.name}</small>}{' '}
        <small class={live ? 'ok' : 'warn'} data-testid="live">
          {live ? t('devices.live') : t('devices.disconnected')}
        </small>
      </h2>
      {devices.length === 0 && <p>{t('common.none')}</p>}
      {/* Focusable: on a phone the table scrolls sideways on its own, also by keyboard. */}
      <table tabIndex={0} class="devices">
        <thead>
          <tr>
            <th>
              <input
                type="checkbox"
                aria-label={t('bulk.selectAll')}
                checked={devices.length > 0 && selected.length === devices.length}
                onChange={(e) => setSelected(e.currentTarget.checked ? devices.map((d) => d.id) : [])}
                data-testid="select-all"
              />
            </th>
            <th>{t('common.name')}</th>
            <th>{t('devices.serial')}</th>
            <th>{t('devices.role')}</th>
            <th>{t('devices.status')}</th>
            <th>{t('devices.sip')}</th>
            <th>{t('devices.configState')}</th>
            <th>
              <span class="sr-only">{t('devices.editConfig')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {devices.map((d) => (
            <>
              <tr key={d.id} data-testid="device-row" data-serial={d.serial} data-id={d.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={t('bulk.select', { name: d.name || d.serial })}
                    checked={selected.includes(d.id)}
                    onChange={(e) => setSelected(e.currentTarget.checked ? [...selected, d.id] : selected.filter((x) => x !== d.id))}
                    data-testid="select"
                  />
                </td>
                <td>{d.name || d.id}</td>
                <td>{d.serial}</td>
                <td>{t(`role.${d.role}` as MessageKey) || d.role}</td>
                <td>
                  <span class={`dot ${d.online ? 'ok' : 'off'}`} data-testid="online" data-online={String(d.online)}>
                    {d.online ? t('devices.online') : t('devices.offline')}
                  </span>
                </td>
                <td data-testid="sip" data-registered={String(!!d.sip?.registered)}>
                  {d.sip?.registered ? t('devices.registered') : t('devices.unregistered')}
                </td>
                <td>{d.config.state}</td>
                <td>
                  <button class="link" onClick={() => setEditing(editing === d.id ? '' : d.id)}>
                    {t('devices.editConfig')}
                  </button>
                </td>
              </tr>
              {editing === d.id && (
                <tr>
                  <td colSpan={8}>
                    <ConfigEditor device={d} onDone={() => load().catch(() => undefined)} />
                  </td>
                </tr>
              )}
            </>
          ))}
        </tbody>
      </table>
      {selected.length > 0 && <BulkEdit devices={devices} selected={selected} onDone={() => load().catch(() => undefined)} />}
    </section>
  );
}
