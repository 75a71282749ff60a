// Forwarding rules of a ring group: a week view (7 days x 24 hours in the site's time zone) of
// which rule decides when, and the form to create or change a rule.
import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api';
import { type MessageKey, useT } from '../i18n';
import { Field, FormError, fieldErrors } from '../ui';

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

interface Step {
  kind: 'ring_group' | 'device' | 'user';
  id: string;
  ring_seconds: number;
}

export interface Rule {
  id: string;
  name: string;
  priority: number;
  enabled: boolean;
  weekdays: string[];
  date_from: string | null;
  date_to: string | null;
  time: { from: string; to: string } | null;
  steps: Step[];
}

export interface Target {
  kind: Step['kind'];
  id: string;
  label: string;
}

const palette = ['#0b5cad', '#8a4b00', '#137a3a', '#7a1f8a', '#8a1f1f', '#225a66', '#5b4a00', '#3d3d9e'];

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

// Today's date (YYYY-MM-DD) and weekday (0 = Monday) in `zone`.
function today(zone: string): { date: string; weekday: number } {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' }).formatToParts(new Date());
  } catch {
    parts = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' }).formatToParts(new Date());
  }
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday'));
  return { date: `${get('year')}-${get('month')}-${get('day')}`, weekday };
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

// The dates of this week (Monday first) in the site's zone.
export function thisWeek(zone: string): string[] {
  const now = today(zone);
  const monday = addDays(now.date, -Math.max(0, now.weekday));
  return weekdays.map((_, i) => addDays(monday, i));
}

// Does `rule` apply at minute `m` of day `day` (0 = Monday, `date` its date)? The same logic as
// the server's rule_applies: a time range crossing midnight belongs to the day it starts on.
export function applies(rule: Rule, day: number, date: string, m: number): boolean {
  const startsOn = (d: number, on: string) =>
    rule.weekdays.includes(weekdays[(d + 7) % 7]) && (!rule.date_from || on >= rule.date_from) && (!rule.date_to || on <= rule.date_to);
  if (!rule.time) return startsOn(day, date);
  const from = minutes(rule.time.from);
  const to = minutes(rule.time.to);
  if (from < to) return m >= from && m < to && startsOn(day, date);
  return (m >= from && startsOn(day, date)) || (m < to && startsOn(day - 1, addDays(date, -1)));
}

// The rule that decides in the hour `hour` of `day`: the first enabled rule by priority that
// applies at any minute of that hour (checked at the hour and where a rule starts inside it).
export function ruleForSlot(rules: Rule[], day: number, date: string, hour: number): Rule | undefined {
  const ordered = rules.filter((r) => r.enabled).sort((a, b) => a.priority - b.priority);
  const checks = new Set<number>([hour * 60]);
  for (const r of ordered) {
    if (!r.time) continue;
    for (const edge of [minutes(r.time.from), minutes(r.time.to)]) if (edge > hour * 60 && edge < hour * 60 + 60) checks.add(edge);
  }
  for (const m of [...checks].sort((a, b) => a - b)) {
    const r = ordered.find((x) => applies(x, day, date, m));
    if (r) return r;
  }
  return undefined;
}

