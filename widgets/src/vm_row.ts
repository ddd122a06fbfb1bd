/**
 * One VM's row in the VM manager: what it shows (state, OS, memory, vCPUs, disk
 * use), the actions that fit its state, and the delete confirmation. No
 * requests here; the manager (vm_manager.ts) fetches and acts.
 */

import { button, el, humanSize } from './vm_common';
import type { Details } from './vm_details';
import { makeStatsView, StatsView } from './vm_stats';

export interface Disk {
  target?: string;
  path: string | null;
  capacity: number | null;
  allocation: number | null;
}
export interface VM {
  name: string;
  state: string;
  os_id: string | null;
  /** libosinfo's name for os_id ("Debian 12") */
  os_name?: string | null;
  memory: number | null;
  vcpus: number | null;
  disks: Disk[];
  preview?: boolean;
  preview_path?: string | null;
  uri?: string;
  media?: { target: string; path: string | null; ejected?: boolean }[];
  autostart?: boolean | null;
  persistent?: boolean;
  /** seconds since its QEMU started (running VMs) */
  uptime?: number | null;
  /** the host's alias ("local", or user@host[:port] for a remote libvirt host) */
  host?: string;
  /** bumps with every new thumbnail (events websocket); 0: none yet */
  thumbnail_version?: number;
  shares?: { tag: string; dir: string; readonly: boolean }[];
  forwards?: { proto: string; host_addr: string; host_port: number; guest_port: number }[];
}

/**
 * One VM among every host's: its host's URI and its name. Two hosts may each
 * have a VM called "web"; rows, stats and requests keep them apart by this.
 */
export function vmKey(vm: { name: string; uri?: string }): string {
  return vm.uri ? `${vm.uri}\u001f${vm.name}` : vm.name;
}

/** `?uri=URI` (or `&uri=` after *sep*) naming the VM record's host; '' when unknown. */
export function uriQuery(vm: { uri?: string }, sep = '?'): string {
  return vm.uri ? `${sep}uri=${encodeURIComponent(vm.uri)}` : '';
}

/** Shared folders and port forwards, short ("share data · 8080→80"); '' when none. */
function reach(vm: VM): string {
  const parts = (vm.shares ?? []).map((s) => `share ${s.tag}${s.readonly ? ' (ro)' : ''}`);
  for (const f of vm.forwards ?? []) {
    parts.push(`${f.host_port}→${f.guest_port}${f.proto === 'udp' ? '/udp' : ''}`);
  }
  return parts.join(' · ');
}
export interface Storage {
  pool: string;
  path: string;
  capacity: number;
  allocation: number;
  available: number;
  volumes: unknown[];
  totals?: { count: number; orphans: number; orphan_allocation: number };
}
export interface Deleted {
  name: string;
  removed_disks: string[];
  kept_disks: { path: string; reason: string }[];
}

/** The VM verbs (the JupyterLab extension's commands share them). */
export type Action = 'start' | 'shutdown' | 'destroy' | 'reboot' | 'suspend' | 'resume' | 'console' | 'delete';
/** A manager row's buttons: the verbs, and Details (the row's own tabs). */
export type RowAction = Action | 'details';

export const ACTIONS: { action: RowAction; label: string; title: string; doing: string }[] = [
  { action: 'start', label: 'Start', title: 'Start the VM', doing: 'Starting' },
  { action: 'shutdown', label: 'Shut down', title: "Press the guest's ACPI power button", doing: 'Shutting down' },
  { action: 'reboot', label: 'Reboot…', title: 'Reboot the guest (asks first)', doing: 'Rebooting' },
  { action: 'suspend', label: 'Pause', title: "Pause the VM's CPUs", doing: 'Pausing' },
  { action: 'resume', label: 'Resume', title: 'Let a paused VM run again', doing: 'Resuming' },
  { action: 'destroy', label: 'Force off…', title: 'Pull the plug: stop the VM now (asks first)', doing: 'Forcing off' },
  { action: 'console', label: 'Console', title: "Show the VM's screen below", doing: '' },
  { action: 'details', label: 'Details', title: 'Snapshots, hardware (memory, vCPUs, disks, clone) and disc', doing: '' },
  { action: 'delete', label: 'Delete…', title: 'Delete the VM (asks first)', doing: 'Deleting' }
];

