/**
 * The VM sidebar's thumbnails: a running VM shows its newest screen (the
 * server takes them while a VM sidebar is visible and says so with a
 * `thumbnail` event), a stopped one its last screen. Each picture is fetched
 * from its VM's host (`?uri=`) and decoded before it replaces the shown one.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ACTIVE } from '../../widgets/lib/shell';
import { where } from './vm_actions';
import type { IVMRecord } from './vm_store';

/** What of a sidebar row the thumbnail paints. */
export interface ThumbRow {
  li: HTMLLIElement;
  img: HTMLImageElement;
  placeholder: HTMLElement;
  /** what the shown picture is ('' = none) */
  thumbKey: string;
  /** its blob URL, revoked when replaced */
  thumbUrl: string;
}

/**
 * A VM that runs shows its newest thumbnail (the server takes them while a
 * VM sidebar is visible); one that does not, the last screen it showed.
 */
export async function paintThumb(row: ThumbRow, vm: IVMRecord): Promise<void> {
  const version = vm.thumbnail_version ?? 0;
  if (ACTIVE.has(vm.state) && version > 0) {
    await fetchThumb(row, vm, 'thumbnail', `thumb:${version}`);
  } else if (!ACTIVE.has(vm.state) && version > 0) {
    // the newer of its last console frame and its last screenshot
    await fetchThumb(row, vm, 'thumbnail', `off:${version}:${vm.preview_path ?? ''}`);
  } else if (!ACTIVE.has(vm.state) && vm.preview) {
    await fetchThumb(row, vm, 'preview', `preview:${vm.preview_path ?? ''}`);
  } else if (row.thumbKey && !(ACTIVE.has(vm.state) && row.thumbKey.startsWith('thumb:'))) {
    row.thumbKey = '';
    row.img.hidden = true;
    row.placeholder.hidden = false;
    delete row.li.dataset.thumb;
  }
}

async function fetchThumb(row: ThumbRow, vm: IVMRecord, what: string, key: string): Promise<void> {
  if (row.thumbKey === key) {
    return;
  }
  row.thumbKey = key;
  const settings = ServerConnection.makeSettings();
  const path = URLExt.join(settings.baseUrl, 'kernelswitch', 'api', 'vms', encodeURIComponent(vm.name), what);
  const url = `${path}?${where(vm)}`;
  try {
    const response = await ServerConnection.makeRequest(url, { cache: 'no-cache' }, settings);
    if (!response.ok) {
      return; // none yet: the placeholder stays
    }
    const blob = await response.blob();
    if (row.thumbKey !== key) {
      return; // a newer one is on its way
    }
    // decoded before it is shown: the old picture stays until the new one
    // can be drawn (no blank flash, and the <img> always has its pixels)
    const blobUrl = URL.createObjectURL(blob);
    const next = new Image();
    next.src = blobUrl;
    try {
      await next.decode();
    } catch {
      URL.revokeObjectURL(blobUrl);
      return; // not a picture (the VM went away meanwhile): keep the old one
    }
    if (row.thumbKey !== key) {
      URL.revokeObjectURL(blobUrl);
      return;
    }
    const old = row.thumbUrl;
    row.thumbUrl = blobUrl;
    row.img.src = blobUrl;
    if (old) {
      URL.revokeObjectURL(old);
    }
    row.img.hidden = false;
    row.placeholder.hidden = true;
    row.li.dataset.thumb = key;
  } catch {
    // the server went away: the events reconnect and bring a snapshot
  }
}
