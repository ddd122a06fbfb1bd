/**
 * The foot of the VM manager: each host's storage pool (`GET storage`, and
 * `GET storage?uri=HOST` for every other configured host) and the Disks list
 * (`GET storage/disks`, the first host's): every disk image with its size and
 * the VMs using it, orphans (no VM uses them) marked, each with a Delete…
 * that asks.
 */

import { requestAPI } from './api';
import { confirmIn } from './confirm';
import { button, el, errorLine, humanSize } from './vm_common';
import { hostName } from './vm_host_heads';
import { Host } from './vm_list';
import { Storage } from './vm_row';

export interface DiskImage {
  name: string;
  path: string;
  capacity: number | null;
  allocation: number | null;
  vms: string[];
  orphan: boolean;
}

/** One host's pool, or why it cannot be read (the host is down). */
export interface HostPool {
  uri: string;
  /** the host as the list's headings name it: local, user@host[:port] */
  name: string;
  pool?: Storage;
  error?: string;
}

export interface StorageState extends Storage {
  disks?: DiskImage[];
  /** every host's pool, in the configured order; absent with one host */
  hosts?: HostPool[];
}

/**
 * The first host's pool and disks, and with several *hosts* each one's pool
 * (a host that is down or fails says why; the others still show).
 */
export async function fetchStorage(hosts: Host[], signal?: AbortSignal): Promise<StorageState> {
  const others = hosts.length > 1 ? hosts.slice(1) : [];
  const [pool, disks, more] = await Promise.all([
    requestAPI<Storage>('storage', { signal }),
    requestAPI<{ totals: Storage['totals']; disks: DiskImage[] }>('storage/disks', { signal }).catch(() => null),
    Promise.all(others.map(h => hostPool(h, signal)))
  ]);
  const first = { ...pool, totals: disks?.totals };
  const state: StorageState = { ...first, disks: disks?.disks };
  if (hosts.length > 1) {
    state.hosts = [{ uri: hosts[0].uri, name: hostName(hosts[0]), pool: first }, ...more];
  }
  return state;
}

async function hostPool(host: Host, signal?: AbortSignal): Promise<HostPool> {
  const name = hostName(host);
  if (host.state === 'down') {
    return { uri: host.uri, name, error: `not reachable${host.reason ? ` (${host.reason})` : ''}` };
  }
  try {
    const pool = await requestAPI<Storage>(`storage?uri=${encodeURIComponent(host.uri)}`, { signal });
    return { uri: host.uri, name, pool };
  } catch (error) {
    return { uri: host.uri, name, error: errorLine(error) };
  }
}

/** Disk images, and the orphans among them: " · 3 disk image(s) · 1 orphan(s) using 2G". */
function imagesText(s: Storage): string {
  const parts = [`${s.volumes?.length ?? 0} disk image(s)`];
  if (s.totals?.orphans) {
    parts.push(`${s.totals.orphans} orphan(s) using ${humanSize(s.totals.orphan_allocation)}`);
  }
  return parts.join(' · ');
}

export function storageText(s: Storage | undefined): string {
  if (!s || !s.pool) {
    return '';
  }
  return [
    `Storage pool “${s.pool}” (${s.path}): ${humanSize(s.allocation)} used of ${humanSize(
      s.capacity
    )}, ${humanSize(s.available)} free`, // the pool is named at the start of the line
    imagesText(s)
  ].join(' · ');
}

/** One host's line, short enough for a narrow panel: "local: pool “default”, 21G free of 68G · …". */
function hostLine(h: HostPool): HTMLElement {
  const line = el('div', 'ks-vmm-poolLine ks-vmm-hostPool');
  line.dataset.uri = h.uri;
  const who = el('span', 'ks-vmm-poolHost', h.name);
  who.title = h.uri;
  const p = h.pool;
  if (!p) {
    line.dataset.state = 'down';
    line.append(who, `: storage ${h.error ?? 'not known'}`);
    return line;
  }
  line.title = `${p.path}: ${humanSize(p.allocation)} used of ${humanSize(p.capacity)}`;
  line.append(
    who,
    `: pool “${p.pool}”, ${humanSize(p.available)} free of ${humanSize(p.capacity)} · ${imagesText(p)}`
  );
  return line;
}

