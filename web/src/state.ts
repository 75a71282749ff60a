import { Store } from './store';

export interface Node {
  id: string;
  name: string;
  company_id?: string;
  project_id?: string;
  time_zone?: string;
  labels: { name: string; color: string }[];
  attributes: Record<string, string>;
}

// The site the portal pages work on; kept across reloads.
export const selectedSite = new Store<Node | null>(
  (() => {
    try {
      return JSON.parse(localStorage.getItem('carillon.site') ?? 'null');
    } catch {
      return null;
    }
  })(),
);

export function selectSite(site: Node | null): void {
  localStorage.setItem('carillon.site', JSON.stringify(site));
  selectedSite.set(site);
}
