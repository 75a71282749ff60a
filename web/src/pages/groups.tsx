import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { type MessageKey, useT } from '../i18n';
import { selectedSite } from '../state';
import { useStore } from '../store';
import { Field, FormError, fieldErrors } from '../ui';
import type { Device } from './devices';
import { RulesPanel, type Target } from './rules';

interface Member {
  kind: 'device' | 'user' | 'ring_group';
  id: string;
}
interface Group {
  id: string;
  name: string;
  site_id: string;
  ring_seconds: number;
  members: Member[];
}
interface User {
  id: string;
  username: string;
}

function GroupEditor(props: { group?: Group; siteId: string; devices: Device[]; users: User[]; onSaved: () => void }) {
  const t = useT();
  const [name, setName] = useState(props.group?.name ?? '');
  const [seconds, setSeconds] = useState(String(props.group?.ring_seconds ?? 20));
  const [members, setMembers] = useState<Member[]>(props.group?.members ?? []);
  const [error, setError] = useState<unknown>(null);
  const errors = fieldErrors(error);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body = { name, ring_seconds: Number(seconds), members };
    try {
      if (props.group) await api('PATCH', `/api/v1/ring-groups/${props.group.id}`, body);
      else await api('POST', '/api/v1/ring-groups', { ...body, site_id: props.siteId });
      if (!props.group) {
        setName('');
        setMembers([]);
      }
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  const options = (kind: Member['kind']) =>
    kind === 'device'
      ? props.devices.map((d) => ({ id: d.id, label: `${d.name || d.serial} (${d.role})` }))
      : props.users.map((u) => ({ id: u.id, label: u.username }));
  return (
    <form class="inline-form" onSubmit={save} data-testid="group-editor">
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label={t('groups.ringSeconds')} name="ring_seconds" errors={errors}>
        <input name="ring_seconds" type="number" value={seconds} onInput={(e) => setSeconds(e.currentTarget.value)} />
      </Field>
      <fieldset>
        <legend>{t('groups.members')}</legend>
        {members.map((m, i) => (
          <div class="member">
            <select
              aria-label={t('devices.role')}
              value={m.kind}
              onChange={(e) => setMembers(members.map((x, j) => (j === i ? { kind: e.currentTarget.value as Member['kind'], id: '' } : x)))}
            >
              <option value="device">{t('groups.kind.device')}</option>
              <option value="user">{t('groups.kind.user')}</option>
            </select>
            <select
              aria-label={t('common.name')}
              value={m.id}
              onChange={(e) => setMembers(members.map((x, j) => (j === i ? { ...x, id: e.currentTarget.value } : x)))}
            >
              <option value="">{t('common.select')}</option>
              {options(m.kind).map((o) => (
                <option value={o.id}>{o.label}</option>
              ))}
            </select>
            <button type="button" class="link" onClick={() => setMembers(members.filter((_, j) => j !== i))}>
              {t('common.delete')}
            </button>
            {errors[`members[${i}].id`] && <small class="field-error">{errors[`members[${i}].id`]}</small>}
          </div>
        ))}
        <button type="button" onClick={() => setMembers([...members, { kind: 'device', id: '' }])}>
          {t('groups.addMember')}
        </button>
        {errors.members && (
          <small class="field-error" role="alert" data-field="members">
            {errors.members}
          </small>
        )}
      </fieldset>
      <FormError error={error} />
      <button type="submit">{props.group ? t('common.save') : t('common.create')}</button>
    </form>
  );
}

export function GroupsPage() {
  const t = useT();
  const site = useStore(selectedSite);
  const [groups, setGroups] = useState<Group[]>([]);
  const [devices, setDevices] = useState<Device[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [editing, setEditing] = useState('');
  const [rulesOf, setRulesOf] = useState('');
  const load = async () => {
    if (!site) return;
    const [g, d, u] = await Promise.all([
      listAll<Group>(`/api/v1/ring-groups?site_id=${site.id}`),
      listAll<Device>(`/api/v1/devices?site_id=${site.id}`),
      listAll<User>(`/api/v1/users?company_id=${site.company_id ?? ''}`).catch(() => [] as User[]),
    ]);
    setGroups(g);
    setDevices(d);
    setUsers(u);
  };
  useEffect(() => {
    load().catch(() => undefined);
  }, [site?.id]);
  if (!site) return <p>{t('tree.selectSite')}</p>;
  const targets: Target[] = [
    ...groups.map((g) => ({ kind: 'ring_group' as const, id: g.id, label: g.name })),
    ...devices.map((d) => ({ kind: 'device' as const, id: d.id, label: d.name || d.serial })),
    ...users.map((u) => ({ kind: 'user' as const, id: u.id, label: u.username })),
  ];
  const memberName = (m: Member) =>
    m.kind === 'device'
      ? devices.find((d) => d.id === m.id)?.serial ?? m.id
      : m.kind === 'user'
        ? users.find((u) => u.id === m.id)?.username ?? m.id
        : groups.find((g) => g.id === m.id)?.name ?? m.id;
  return (
    <section>
      <h2>
        {t('groups.title')} <small>· {site.name}</small>
      </h2>
      <ul class="groups">
        {groups.map((g) => (
          <li key={g.id} data-testid="group">
            <strong>{g.name}</strong> ({g.ring_seconds} s):{' '}
            {g.members.map((m) => `${t(`groups.kind.${m.kind}` as MessageKey)} ${memberName(m)}`).join(', ')}{' '}
            <button class="link" onClick={() => setEditing(editing === g.id ? '' : g.id)}>
              {t('groups.edit')}
            </button>{' '}
            <button class="link" onClick={() => setRulesOf(rulesOf === g.id ? '' : g.id)} data-testid="rules-toggle">
              {t('rules.title')}
            </button>
            {editing === g.id && <GroupEditor group={g} siteId={site.id} devices={devices} users={users} onSaved={load} />}
            {rulesOf === g.id && <RulesPanel groupId={g.id} zone={site.time_zone || 'UTC'} targets={targets} />}
          </li>
        ))}
      </ul>
      <h3>{t('groups.new')}</h3>
      <GroupEditor siteId={site.id} devices={devices} users={users} onSaved={load} />
    </section>
  );
}
