/**
 * What the console needs to know about its VM besides pixels: its lifecycle
 * from the events websocket (paused, deleted), whether it still exists when
 * the console's socket drops (a deleted VM's console stops reconnecting),
 * its last frame while stopped (`GET vms/NAME/preview`), and the scale that
 * fits the screen into the room it has — width and height, up as well as down.
 */

import { APIError, requestAPI } from './api';
import { onEvent } from './events';
import { requestBlob } from './vm_common';

export interface VMLife {
  /** the VM's state as the events say it (running, paused, shutoff, ...) */
  onState(state: string): void;
  /** the VM was deleted (undefined) */
  onGone(): void;
}

/** `?uri=URI` for a VM record's host ('' when none is known). */
export function uriQuery(uri: string | undefined, sep = '?'): string {
  return uri ? `${sep}uri=${encodeURIComponent(uri)}` : '';
}

/** Follow VM *name* (on host *uri*, when given) on the events websocket; returns the unsubscribe. */
export function followVM(name: string, uri: string, life: VMLife): () => void {
  // events carry the VM's uri: a namesake on another host is not this VM
  const mine = (m: { name?: string; uri?: string }): boolean =>
    m.name === name && (!uri || !m.uri || m.uri === uri);
  // a console may open before its VM is defined (the create form opens it at
  // once): a snapshot without the VM means "gone" only once it was seen
  let seen = false;
  const stops = [
    onEvent('snapshot', msg => {
      const vm = (msg.vms ?? []).find(mine);
      if (vm) {
        seen = true;
        life.onState(vm.state);
      } else if (msg.vms && seen) {
        life.onGone();
      }
    }),
    onEvent('vm', msg => {
      if (mine(msg)) {
        seen = true;
        life.onState(msg.state);
      }
    }),
    onEvent('vm_defined', msg => {
      if (mine(msg)) {
        seen = true;
      }
    }),
    onEvent('vm_undefined', msg => mine(msg) && life.onGone())
  ];
  return () => stops.forEach(s => s());
}

/** true when the server says there is no VM *name* (404), false otherwise (even offline). */
export async function vmIsGone(name: string, uri = ''): Promise<boolean> {
  try {
    await requestAPI(`vms/${encodeURIComponent(name)}${uriQuery(uri)}`);
    return false;
  } catch (error) {
    return error instanceof APIError && error.status === 404;
  }
}

/** The VM's last frame, full size (kept when its console closed), or null. */
export async function loadPreview(name: string, uri = ''): Promise<ImageBitmap | null> {
  try {
    const blob = await requestBlob(`vms/${encodeURIComponent(name)}/preview${uriQuery(uri)}`);
    return await createImageBitmap(blob);
  } catch {
    return null;
  }
}

/**
 * The zoom for a w×h screen in *room* CSS pixels: "fit" as large as fits
 * (up or down), "integer" the largest whole multiple of device pixels that
 * fits (at least 1:1), "1:1" one device pixel per guest pixel.
 */
export function zoom(mode: string, w: number, h: number, room: { width: number; height: number }): number {
  const dpr = window.devicePixelRatio || 1;
  const k = Math.min(room.width / w, room.height / h);
  if (mode === 'fit') {
    return k > 0 ? k : 1;
  }
  if (mode === 'integer') {
    return Math.max(1, Math.floor(k * dpr)) / dpr;
  }
  return 1 / dpr;
}

/** JupyterLab's boxes that scroll a notebook, an output view or a tab. */
const SCROLLERS = '.jp-WindowedPanel-outer, .jp-Notebook, .jp-LinkedOutputView, .jp-MainAreaWidget';

/**
 * The room a console's screen has: its width, and in height what is left of
 * the nearest scrolling box (a scrolled output, the notebook, full screen)
 * under the console's bar and banner (*chrome* pixels).
 */
export function room(root: HTMLElement, screen: HTMLElement, chrome: number): { width: number; height: number } {
  const width = screen.clientWidth;
  if (document.fullscreenElement === root || root.classList.contains('ks-mod-fill')) {
    return { width, height: root.clientHeight - chrome - 2 };
  }
  // the first box that limits the height: a capped one (a scrolled output has a
  // max-height), else the panel that scrolls the notebook or the output view
  let height = window.innerHeight;
  for (let box = root.parentElement; box && box !== document.body; box = box.parentElement) {
    const max = getComputedStyle(box).maxHeight;
    if (max.endsWith('px')) {
      height = parseFloat(max);
      break;
    }
    if (box.matches(SCROLLERS) && box.clientHeight > 0) {
      height = box.clientHeight;
      break;
    }
  }
  return { width, height: Math.max(100, height - chrome - 24) };
}
