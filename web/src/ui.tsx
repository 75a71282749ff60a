import type { ComponentChildren } from 'preact';
import { ApiError } from './api';
import { useT } from './i18n';

// A labelled input with the server's reason for this field (problem+json "errors") below it.
export function Field(props: {
  label: string;
  name: string;
  errors: Record<string, string>;
  children: ComponentChildren;
}) {
  const error = props.errors[props.name];
  return (
    <label class={`field${error ? ' invalid' : ''}`}>
      <span>{props.label}</span>
      {props.children}
      {error && (
        <small class="field-error" role="alert" data-field={props.name}>
          {error}
        </small>
      )}
    </label>
  );
}

// The part of a failure that belongs to no field.
export function FormError(props: { error: unknown }) {
  const t = useT();
  if (!props.error) return null;
  const e = props.error;
  let text = String(e);
  if (e instanceof ApiError) {
    if (Object.keys(e.fields).length > 0) return null;
    text = t('problem.generic', { detail: e.detail || e.title });
  }
  return (
    <p class="form-error" role="alert">
      {text}
    </p>
  );
}

export function fieldErrors(e: unknown): Record<string, string> {
  return e instanceof ApiError ? e.fields : {};
}
