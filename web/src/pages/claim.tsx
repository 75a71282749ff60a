import QRCode from 'qrcode';
import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { formatTime, language, type MessageKey, useT } from '../i18n';
import { selectedSite } from '../state';
import { useStore } from '../store';
import { Field, FormError, fieldErrors } from '../ui';

interface ClaimCode {
  id: string;
  role: string;
  expires_at: number;
  used_at: number | null;
  device_id: string | null;
}

const roles = ['door-station', 'receiving-station', 'emergency-call-point'];

export function ClaimPage() {
  const t = useT();
  const lang = useStore(language);
  const site = useStore(selectedSite);
  const [role, setRole] = useState(roles[0]);
  const [config, setConfig] = useState('{}');
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ code: string; link: string; qr: string } | null>(null);
  const [codes, setCodes] = useState<ClaimCode[]>([]);
  const load = async () => {
    if (site) setCodes(await listAll<ClaimCode>(`/api/v1/claim-codes?site_id=${site.id}`));
  };
  useEffect(() => {
    load().catch(() => undefined);
  }, [site?.id]);
  if (!site) return <p>{t('tree.selectSite')}</p>;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(config || '{}');
    } catch {
      setError({ fields: { config: t('devices.invalidJson') } });
      return;
    }
    try {
      const r = await api<{ code: string; link: string }>('POST', '/api/v1/claim-codes', { site_id: site.id, role, config: parsed });
      const qr = await QRCode.toString(r.link || r.code, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
      setCreated({ code: r.code, link: r.link, qr });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const errors = (error as { fields?: Record<string, string> })?.fields ?? fieldErrors(error);
  return (
    <section>
      <h2>
        {t('claim.title')} <small>· {site.name}</small>
      </h2>
      <form class="inline-form" onSubmit={submit} data-testid="claim-form">
        <Field label={t('claim.role')} name="role" errors={errors}>
          <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            {roles.map((r) => (
              <option value={r}>{t(`role.${r}` as MessageKey)}</option>
            ))}
          </select>
        </Field>
        <Field label={t('claim.config')} name="config" errors={errors}>
          <textarea name="config" rows={4} value={config} onInput={(e) => setConfig(e.currentTarget.value)} />
        </Field>
        <FormError error={error instanceof Error ? error : null} />
        <button type="submit">{t('claim.create')}</button>
      </form>
      {created && (
        <div class="card claim-result">
          <div class="qr" data-testid="claim-qr" dangerouslySetInnerHTML={{ __html: created.qr }} />
          <div>
            <p>
              {t('claim.code')}: <code data-testid="claim-code">{created.code}</code>
            </p>
            <p>
              {t('claim.link')}: <code data-testid="claim-link">{created.link}</code>
            </p>
          </div>
        </div>
      )}
      {/* Focusable: on a phone the table scrolls sideways on its own, also by keyboard. */}
      <table tabIndex={0}>
        <thead>
          <tr>
            <th>{t('claim.role')}</th>
            <th>{t('claim.expires')}</th>
            <th>{t('claim.used')}</th>
          </tr>
        </thead>
        <tbody>
          {codes.map((c) => (
            <tr key={c.id}>
              <td>{t(`role.${c.role}` as MessageKey)}</td>
              <td>{formatTime(lang, c.expires_at * 1000)}</td>
              <td>{c.used_at ? `${formatTime(lang, c.used_at * 1000)} (${c.device_id})` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
