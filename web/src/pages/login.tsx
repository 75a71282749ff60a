import { useState } from 'preact/hooks';
import { login } from '../api';
import { useT } from '../i18n';
import { Field, FormError, fieldErrors } from '../ui';

export function LoginForm(props: { again?: boolean }) {
  const t = useT();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const errors = fieldErrors(error);
  return (
    <form class="card login" onSubmit={submit} data-testid={props.again ? 'relogin-form' : 'login-form'}>
      <h1>{t('login.title')}</h1>
      {props.again && <p>{t('login.again')}</p>}
      <Field label={t('login.username')} name="username" errors={errors}>
        <input name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </Field>
      <Field label={t('login.password')} name="password" errors={errors}>
        <input
          name="password"
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </Field>
      <FormError error={error} />
      <button type="submit" disabled={busy}>
        {t('login.submit')}
      </button>
    </form>
  );
}