export function WeekView(props: { rules: Rule[]; zone: string; onSlot: (day: number, hour: number) => void }) {
  const t = useT();
  const dates = thisWeek(props.zone);
  const colour = (r: Rule) => palette[props.rules.indexOf(r) % palette.length];
  const hours = Array.from({ length: 24 }, (_, h) => h);
  return (
    <div class="week-wrap">
      <p class="muted">{t('rules.weekHint', { zone: props.zone })}</p>
      <ul class="legend" aria-label={t('rules.legend')}>
        {props.rules.map((r, i) => (
          <li>
            <i style={{ background: colour(r) }} aria-hidden="true" /> {i + 1}. {r.name || t('rules.unnamed')}{' '}
            {!r.enabled && <span class="muted">({t('rules.disabled')})</span>}
          </li>
        ))}
        <li>
          <i class="none" aria-hidden="true" /> {t('rules.noRule')}
        </li>
      </ul>
      <table class="week" tabIndex={0} data-testid="week-view">
        <caption class="sr-only">{t('rules.weekCaption')}</caption>
        <thead>
          <tr>
            <th scope="col">
              <span class="sr-only">{t('rules.day')}</span>
            </th>
            {hours.map((h) => (
              <th scope="col" class="hour">
                {pad(h)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {weekdays.map((d, day) => (
            <tr data-day={d}>
              <th scope="row">
                {t(`day.${d}` as MessageKey)} <small class="muted">{dates[day].slice(5)}</small>
              </th>
              {hours.map((h) => {
                const r = ruleForSlot(props.rules, day, dates[day], h);
                const n = r ? props.rules.indexOf(r) + 1 : 0;
                const name = r ? `${n}. ${r.name || t('rules.unnamed')}` : t('rules.noRule');
                return (
                  <td class="slot">
                    <button
                      type="button"
                      style={r ? { background: colour(r) } : undefined}
                      class={r ? 'slot-rule' : 'slot-none'}
                      aria-label={`${t(`day.${d}` as MessageKey)} ${pad(h)}:00–${pad((h + 1) % 24)}:00: ${name}`}
                      title={name}
                      data-testid="slot"
                      data-rule={r?.id ?? ''}
                      data-hour={h}
                      onClick={() => props.onSlot(day, h)}
                    >
                      {r ? n : ''}
                    </button>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface Draft {
  weekdays: string[];
  from: string;
  to: string;
}

function RuleForm(props: { groupId: string; rule?: Rule; draft?: Draft; targets: Target[]; onSaved: () => void; onCancel?: () => void }) {
  const t = useT();
  const r = props.rule;
  const [name, setName] = useState(r?.name ?? '');
  const [priority, setPriority] = useState(String(r?.priority ?? 100));
  const [enabled, setEnabled] = useState(r?.enabled ?? true);
  const [days, setDays] = useState<string[]>(props.draft?.weekdays ?? r?.weekdays ?? [...weekdays]);
  const [from, setFrom] = useState(props.draft?.from ?? r?.time?.from ?? '');
  const [to, setTo] = useState(props.draft?.to ?? r?.time?.to ?? '');
  const [dateFrom, setDateFrom] = useState(r?.date_from ?? '');
  const [dateTo, setDateTo] = useState(r?.date_to ?? '');
  const [steps, setSteps] = useState<Step[]>(r?.steps ?? [{ kind: 'ring_group', id: '', ring_seconds: 20 }]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!props.draft) return;
    setDays(props.draft.weekdays);
    setFrom(props.draft.from);
    setTo(props.draft.to);
  }, [props.draft]);
  const errors = fieldErrors(error);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body = {
      name,
      priority: Number(priority),
      enabled,
      weekdays: days,
      time: from || to ? { from, to } : null,
      date_from: dateFrom || null,
      date_to: dateTo || null,
      steps,
    };
    try {
      if (r) await api('PATCH', `/api/v1/forwarding-rules/${r.id}`, body);
      else await api('POST', `/api/v1/ring-groups/${props.groupId}/forwarding-rules`, body);
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  const stepError = (i: number) =>
    Object.entries(errors)
      .filter(([k]) => k.startsWith(`steps[${i}]`))
      .map(([k, v]) => `${k.replace(/^steps\[\d+\]\.?/, '')} ${v}`.trim())
      .join('; ');
  return (
    <form class="inline-form" onSubmit={save} data-testid="rule-form">
      <h4>{r ? t('rules.edit', { name: r.name }) : t('rules.new')}</h4>
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label={t('rules.priority')} name="priority" errors={errors}>
        <input name="priority" type="number" value={priority} onInput={(e) => setPriority(e.currentTarget.value)} />
      </Field>
      <label class="check">
        <input type="checkbox" name="enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} /> {t('rules.enabled')}
      </label>
      <fieldset>
        <legend>{t('rules.weekdays')}</legend>
        <div class="weekdays">
          {weekdays.map((d) => (
            <label class="check">
              <input
                type="checkbox"
                name={`day-${d}`}
                checked={days.includes(d)}
                onChange={(e) => setDays(e.currentTarget.checked ? weekdays.filter((x) => x === d || days.includes(x)) : days.filter((x) => x !== d))}
              />{' '}
              {t(`day.${d}` as MessageKey)}
            </label>
          ))}
        </div>
        {errors.weekdays && (
          <small class="field-error" role="alert" data-field="weekdays">
            {errors.weekdays}
          </small>
        )}
      </fieldset>
      <div class="row-fields">
        <Field label={t('rules.from')} name="time.from" errors={errors}>
          <input name="time.from" value={from} placeholder="08:00" onInput={(e) => setFrom(e.currentTarget.value)} />
        </Field>
        <Field label={t('rules.to')} name="time.to" errors={errors}>
          <input name="time.to" value={to} placeholder="18:00" onInput={(e) => setTo(e.currentTarget.value)} />
        </Field>
        <Field label={t('rules.dateFrom')} name="date_from" errors={errors}>
          <input name="date_from" type="date" value={dateFrom} onInput={(e) => setDateFrom(e.currentTarget.value)} />
        </Field>
        <Field label={t('rules.dateTo')} name="date_to" errors={errors}>
          <input name="date_to" type="date" value={dateTo} onInput={(e) => setDateTo(e.currentTarget.value)} />
        </Field>
      </div>
      <fieldset>
        <legend>{t('rules.steps')}</legend>
        {steps.map((s, i) => (
          <div class="member" data-testid="step">
            <select
              aria-label={t('rules.stepKind', { n: i + 1 })}
              value={s.kind}
              onChange={(e) => setSteps(steps.map((x, j) => (j === i ? { ...x, kind: e.currentTarget.value as Step['kind'], id: '' } : x)))}
            >
              {(['ring_group', 'device', 'user'] as const).map((k) => (
                <option value={k}>{t(`groups.kind.${k}` as MessageKey)}</option>
              ))}
            </select>
            <select
              aria-label={t('rules.stepTarget', { n: i + 1 })}
              name={`steps-${i}-id`}
              value={s.id}
              onChange={(e) => setSteps(steps.map((x, j) => (j === i ? { ...x, id: e.currentTarget.value } : x)))}
            >
              <option value="">{t('common.select')}</option>
              {props.targets
                .filter((x) => x.kind === s.kind)
                .map((x) => (
                  <option value={x.id}>{x.label}</option>
                ))}
            </select>
            <input
              aria-label={t('rules.stepSeconds', { n: i + 1 })}
              type="number"
              class="short"
              value={s.ring_seconds}
              onInput={(e) => setSteps(steps.map((x, j) => (j === i ? { ...x, ring_seconds: Number(e.currentTarget.value) } : x)))}
            />
            <button type="button" class="link" onClick={() => setSteps(steps.filter((_, j) => j !== i))}>
              {t('common.delete')}
            </button>
            {stepError(i) && (
              <small class="field-error" role="alert" data-field={`steps[${i}]`}>
                {stepError(i)}
              </small>
            )}
          </div>
        ))}
        <button type="button" class="secondary" onClick={() => setSteps([...steps, { kind: 'ring_group', id: '', ring_seconds: 20 }])}>
          {t('rules.addStep')}
        </button>
        {errors.steps && (
          <small class="field-error" role="alert" data-field="steps">
            {errors.steps}
          </small>
        )}
      </fieldset>
      <FormError error={error} />
      <div class="actions">
        <button type="submit">{r ? t('common.save') : t('common.create')}</button>
        {props.onCancel && (
          <button type="button" class="secondary" onClick={props.onCancel}>
            {t('common.cancel')}
          </button>
        )}
      </div>
    </form>
  );
}

export function RulesPanel(props: { groupId: string; zone: string; targets: Target[] }) {
  const t = useT();
  const [rules, setRules] = useState<Rule[]>([]);
  const [editing, setEditing] = useState('');
  const [draft, setDraft] = useState<Draft | undefined>(undefined);
  const load = () =>
    listAll<Rule>(`/api/v1/ring-groups/${props.groupId}/forwarding-rules`)
      .then((r) => setRules(r.sort((a, b) => a.priority - b.priority)))
      .catch(() => undefined);
  useEffect(() => {
    load();
  }, [props.groupId]);
  const remove = async (id: string) => {
    await api('DELETE', `/api/v1/forwarding-rules/${id}`).catch(() => undefined);
    load();
  };
  return (
    <div class="rules" data-testid="rules">
      <h3>{t('rules.title')}</h3>
      <ol class="plain">
        {rules.map((r, i) => (
          <li data-testid="rule" data-rule={r.id}>
            {i + 1}. <strong>{r.name || t('rules.unnamed')}</strong> ({t('rules.prio', { n: r.priority })}
            {r.enabled ? '' : `, ${t('rules.disabled')}`}): {r.weekdays.map((d) => t(`day.${d}` as MessageKey)).join(', ')}
            {r.time ? ` ${r.time.from}–${r.time.to}` : ''}{' '}
            <button class="link" onClick={() => setEditing(editing === r.id ? '' : r.id)}>
              {t('groups.edit')}
            </button>{' '}
            <button class="link" onClick={() => remove(r.id)}>
              {t('common.delete')}
            </button>
            {editing === r.id && (
              <RuleForm
                groupId={props.groupId}
                rule={r}
                targets={props.targets}
                onSaved={() => {
                  setEditing('');
                  load();
                }}
                onCancel={() => setEditing('')}
              />
            )}
          </li>
        ))}
      </ol>
      <WeekView
        rules={rules}
        zone={props.zone}
        onSlot={(day, hour) => {
          setEditing('');
          setDraft({ weekdays: [weekdays[day]], from: `${pad(hour)}:00`, to: `${pad((hour + 1) % 24)}:00` });
        }}
      />
      <RuleForm groupId={props.groupId} draft={draft} targets={props.targets} onSaved={load} />
    </div>
  );
}