/** The pool line(s): one line with one host, a line a host with several. */
function poolLines(s: StorageState | undefined): HTMLElement[] {
  if (s?.hosts?.length) {
    return s.hosts.map(hostLine);
  }
  return [el('div', 'ks-vmm-poolLine', storageText(s))];
}

/**
 * Draw the pool line(s) and, under a "Disks" disclosure, every image; *run*
 * deletes an orphan (after asking) and reloads.
 */
export function paintStorage(
  box: HTMLElement, s: StorageState | undefined, run: (what: string, work: () => Promise<string>) => void
): void {
  const key = JSON.stringify(s ?? null);
  const asking = box.querySelector<HTMLElement>('.ks-vmm-confirm:not([hidden])');
  if (box.dataset.key === key || asking) {
    return; // unchanged, or a question is open: keep the list, its focus and the question
  }
  const before = Number(box.dataset.orphans ?? 0);
  box.dataset.key = key;
  box.dataset.orphans = String(s?.totals?.orphans ?? 0);
  const lines = poolLines(s);
  const disks = s?.disks ?? [];
  if (!disks.length) {
    box.replaceChildren(...lines);
    return;
  }
  // open when an orphan appears (someone deleted a VM and kept its disks)
  const open = Boolean(box.querySelector('details')?.open) || (s?.totals?.orphans ?? 0) > before;
  // the same <details> stays (its toggle state, a screen reader's place); its content is redrawn
  const details = box.querySelector<HTMLDetailsElement>('details.ks-vmm-disks') ?? el('details', 'ks-vmm-disks');
  details.replaceChildren();
  details.open = open;
  const orphans = disks.filter(d => d.orphan).length;
  const where = s?.hosts?.length ? ` on ${s.hosts[0].name}` : ''; // the first host's
  details.append(el('summary', '', `Disks${where} (${disks.length}${orphans ? `, ${orphans} orphan${orphans === 1 ? '' : 's'}` : ''})`));
  const confirm = el('div', 'ks-vmm-confirm');
  confirm.hidden = true;
  const list = el('ul', 'ks-vmm-diskList');
  for (const d of disks) {
    const li = el('li', d.orphan ? 'ks-vmm-orphan' : '');
    li.dataset.path = d.path;
    li.append(
      el('span', 'ks-vmm-diskName', d.name),
      el('span', 'ks-vmm-hint', `${humanSize(d.allocation)} of ${humanSize(d.capacity)}`),
      el('span', d.orphan ? 'ks-vmm-badge ks-vmm-badgeWarn' : 'ks-vmm-hint',
        d.orphan ? 'orphan: no VM uses it' : `used by ${d.vms.join(', ')}`)
    );
    li.title = d.path;
    if (d.orphan) {
      const del = button('Delete…', 'ks-vmw-btn ks-vmm-diskDelete', `Delete ${d.path}`);
      del.addEventListener('click', () => confirmIn(confirm, {
        text: `Delete the disk image ${d.path} (${humanSize(d.allocation)})? No VM uses it. This cannot be undone.`,
        accept: 'Delete disk', danger: true, returnFocus: del,
        onAccept: () => run(`Deleting ${d.name}`, async () => {
          box.dataset.key = ''; // repaint when the answer comes
          await requestAPI(`storage/disks/${encodeURIComponent(d.name)}`, { method: 'DELETE' });
          return `Deleted ${d.path}.`;
        })
      }));
      li.append(del);
    }
    list.append(li);
  }
  details.append(list, confirm);
  box.replaceChildren(...lines, details);
}