export const RUNNING = new Set(['running', 'blocked']);
export const ACTIVE = new Set(['running', 'blocked', 'paused', 'shutting-down', 'pmsuspended', 'crashed']);

/** Whether *action* fits a VM in *state*; otherwise why not (the greyed button's tooltip). */
export function allowed(action: RowAction, state: string): string {
  const off = !ACTIVE.has(state);
  switch (action) {
    case 'start':
      return off ? '' : 'it is already running';
    case 'shutdown':
    case 'reboot':
      return RUNNING.has(state) ? '' : 'it is not running';
    case 'suspend':
      return RUNNING.has(state) ? '' : 'it is not running';
    case 'resume':
      return state === 'paused' ? '' : 'only a paused VM can be resumed';
    case 'destroy':
      return off ? 'it is not running' : '';
    case 'console':
      return off ? 'it is not running: start it first' : '';
    case 'delete':
    case 'details':
      return '';
  }
}

export const STATE_LABEL: Record<string, string> = {
  running: 'Running',
  blocked: 'Running',
  paused: 'Paused',
  shutoff: 'Shut off',
  'shutting-down': 'Shutting down',
  crashed: 'Crashed',
  pmsuspended: 'Suspended',
  nostate: 'Unknown'
};

/** `http://fedoraproject.org/fedora/37` -> `fedora/37`, as `%vm list` shows it. */
export function osLabel(id: string | null): string {
  if (!id) {
    return 'OS unknown';
  }
  const parts = id.replace(/\/+$/, '').split('/');
  return parts.length > 3 ? parts.slice(-2).join('/') : id;
}

/** "3 min", "2 h 5 min", "4 days 1 h": how long a VM has run. */
export function uptimeText(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) {
    return '';
  }
  if (s < 60) {
    return `${Math.floor(s)} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m} min`;
  }
  const h = Math.floor(m / 60);
  if (h < 24) {
    return `${h} h ${m % 60} min`;
  }
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

export function diskUse(vm: VM): string {
  const disks = (vm.disks ?? []).filter(d => d.path);
  if (!disks.length) {
    return 'no disk';
  }
  const used = disks.reduce((s, d) => s + (d.allocation ?? 0), 0);
  const cap = disks.reduce((s, d) => s + (d.capacity ?? 0), 0);
  return `disk ${humanSize(used)} of ${humanSize(cap)}`;
}

export interface Row {
  li: HTMLLIElement;
  thumb: HTMLImageElement;
  noThumb: HTMLElement;
  name: HTMLElement;
  meta: HTMLElement;
  buttons: Map<RowAction, HTMLButtonElement>;
  progress: HTMLElement;
  error: HTMLElement;
  confirm: HTMLElement;
  consoleBox: HTMLElement;
  previewKey: string;
  previewUrl: string;
  busy: string;
  closeConsole: (() => void) | null;
  detailsBox: HTMLElement;
  details: Details | null;
  stats: StatsView;
  /** Date.now() when the VM started (from its record's uptime), 0: not running */
  upSince: number;
  /** the record's uptime upSince was computed from */
  upKey?: number | null;
  /** listed under its host's heading (the line need not say "on HOST") */
  grouped?: boolean;
}

