/**
 * The foot of the VM manager: the storage pool's use (`GET storage`) and the
 * Disks list (`GET storage/disks`): every disk image with its size and the VMs
 * using it, orphans (no VM uses them) marked, each with a Delete… that asks.
 */

import { requestAPI } from './api';
import { confirmIn } from './confirm';
import { button, el, humanSize } from './vm_common';
import { Storage } from './vm_row';

export interface DiskImage {
  name: string;
  path: string;
  capacity: number | null;
  allocation: number | null;
  vms: string[];
  orphan: boolean;
}

export interface StorageState extends Storage {
  disks?: DiskImage[];
}

export async function fetchStorage(signal?: AbortSignal): Promise<StorageState> {
  const [pool, disks] = await Promise.all([
    requestAPI<Storage>('storage', { signal }),
    requestAPI<{ totals: Storage['totals']; disks: DiskImage[] }>('storage/disks', { signal }).catch(() => null)
  ]);
  return { ...pool, totals: disks?.totals, disks: disks?.disks };
}

export function storageText(s: Storage | undefined): string {
  if (!s || !s.pool) {
    return '';
  }
  const parts = [
    `Storage pool “${s.pool}” (${s.path}): ${humanSize(s.allocation)} used of ${humanSize(
      s.capacity
    )}, ${humanSize(s.available)} free`, // the pool is named at the start of the line
    `${s.volumes?.length ?? 0} disk image(s)`
  ];
  if (s.totals?.orphans) {
    parts.push(`${s.totals.orphans} orphan(s) using ${humanSize(s.totals.orphan_allocation)}`);
  }
  return parts.join(' · ');
}

/**
 * Draw the pool line and, under a "Disks" disclosure, every image; *run*
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
  const line = el('div', 'ks-vmm-poolLine', storageText(s));
  const disks = s?.disks ?? [];
  if (!disks.length) {
    box.replaceChildren(line);
    return;
  }
  // open when an orphan appears (someone deleted a VM and kept its disks)
  const open = Boolean(box.querySelector('details')?.open) || (s?.totals?.orphans ?? 0) > before;
  // the same <details> stays (its toggle state, a screen reader's place); its content is redrawn
  const details = box.querySelector<HTMLDetailsElement>('details.ks-vmm-disks') ?? el('details', 'ks-vmm-disks');
  details.replaceChildren();
  details.open = open;
  const orphans = disks.filter(d => d.orphan).length;
  details.append(el('summary', '', `Disks (${disks.length}${orphans ? `, ${orphans} orphan${orphans === 1 ? '' : 's'}` : ''})`));
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
  box.replaceChildren(line, details);
}

