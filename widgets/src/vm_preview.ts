/** A manager row's thumbnail of the VM's screen (`GET vms/NAME/thumbnail`). */

import { requestBlob } from './vm_common';
import { ACTIVE, Row, uriQuery, VM } from './vm_row';

/** The VM's thumbnail: live while it runs, its last screen once stopped. */
export async function paintPreview(row: Row, vm: VM, signal?: AbortSignal): Promise<void> {
  const live = ACTIVE.has(vm.state);
  const key = live || vm.preview || vm.thumbnail_version
    ? `${vm.thumbnail_version ?? 0}:${live}:${vm.preview_path ?? ''}` : '';
  if (key === row.previewKey) {
    return;
  }
  row.previewKey = key;
  if (!key) {
    row.thumb.hidden = true;
    row.noThumb.hidden = false;
    return;
  }
  try {
    const blob = await requestBlob(`vms/${encodeURIComponent(vm.name)}/thumbnail${uriQuery(vm)}`, signal);
    if (row.previewUrl) {
      URL.revokeObjectURL(row.previewUrl);
    }
    row.previewUrl = URL.createObjectURL(blob);
    row.thumb.src = row.previewUrl;
    row.thumb.hidden = false;
    row.noThumb.hidden = true;
  } catch {
    // none yet (404): the next thumbnail event brings one
    row.thumb.hidden = true;
    row.noThumb.hidden = false;
  }
}

/**
 * Call *cb(visible)* now and whenever *root* scrolls in or out of view or the
 * page is hidden or shown; returns the stop function.
 */
export function whileOnScreen(root: HTMLElement, cb: (visible: boolean) => void): () => void {
  let onScreen = true;
  const tell = (): void => cb(onScreen && !document.hidden && root.isConnected);
  const observer =
    typeof IntersectionObserver === 'undefined'
      ? null
      : new IntersectionObserver(entries => {
          onScreen = entries.some(e => e.isIntersecting);
          tell();
        });
  observer?.observe(root);
  document.addEventListener('visibilitychange', tell);
  tell();
  return () => {
    observer?.disconnect();
    document.removeEventListener('visibilitychange', tell);
  };
}