export function makeRow(vm: VM, onAction: (action: RowAction) => void): Row {
  const li = el('li', 'ks-vmm-vm');
  li.dataset.name = vm.name;
  li.dataset.uri = vm.uri ?? '';
  li.setAttribute('aria-label', vm.name);
  const thumb = el('img', 'ks-vmm-thumb');
  thumb.alt = `Screen of ${vm.name}`;
  thumb.hidden = true;
  const noThumb = el('div', 'ks-vmm-thumb ks-vmm-nothumb', 'no preview');
  const info = el('div', 'ks-vmm-info');
  const name = el('span', 'ks-vmm-name', vm.name);
  const meta = el('span', 'ks-vmm-meta');
  const bar = el('div', 'ks-vmm-actions');
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', `Actions for ${vm.name}`);
  const buttons = new Map<RowAction, HTMLButtonElement>();
  for (const a of ACTIONS) {
    const b = button(a.label, `ks-vmw-btn ks-vmm-act ks-vmm-${a.action}`);
    b.dataset.action = a.action;
    b.addEventListener('click', () => onAction(a.action));
    buttons.set(a.action, b);
    bar.append(b);
  }
  const tab = openInTabButton(vm.name, vm.uri);
  if (tab) {
    buttons.get('console')?.after(tab);
  }
  const progress = el('div', 'ks-vmm-progress');
  progress.setAttribute('aria-live', 'polite');
  const error = el('div', 'ks-vmm-error');
  error.setAttribute('role', 'alert');
  const confirm = el('div', 'ks-vmm-confirm');
  confirm.hidden = true;
  confirm.setAttribute('role', 'group');
  confirm.setAttribute('aria-label', `Confirm deleting ${vm.name}`);
  info.append(name, meta, bar, progress, error, confirm);
  const consoleBox = el('div', 'ks-vmm-consoleBox');
  consoleBox.hidden = true;
  const detailsBox = el('div', 'ks-vmm-detailsBox');
  detailsBox.hidden = true;
  const stats = makeStatsView();
  meta.after(stats.box);
  li.append(thumb, noThumb, info, detailsBox, consoleBox);
  const row: Row = {
    li, thumb, noThumb, name, meta, buttons, progress, error, confirm, consoleBox,
    previewKey: '', previewUrl: '', busy: '', closeConsole: null,
    detailsBox, details: null, stats, upSince: 0
  };
  return row;
}

/** The DOM event the JupyterLab extension answers with a console tab (labextension/src/vm_plugin.ts). */
export const OPEN_CONSOLE_EVENT = 'kernelswitch:open-console';

/**
 * "Open in tab": the console in a JupyterLab tab of its own. Only where the
 * kernelswitch extension runs (it marks the page): a widget has no handle on
 * the app, so it asks with a DOM event.
 */
function openInTabButton(name: string, uri?: string): HTMLButtonElement | null {
  if (document.body.dataset.ksShell !== 'true') {
    return null;
  }
  const b = button('Open in tab', 'ks-vmw-btn ks-vmm-act ks-vmm-tab', "Show the VM's screen in a tab of its own");
  b.dataset.action = 'tab';
  b.setAttribute('aria-label', `Open the console of ${name} in a tab`);
  b.addEventListener('click', () => {
    document.dispatchEvent(new CustomEvent(OPEN_CONSOLE_EVENT, { detail: { name, uri } }));
  });
  return b;
}

