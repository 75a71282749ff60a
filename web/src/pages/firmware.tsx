import { useEffect, useState } from 'preact/hooks';
import { api, upload } from '../api';
import { formatTime, language, useT } from '../i18n';
import { useStore } from '../store';
import { Field, FormError, fieldErrors } from '../ui';

export interface FirmwareImage {
  id: string;
  manifest: { family: string; version: string; sha256: string; size: number; security_critical: boolean; models: string[] };
  release_notes: string;
  created_at: number;
}

export async function listImages(): Promise<FirmwareImage[]> {
  const items: FirmwareImage[] = [];
  let cursor = '';
  for (let i = 0; i < 20; i++) {
    const page = await api<{ items: FirmwareImage[]; next_cursor?: string | null; next?: string | null }>(
      'GET',
      `/api/v1/firmware-images?limit=200${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`,
    );
    items.push(...page.items);
    cursor = page.next_cursor ?? page.next ?? '';
    if (!cursor) break;
  }
  return items;
}

function UploadForm(props: { onUploaded: () => void }) {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const [family, setFamily] = useState('MX');
  const [version, setVersion] = useState('');
  const [critical, setCritical] = useState(false);
  const [notes, setNotes] = useState('');
  const [models, setModels] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const errors = fieldErrors(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone('');
    if (!file) {
      setError({ fields: { body: t('fw.noFile') } });
      return;
    }
    const q = new URLSearchParams({ family, version, security_critical: String(critical) });
    const list = models.split(',').map((m) => m.trim()).filter(Boolean).join(',');
    if (list) q.set('models', list);
    if (notes.trim()) q.set('release_notes', notes);
    try {
      setProgress(0);
      const image = await upload<FirmwareImage>('POST', `/api/v1/firmware-images?${q.toString().replace(/\+/g, '%20')}`, file, setProgress);
      setDone(image?.manifest?.version ?? version);
      setVersion('');
      setNotes('');
      props.onUploaded();
    } catch (err) {
      setError(err);
    } finally {
      setProgress(null);
    }
  };
  const all = { ...errors, ...((error as { fields?: Record<string, string> } | null)?.fields ?? {}) };
  return (
    <form class="inline-form" onSubmit={submit} data-testid="firmware-upload">
      <h3>{t('fw.upload')}</h3>
      <Field label={t('fw.file')} name="body" errors={all}>
        <input name="file" type="file" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      </Field>
      <Field label={t('fw.family')} name="family" errors={all}>
        <select name="family" value={family} onChange={(e) => setFamily(e.currentTarget.value)}>
          <option value="MX">MX</option>
          <option value="BF">BF</option>
        </select>
      </Field>
      <Field label={t('fw.version')} name="version" errors={all}>
        <input name="version" value={version} placeholder="1.2.0" onInput={(e) => setVersion(e.currentTarget.value)} />
      </Field>
      <Field label={t('fw.models')} name="models" errors={all}>
        <input name="models" value={models} placeholder="ID5 TD, ID8 TD" onInput={(e) => setModels(e.currentTarget.value)} />
      </Field>
      <label class="check">
        <input type="checkbox" name="security_critical" checked={critical} onChange={(e) => setCritical(e.currentTarget.checked)} /> {t('fw.securityCritical')}
      </label>
      <Field label={t('fw.releaseNotes')} name="release_notes" errors={all}>
        <textarea name="release_notes" rows={3} value={notes} onInput={(e) => setNotes(e.currentTarget.value)} />
      </Field>
      {progress !== null && (
        <label class="field">
          <span>{t('fw.uploading')}</span>
          <progress max={100} value={Math.round(progress * 100)} data-testid="upload-progress" />
        </label>
      )}
      <FormError error={error instanceof Error ? error : null} />
      <button type="submit" disabled={progress !== null}>
        {t('fw.uploadButton')}
      </button>{' '}
      {done && (
        <span role="status" data-testid="upload-done">
          {t('fw.uploaded', { version: done })}
        </span>
      )}
    </form>
  );
}

function size(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

export function FirmwarePage(props: { role: string }) {
  const t = useT();
  const lang = useStore(language);
  const [images, setImages] = useState<FirmwareImage[]>([]);
  const [error, setError] = useState<unknown>(null);
  const load = () =>
    listImages()
      .then((i) => {
        setImages(i);
        setError(null);
      })
      .catch(setError);
  useEffect(() => {
    load();
  }, []);
  return (
    <section>
      <h2>{t('fw.title')}</h2>
      <FormError error={error} />
      {images.length === 0 ? (
        <p>{t('common.none')}</p>
      ) : (
        <table tabIndex={0} data-testid="firmware-images">
          <thead>
            <tr>
              <th>{t('fw.family')}</th>
              <th>{t('fw.version')}</th>
              <th>{t('fw.models')}</th>
              <th>{t('fw.securityCritical')}</th>
              <th>{t('fw.size')}</th>
              <th>{t('fw.created')}</th>
              <th>{t('fw.releaseNotes')}</th>
            </tr>
          </thead>
          <tbody>
            {images.map((i) => (
              <tr data-testid="firmware-image" data-version={i.manifest.version}>
                <td>{i.manifest.family}</td>
                <td>{i.manifest.version}</td>
                <td>{i.manifest.models.length ? i.manifest.models.join(', ') : t('fw.allModels')}</td>
                <td>{i.manifest.security_critical ? t('fw.yes') : t('fw.no')}</td>
                <td>{size(i.manifest.size)}</td>
                <td>{formatTime(lang, i.created_at * (i.created_at < 1e11 ? 1000 : 1))}</td>
                <td class="notes">{i.release_notes}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.role === 'platform-admin' && <UploadForm onUploaded={load} />}
    </section>
  );
}
