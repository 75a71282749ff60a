import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, logout, reloginNeeded, session } from './api';
import { type Language, language, languages, setLanguage, useT } from './i18n';
import { CallsPage } from './pages/calls';
import { ClaimPage } from './pages/claim';
import { ClientPage } from './pages/client';
import { DashboardPage } from './pages/dashboard';
import { FirmwarePage } from './pages/firmware';
import { RolloutsPage } from './pages/rollouts';
import { DevicesPage } from './pages/devices';
import { GroupsPage } from './pages/groups';
import { LoginForm } from './pages/login';
import { PhonePage } from './pages/phone';
import { TreePage } from './pages/tree';
import './prefs';
import { registerServiceWorker } from './push';
import { useStore } from './store';
import './style.css';

interface Me {
  id: string;
  username: string;
  role: string;
  company_id: string | null;
}

const routes = ['dashboard', 'tree', 'devices', 'claim', 'groups', 'calls', 'firmware', 'rollouts', 'client', 'phone'] as const;
type Route = (typeof routes)[number];

// No route in the address: null, the start page then depends on the user (see App).
function currentRoute(): Route | null {
  const r = location.hash.replace(/^#\/?/, '') as Route;
  return routes.includes(r) ? r : null;
}

function LanguageSwitch() {
  const t = useT();
  const lang = useStore(language);
  return (
    <label class="lang">
      <span class="sr-only">{t('lang.label')}</span>
      <select aria-label={t('lang.label')} value={lang} onChange={(e) => setLanguage(e.currentTarget.value as Language)} data-testid="language">
        {languages.map((l) => (
          <option value={l}>{l.toUpperCase()}</option>
        ))}
      </select>
    </label>
  );
}

function App() {
  const t = useT();
  const s = useStore(session);
  const relogin = useStore(reloginNeeded);
  const [hashRoute, setRoute] = useState<Route | null>(currentRoute());
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const signedIn = !!s;
  const user = s?.username;
  useEffect(() => {
    if (!signedIn) {
      setMe(null);
      return;
    }
    api<Me>('GET', '/api/v1/me').then(setMe).catch(() => undefined);
  }, [signedIn, user]);

  if (!s) {
    return (
      <main class="center">
        <header class="bar">
          <strong>{t('app.title')}</strong>
          <LanguageSwitch />
        </header>
        <LoginForm />
      </main>
    );
  }
  // A company's users start on its dashboard; platform admins on the tenancy tree.
  const route: Route = hashRoute ?? (me?.company_id ? 'dashboard' : 'tree');
  if (route === 'phone') {
    // The installed app: the phone layout alone, without the portal's navigation.
    return (
      <>
        {me ? <PhonePage companyId={me.company_id} username={me.username} /> : <p>{t('common.loading')}</p>}
        {relogin && (
          <div class="overlay" role="dialog" aria-modal="true">
            <LoginForm again />
          </div>
        )}
      </>
    );
  }
  const pages: Record<Exclude<Route, 'phone'>, () => preact.JSX.Element> = {
    dashboard: () => (me ? <DashboardPage companyId={me.company_id} /> : <p>{t('common.loading')}</p>),
    tree: () => <TreePage />,
    devices: () => <DevicesPage />,
    claim: () => <ClaimPage />,
    groups: () => <GroupsPage />,
    calls: () => <CallsPage />,
    firmware: () => (me ? <FirmwarePage role={me.role} /> : <p>{t('common.loading')}</p>),
    rollouts: () => (me ? <RolloutsPage companyId={me.company_id} /> : <p>{t('common.loading')}</p>),
    client: () => (me ? <ClientPage companyId={me.company_id} /> : <p>{t('common.loading')}</p>),
  };
  return (
    <>
      <header class="bar">
        <h1 class="brand">{t('app.title')}</h1>
        <nav>
          {routes.map((r) => (
            <a href={`#/${r}`} class={route === r ? 'active' : ''} data-testid={`nav-${r}`}>
              {t(`nav.${r}`)}
            </a>
          ))}
        </nav>
        <span class="user" data-testid="me">
          {me?.username}
        </span>
        <LanguageSwitch />
        <button class="link" onClick={() => logout()}>
          {t('nav.logout')}
        </button>
      </header>
      <main>{pages[route]()}</main>
      {relogin && (
        <div class="overlay" role="dialog" aria-modal="true">
          <LoginForm again />
        </div>
      )}
    </>
  );
}

render(<App />, document.getElementById('app')!);
registerServiceWorker();