/** State, OS, sizes, and which actions fit the state now (the others greyed, saying why). */
export function paintRowState(row: Row, vm: VM): void {
  row.li.dataset.state = vm.state;
  const label = STATE_LABEL[vm.state] ?? vm.state;
  row.meta.textContent = [
    label,
    ...(vm.host && vm.host !== 'local' && !row.grouped ? [`on ${vm.host}`] : []),
    vm.os_name || osLabel(vm.os_id),
    vm.memory ? `${humanSize(vm.memory)} memory` : 'memory ?',
    `${vm.vcpus ?? '?'} vCPU${vm.vcpus === 1 ? '' : 's'}`,
    diskUse(vm),
    reach(vm),
    ...(row.upSince && RUNNING.has(vm.state) ? [`up ${uptimeText((Date.now() - row.upSince) / 1000)}`] : [])
  ]
    .filter(Boolean)
    .join(' · ');
  row.meta.dataset.state = vm.state;
  const tab = row.li.querySelector<HTMLButtonElement>('.ks-vmm-tab');
  if (tab) {
    const why = allowed('console', vm.state);
    tab.disabled = Boolean(why);
    tab.title = why ? `Open the console in a tab (not now: ${why})` : "Show the VM's screen in a tab of its own";
  }
  for (const a of ACTIONS) {
    const b = row.buttons.get(a.action) as HTMLButtonElement;
    // a shutdown waits for the guest: forcing it off stays possible meanwhile
    const waiting = row.busy === 'shutting down' && a.action === 'destroy';
    const why = row.busy && !waiting ? `busy: ${row.busy}` : allowed(a.action, vm.state);
    b.disabled = Boolean(why);
    b.title = why ? `${a.title} (not now: ${why})` : a.title;
    b.setAttribute('aria-label', `${a.label.replace('…', '')} ${vm.name}`);
    if (a.action === 'console') {
      b.textContent = row.closeConsole ? 'Hide console' : 'Console';
      b.setAttribute('aria-expanded', String(Boolean(row.closeConsole)));
      if (row.closeConsole) {
        b.disabled = false; // a console can always be hidden
      }
    }
    if (a.action === 'details') {
      b.textContent = row.details ? 'Hide details' : 'Details';
      b.setAttribute('aria-expanded', String(Boolean(row.details)));
      b.disabled = false;
    }
  }
  row.details?.paint(vm);
}

/**
 * Ask before deleting: say whether the disk images are kept (the default) or
 * deleted too, and that a running VM is forced off. Escape or Cancel closes.
 */
export function deleteDialog(row: Row, vm: VM, onConfirm: (withDisks: boolean) => void): void {
  const disks = (vm.disks ?? []).map(d => d.path).filter((p): p is string => Boolean(p));
  const text = el('p', 'ks-vmm-confirmText');
  const withDisks = el('input', 'ks-vmm-withDisks');
  withDisks.type = 'checkbox';
  const label = el('label', 'ks-vmm-withDisksLabel');
  label.append(withDisks, ` Also delete its disk image${disks.length === 1 ? '' : 's'}`);
  const running = ACTIVE.has(vm.state);
  const say = (): void => {
    const state = STATE_LABEL[vm.state] ?? vm.state;
    const stop = running ? ` It is ${state.toLowerCase()}: it will be forced off first.` : '';
    const what = !disks.length
      ? 'It has no disk images.'
      : withDisks.checked
        ? `Its disk images will be deleted too: ${disks.join(', ')}. This cannot be undone.`
        : `Its disk images are kept: ${disks.join(', ')} (the Disks list at the foot then shows them as orphans).`;
    text.textContent = `Delete VM ${vm.name}?${stop} ${what}`;
  };
  withDisks.disabled = !disks.length;
  withDisks.addEventListener('change', say);
  say();
  const yes = button('Delete VM', 'ks-vmw-btn ks-vmw-danger ks-vmm-confirmDelete');
  const no = button('Cancel', 'ks-vmw-btn ks-vmm-cancelDelete');
  const close = (): void => {
    row.confirm.hidden = true;
    row.confirm.replaceChildren();
    row.confirm.onkeydown = null;
  };
  no.addEventListener('click', () => {
    close();
    row.buttons.get('delete')?.focus();
  });
  row.confirm.onkeydown = e => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
      row.buttons.get('delete')?.focus();
    }
  };
  yes.addEventListener('click', () => {
    const disksToo = withDisks.checked;
    close();
    onConfirm(disksToo);
  });
  row.confirm.replaceChildren(text, label, yes, no);
  row.confirm.hidden = false;
  no.focus();
}
