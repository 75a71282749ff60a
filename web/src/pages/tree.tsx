import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { useT } from '../i18n';
import { type Node, selectSite, selectedSite } from '../state';
import { useStore } from '../store';
import { Field, FormError, fieldErrors } from '../ui';
import { NodeSettings } from './settings';

// "vip:#e0115f, north:#00aa00" -> [{name, color}]
function parseLabels(text: string): { name: string; color: string }[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [name, color] = s.split(':');
      return { name: name.trim(), color: (color ?? '#888888').trim() };
    });
}

function Labels(props: { node: Node }) {
  return (
    <>
      {props.node.labels.map((l) => (
        <span class="label" style={{ background: l.color }}>
          {l.name}
        </span>
      ))}
    </>
  );
}

function CreateForm(props: { kind: 'company' | 'project' | 'site'; parent?: Node; onCreated: () => void }) {
  const t = useT();
  const [name, setName] = useState('');
  const [labels, setLabels] = useState('');
  const [zone, setZone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = { name, labels: parseLabels(labels) };
    if (props.kind === 'project') body.company_id = props.parent?.id;
    if (props.kind === 'site') {
      body.project_id = props.parent?.id;
      body.time_zone = zone;
    }
    const path = props.kind === 'company' ? 'companies' : props.kind === 'project' ? 'projects' : 'sites';
    try {
      await api('POST', `/api/v1/${path}`, body);
      setName('');
      setLabels('');
      props.onCreated();
    } catch (err) {
      setError(err);
    }
  };
  const errors = fieldErrors(error);
  const title = props.kind === 'company' ? t('tree.newCompany') : props.kind === 'project' ? t('tree.newProject') : t('tree.newSite');
  return (
    <form class="inline-form" onSubmit={submit} data-testid={`create-${props.kind}`}>
      <strong>{title}</strong>
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label={t('tree.labels')} name="labels" errors={errors}>
        <input name="labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} />
      </Field>
      {props.kind === 'site' && (
        <Field label={t('tree.timeZone')} name="time_zone" errors={errors}>
          <input name="time_zone" value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
        </Field>
      )}
      <FormError error={error} />
      <button type="submit">{t('common.create')}</button>
    </form>
  );
}

export function TreePage() {
  const t = useT();
  const site = useStore(selectedSite);
  const [companies, setCompanies] = useState<Node[]>([]);
  const [projects, setProjects] = useState<Node[]>([]);
  const [sites, setSites] = useState<Node[]>([]);
  const [filter, setFilter] = useState('');
  const [open, setOpen] = useState<string>('');
  const [settingsOf, setSettingsOf] = useState<string>('');
  const load = async () => {
    const [c, p, s] = await Promise.all([
      listAll<Node>('/api/v1/companies'),
      listAll<Node>('/api/v1/projects'),
      listAll<Node>('/api/v1/sites'),
    ]);
    setCompanies(c);
    setProjects(p);
    setSites(s);
  };
  useEffect(() => {
    load().catch(() => undefined);
  }, []);
  const gear = (n: Node) => (
    <button
      class="link"
      aria-expanded={settingsOf === n.id}
      onClick={() => setSettingsOf(settingsOf === n.id ? '' : n.id)}
      aria-label={t('set.open', { name: n.name })}
      data-testid="node-settings"
    >
      {t('set.short')}
    </button>
  );
  const nameOf = (id: string) => [...companies, ...projects, ...sites].find((n) => n.id === id)?.name;
  const f = filter.trim().toLowerCase();
  const matches = (n: Node) =>
    !f || n.name.toLowerCase().includes(f) || n.labels.some((l) => l.name.toLowerCase().includes(f));
  const visibleSites = (projectId: string) => sites.filter((s) => s.project_id === projectId);
  const projectShown = (p: Node) => matches(p) || visibleSites(p.id).some(matches);
  const companyShown = (c: Node) => matches(c) || projects.filter((p) => p.company_id === c.id).some(projectShown);
  return (
    <section>
      <h2>{t('tree.companies')}</h2>
      <input class="filter" placeholder={t('tree.filter')} aria-label={t('tree.filter')} value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      <ul class="tree">
        {companies.filter(companyShown).map((c) => (
          <li key={c.id}>
            <button class="link" onClick={() => setOpen(open === c.id ? '' : c.id)} data-testid="company">
              {c.name}
            </button>{' '}
            <Labels node={c} /> {gear(c)}
            {settingsOf === c.id && <NodeSettings kind="company" node={c} onSaved={load} nameOf={nameOf} />}
            <ul>
              {projects
                .filter((p) => p.company_id === c.id && projectShown(p))
                .map((p) => (
                  <li key={p.id}>
                    <button class="link" onClick={() => setOpen(open === p.id ? '' : p.id)} data-testid="project">
                      {p.name}
                    </button>{' '}
                    <Labels node={p} /> {gear(p)}
                    {settingsOf === p.id && <NodeSettings kind="project" node={p} onSaved={load} nameOf={nameOf} />}
                    <ul>
                      {visibleSites(p.id)
                        .filter((s) => matches(s) || matches(p) || matches(c))
                        .map((s) => (
                          <li key={s.id}>
                            <button
                              class={`link${site?.id === s.id ? ' selected' : ''}`}
                              onClick={() => selectSite(s)}
                              data-testid="site"
                            >
                              {s.name}
                            </button>{' '}
                            <small>{s.time_zone}</small> <Labels node={s} /> {gear(s)}
                            {settingsOf === s.id && <NodeSettings kind="site" node={s} onSaved={load} nameOf={nameOf} />}
                          </li>
                        ))}
                    </ul>
                    {open === p.id && <CreateForm kind="site" parent={p} onCreated={load} />}
                  </li>
                ))}
            </ul>
            {open === c.id && <CreateForm kind="project" parent={c} onCreated={load} />}
          </li>
        ))}
      </ul>
      <CreateForm kind="company" onCreated={load} />
    </section>
  );
}
