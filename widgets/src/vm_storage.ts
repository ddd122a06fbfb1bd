/** The storage pool line under the VM manager's list (`GET storage`, `GET storage/disks`). */

import { requestAPI } from './api';
import { humanSize } from './vm_common';
import { Storage } from './vm_row';

export async function fetchStorage(signal?: AbortSignal): Promise<Storage> {
  const [pool, disks] = await Promise.all([
    requestAPI<Storage>('storage', { signal }),
    requestAPI<{ totals: Storage['totals'] }>('storage/disks', { signal }).catch(() => null)
  ]);
  return { ...pool, totals: disks?.totals };
}

export function storageText(s: Storage | undefined): string {
  if (!s || !s.pool) {
    return '';
  }
  const parts = [
    `Storage pool “${s.pool}” (${s.path}): ${humanSize(s.allocation)} used of ${humanSize(
      s.capacity
    )}, ${humanSize(s.available)} free`,
    `${s.volumes?.length ?? 0} disk image(s)`
  ];
  if (s.totals?.orphans) {
    parts.push(
      `${s.totals.orphans} orphan(s) using ${humanSize(s.totals.orphan_allocation)} ` +
      '(no VM uses them: `%vm disks --delete NAME` removes one)'
    );
  }
  return parts.join(' · ');
}
