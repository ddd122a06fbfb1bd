/**
 * Choosing an ISO on the server host, shared by the create form and the
 * manager's disc panel: the choices (downloaded ISOs, ISOs next to ones VMs
 * use, discs VMs use) and the server's check of a typed path (`POST vmspec`
 * with only `iso`: the same check a create makes, nothing created).
 */

import { requestAPI } from './api';
import { el } from './vm_common';

interface ISOEntry {
  path: string;
}
export interface ISOChoices {
  downloaded: string[];
  near: string[];
  used: string[];
}

/** Every ISO worth offering, in three groups (a path appears once: downloaded, else in a VM, else near). */
export async function loadISOChoices(signal?: AbortSignal): Promise<ISOChoices> {
  const out: ISOChoices = { downloaded: [], near: [], used: [] };
  const seen = new Set<string>();
  const add = (group: string[], p: string | null | undefined): void => {
    if (p && !seen.has(p)) {
      seen.add(p);
      group.push(p);
    }
  };
  const [isos, vms] = await Promise.all([
    requestAPI<{ isos: ISOEntry[]; near?: ISOEntry[] }>('isos', { signal }).catch(() => null),
    requestAPI<{ vms: { media?: { path: string | null }[] }[] }>('vms', { signal }).catch(() => null)
  ]); // either missing: typing a path still works
  isos?.isos.forEach(i => add(out.downloaded, i.path));
  vms?.vms.forEach(vm => vm.media?.forEach(m => add(out.used, m.path)));
  (isos?.near ?? []).forEach(i => add(out.near, i.path)); // after "used": a disc in use says so
  return out;
}

/** `<option>`s for a datalist, each saying where it comes from. */
export function isoOptions(c: ISOChoices): HTMLOptionElement[] {
  const opt = (p: string, where: string): HTMLOptionElement =>
    Object.assign(el('option', '', where), { value: p });
  return [
    ...c.downloaded.map(p => opt(p, 'downloaded')),
    ...c.used.map(p => opt(p, 'in a VM')),
    ...c.near.map(p => opt(p, 'next to a disc in use'))
  ];
}

/** The server's word on *path* as an ISO: '' when it is fine, else what is wrong. */
export async function checkISO(path: string, signal?: AbortSignal, uri = ''): Promise<string> {
  const answer = await requestAPI<{ errors: Record<string, string> }>('vmspec', {
    method: 'POST',
    body: JSON.stringify(uri ? { iso: path, uri } : { iso: path }),
    signal
  });
  return answer.errors?.iso ?? '';
}
