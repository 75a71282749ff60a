import en from './messages/en.json';
import de from './messages/de.json';
import { Store, useStore } from './store';

export type MessageKey = keyof typeof en;
export type Language = 'en' | 'de';

const catalogs: Record<Language, Record<MessageKey, string>> = { en, de };
export const languages: Language[] = ['en', 'de'];

function initialLanguage(): Language {
  const saved = localStorage.getItem('carillon.lang');
  if (saved === 'en' || saved === 'de') return saved;
  return navigator.language.toLowerCase().startsWith('de') ? 'de' : 'en';
}

export const language = new Store<Language>(initialLanguage());
document.documentElement.lang = language.value;

export function setLanguage(lang: Language): void {
  localStorage.setItem('carillon.lang', lang);
  document.documentElement.lang = lang;
  language.set(lang);
}

export function translate(lang: Language, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogs[lang][key] ?? catalogs.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? ''));
}

// Components call this so that switching the language re-renders them.
export function useT(): (key: MessageKey, params?: Record<string, string | number>) => string {
  const lang = useStore(language);
  return (key, params) => translate(lang, key, params);
}

export function formatTime(lang: Language, ms: number): string {
  return new Date(ms).toLocaleString(lang === 'de' ? 'de-DE' : 'en-GB');
}
