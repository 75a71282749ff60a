import { Store } from './store';

// The phone's settings, kept on this device only (localStorage).
export type Theme = 'system' | 'light' | 'dark';
export type Ringtone = 'classic' | 'chime' | 'pulse' | 'off';

export interface Favourite {
  kind: 'ring_group' | 'user' | 'door';
  id: string; // a door: "<device id>:<door id>"
  name: string;
}

export interface Prefs {
  theme: Theme;
  dnd: boolean;
  ringtone: Ringtone;
  favourites: Favourite[];
}

const key = 'carillon.phone';
const defaults: Prefs = { theme: 'system', dnd: false, ringtone: 'classic', favourites: [] };

function load(): Prefs {
  try {
    return { ...defaults, ...JSON.parse(localStorage.getItem(key) ?? '{}') };
  } catch {
    return defaults;
  }
}

export const prefs = new Store<Prefs>(load());

export function setPrefs(patch: Partial<Prefs>): void {
  const next = { ...prefs.value, ...patch };
  localStorage.setItem(key, JSON.stringify(next));
  prefs.set(next);
}

export function applyTheme(theme: Theme): void {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}
applyTheme(prefs.value.theme);
prefs.subscribe((p) => applyTheme(p.theme));

export function toggleFavourite(f: Favourite): void {
  const list = prefs.value.favourites;
  const has = list.some((x) => x.kind === f.kind && x.id === f.id);
  setPrefs({ favourites: has ? list.filter((x) => !(x.kind === f.kind && x.id === f.id)) : [...list, f] });
}
