import type { RenderProps } from '@anywidget/types';

import { APIError, requestAPI } from './api';
import { ConsoleModel, renderConsole } from './console';
import { CreateVMModel, renderCreateVM } from './create_vm';
import { button, el, elapsed, errorLine, humanSize, LocalModel, requestBlob } from './vm_common';
import css from './vm_widgets.css';

/**
 * The VM manager (`kernelswitch.widgets.VMManager`), after virt-manager's main
 * window: a live list (polled while the view is on screen, paused while the
 * page is hidden, stopped when the view is gone), per-VM actions that fit the
 * state, the console opened below a row, and the storage pool's use. Everything
 * is fetched by the browser from the server (`GET vms`, `vms/{name}/preview`,
 * `GET storage`), never through the kernel.
 */
export interface VMManagerModel {
  interval: number;
  vms: VM[];
  storage: Record<string, unknown>;
  status: 'loading' | 'ready' | 'error';
  error: string;
  last_action: Record<string, unknown>;
}

interface Disk {
  path: string | null;
  capacity: number | null;
  allocation: number | null;
}
interface VM {
  name: string;
  state: string;
  os_id: string | null;
  memory: number | null;
  vcpus: number | null;
  disks: Disk[];
  preview?: boolean;
  preview_path?: string | null;
}
interface Storage {
  pool: string;
  path: string;
  capacity: number;
  allocation: number;
  available: number;
  volumes: unknown[];
  totals?: { count: number; orphans: number; orphan_allocation: number };
}
interface Deleted {
  name: string;
  removed_disks: string[];
  kept_disks: { path: string; reason: string }[];
}

type Action = 'start' | 'shutdown' | 'destroy' | 'reboot' | 'suspend' | 'resume' | 'console' | 'delete';

const ACTIONS: { action: Action; label: string; title: string; doing: string }[] = [
  { action: 'start', label: 'Start', title: 'Start the VM', doing: 'Starting' },
  { action: 'shutdown', label: 'Shut down', title: "Press the guest's ACPI power button", doing: 'Shutting down' },
  { action: 'reboot', label: 'Reboot', title: 'Reboot the guest (ACPI)', doing: 'Rebooting' },
  { action: 'suspend', label: 'Pause', title: "Pause the VM's CPUs", doing: 'Pausing' },
  { action: 'resume', label: 'Resume', title: 'Let a paused VM run again', doing: 'Resuming' },
  { action: 'destroy', label: 'Force off', title: 'Pull the plug: stop the VM now', doing: 'Forcing off' },
  { action: 'console', label: 'Console', title: "Show the VM's screen below", doing: '' },
  { action: 'delete', label: 'Delete…', title: 'Delete the VM (asks first)', doing: 'Deleting' }
];

const RUNNING = new Set(['running', 'blocked']);
const ACTIVE = new Set(['running', 'blocked', 'paused', 'shutting-down', 'pmsuspended', 'crashed']);

/** Whether *action* fits a VM in *state*; otherwise why not (the greyed button's tooltip). */
export function allowed(action: Action, state: string): string {
  const off = !ACTIVE.has(state);
  switch (action) {
    case 'start':
      return off ? '' : 'it is already running';
    case 'shutdown':
    case 'reboot':
      return RUNNING.has(state) ? '' : 'only a running VM can';
    case 'suspend':
      return RUNNING.has(state) ? '' : 'only a running VM can be paused';
    case 'resume':
      return state === 'paused' ? '' : 'only a paused VM can be resumed';
    case 'destroy':
      return off ? 'it is not running' : '';
    case 'console':
      return off ? 'it is not running: start it first' : '';
    case 'delete':
      return '';
  }
}

const STATE_LABEL: Record<string, string> = {
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
function osLabel(id: string | null): string {
  if (!id) {
    return 'OS unknown';
  }
  const parts = id.replace(/\/+$/, '').split('/');
  return parts.length > 3 ? parts.slice(-2).join('/') : id;
}

function diskUse(vm: VM): string {
  const disks = (vm.disks ?? []).filter(d => d.path);
  if (!disks.length) {
    return 'no disk';
  }
  const used = disks.reduce((s, d) => s + (d.allocation ?? 0), 0);
  const cap = disks.reduce((s, d) => s + (d.capacity ?? 0), 0);
  return `disk ${humanSize(used)} of ${humanSize(cap)}`;
}

interface Row {
  li: HTMLLIElement;
  thumb: HTMLImageElement;
  noThumb: HTMLElement;
  name: HTMLElement;
  meta: HTMLElement;
  buttons: Map<Action, HTMLButtonElement>;
  progress: HTMLElement;
  error: HTMLElement;
  confirm: HTMLElement;
  consoleBox: HTMLElement;
  previewKey: string;
  previewUrl: string;
  busy: string;
  closeConsole: (() => void) | null;
}

export function renderVMManager({ model, el: host, signal }: RenderProps<VMManagerModel>): () => void {
  const root = el('div', 'ks-vmw ks-vmm');
  const style = el('style');
  style.textContent = css;
  const header = el('div', 'ks-vmw-header');
  const title = el('span', 'ks-vmw-title', 'Virtual machines');
  const count = el('span', 'ks-vmm-count');
  const newBtn = button('New VM…', 'ks-vmw-btn ks-vmm-new', 'Create a VM from an installer ISO');
  const refresh = button('Refresh', 'ks-vmw-btn ks-vmm-refresh', 'Fetch the list now');
  header.append(title, count, newBtn, refresh);
  const status = el('div', 'ks-vmm-status');
  status.setAttribute('aria-live', 'polite');
  // what the last action on a VM that is gone now said (a delete's answer)
  const notice = el('div', 'ks-vmm-notice');
  notice.setAttribute('aria-live', 'polite');
  const formBox = el('div', 'ks-vmm-form');
  formBox.hidden = true;
  const list = el('ul', 'ks-vmm-list');
  list.setAttribute('aria-label', 'Virtual machines');
  const storage = el('div', 'ks-vmm-storage');
  root.append(style, header, status, notice, formBox, list, storage);
  host.append(root);

  const rows = new Map<string, Row>();
  let alive = true;
  let seq = 0;

  const save = (): void => {
    try {
      model.save_changes();
    } catch {
      // the kernel is gone: the view keeps working over REST
    }
  };

  // ------------------------------------------------------------ the create form, inline
  let closeForm: (() => void) | null = null;
  newBtn.addEventListener('click', () => {
    if (closeForm) {
      closeForm();
      closeForm = null;
      formBox.replaceChildren();
      formBox.hidden = true;
      newBtn.setAttribute('aria-expanded', 'false');
      return;
    }
    const local = new LocalModel<CreateVMModel>({
      iso: '', name: '', os: '', memory: '', cpus: '', disk: '', start: true,
      status: 'editing', errors: {}, created: {}
    });
    formBox.hidden = false;
    newBtn.setAttribute('aria-expanded', 'true');
    closeForm = renderCreateVM(
      { model: local, el: formBox, signal } as unknown as RenderProps<CreateVMModel>,
      { onCreated: () => void load() }
    );
    formBox.querySelector<HTMLInputElement>('.ks-cvm-iso')?.focus();
  });

  // ------------------------------------------------------------ rows
  const makeRow = (vm: VM): Row => {
    const li = el('li', 'ks-vmm-vm');
    li.dataset.name = vm.name;
    li.setAttribute('aria-label', vm.name);
    const thumb = el('img', 'ks-vmm-thumb');
    thumb.alt = `Last screen of ${vm.name}`;
    thumb.hidden = true;
    const noThumb = el('div', 'ks-vmm-thumb ks-vmm-nothumb', 'no preview');
    const info = el('div', 'ks-vmm-info');
    const name = el('span', 'ks-vmm-name', vm.name);
    const meta = el('span', 'ks-vmm-meta');
    const bar = el('div', 'ks-vmm-actions');
    bar.setAttribute('role', 'toolbar');
    bar.setAttribute('aria-label', `Actions for ${vm.name}`);
    const buttons = new Map<Action, HTMLButtonElement>();
    for (const a of ACTIONS) {
      const b = button(a.label, `ks-vmw-btn ks-vmm-act ks-vmm-${a.action}`);
      b.dataset.action = a.action;
      b.addEventListener('click', () => void act(vm.name, a.action));
      buttons.set(a.action, b);
      bar.append(b);
    }
    const progress = el('div', 'ks-vmm-progress');
    progress.setAttribute('aria-live', 'polite');
    const error = el('div', 'ks-vmm-error');
    error.setAttribute('role', 'alert');
    const confirm = el('div', 'ks-vmm-confirm');
    confirm.hidden = true;
    info.append(name, meta, bar, progress, error, confirm);
    const consoleBox = el('div', 'ks-vmm-consoleBox');
    consoleBox.hidden = true;
    li.append(thumb, noThumb, info, consoleBox);
    const row: Row = {
      li, thumb, noThumb, name, meta, buttons, progress, error, confirm, consoleBox,
      previewKey: '', previewUrl: '', busy: '', closeConsole: null
    };
    return row;
  };

  const paintRow = (row: Row, vm: VM): void => {
    row.li.dataset.state = vm.state;
    const label = STATE_LABEL[vm.state] ?? vm.state;
    row.meta.textContent = [
      label,
      osLabel(vm.os_id),
      vm.memory ? `${humanSize(vm.memory)} memory` : 'memory ?',
      `${vm.vcpus ?? '?'} vCPU${vm.vcpus === 1 ? '' : 's'}`,
      diskUse(vm)
    ].join(' · ');
    row.meta.dataset.state = vm.state;
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
    }
    void paintPreview(row, vm);
  };

  const paintPreview = async (row: Row, vm: VM): Promise<void> => {
    const key = vm.preview ? `${vm.state}:${vm.preview_path ?? ''}` : '';
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
      const blob = await requestBlob(`vms/${encodeURIComponent(vm.name)}/preview`, signal);
      if (row.previewUrl) {
        URL.revokeObjectURL(row.previewUrl);
      }
      row.previewUrl = URL.createObjectURL(blob);
      row.thumb.src = row.previewUrl;
      row.thumb.hidden = false;
      row.noThumb.hidden = true;
    } catch {
      row.previewKey = ''; // try again on the next refresh
    }
  };

  const draw = (): void => {
    const vms = (model.get('vms') ?? []) as VM[];
    const state = model.get('status');
    root.dataset.state = state;
    if (state === 'error') {
      status.textContent = model.get('error');
      status.className = 'ks-vmm-status ks-vmm-error';
    } else {
      status.className = 'ks-vmm-status';
      status.textContent =
        state === 'loading' && !vms.length ? 'Loading the VMs…' :
        vms.length ? '' : 'No VMs yet. Click “New VM…” to make one from an installer ISO.';
    }
    count.textContent = vms.length ? `${vms.length}` : '';
    const seen = new Set<string>();
    for (const vm of vms) {
      seen.add(vm.name);
      let row = rows.get(vm.name);
      if (!row) {
        row = makeRow(vm);
        rows.set(vm.name, row);
      }
      paintRow(row, vm);
      list.append(row.li); // keeps the server's order (by name); moves nothing that is in place
    }
    for (const [name, row] of rows) {
      if (!seen.has(name) && !row.busy) {
        row.closeConsole?.();
        if (row.previewUrl) {
          URL.revokeObjectURL(row.previewUrl);
        }
        row.li.remove();
        rows.delete(name);
      }
    }
    drawStorage();
  };

  const drawStorage = (): void => {
    const s = model.get('storage') as unknown as Storage;
    if (!s || !s.pool) {
      storage.textContent = '';
      return;
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
    storage.textContent = parts.join(' · ');
  };

  // ------------------------------------------------------------ fetching
  let storageAt = -Infinity;
  const load = async (): Promise<void> => {
    const mine = ++seq;
    try {
      const list = await requestAPI<{ vms: VM[] }>('vms', { signal });
      if (mine !== seq || !alive) {
        return;
      }
      model.set('vms', list.vms);
      model.set('status', 'ready');
      model.set('error', '');
    } catch (error) {
      if (mine !== seq || !alive || signal?.aborted) {
        return;
      }
      model.set('status', 'error');
      model.set('error', `Cannot list the VMs: ${errorLine(error)}`);
    }
    save();
    draw();
    if (performance.now() - storageAt > 30_000) {
      void loadStorage();
    }
  };

  const loadStorage = async (): Promise<void> => {
    storageAt = performance.now();
    try {
      const [pool, disks] = await Promise.all([
        requestAPI<Storage>('storage', { signal }),
        requestAPI<{ totals: Storage['totals'] }>('storage/disks', { signal }).catch(() => null)
      ]);
      if (!alive) {
        return;
      }
      model.set('storage', { ...pool, totals: disks?.totals } as unknown as Record<string, unknown>);
      save();
      drawStorage();
    } catch (error) {
      storage.textContent = `Storage: ${errorLine(error)}`;
    }
  };

  // ------------------------------------------------------------ actions
  const act = async (name: string, action: Action): Promise<void> => {
    const row = rows.get(name);
    const vm = (model.get('vms') as VM[]).find(v => v.name === name);
    if (!row || !vm || (row.busy && !(row.busy === 'shutting down' && action === 'destroy'))) {
      return;
    }
    row.error.textContent = '';
    if (action === 'console') {
      toggleConsole(row, vm);
      return;
    }
    if (action === 'delete') {
      askDelete(row, vm);
      return;
    }
    const verb = ACTIONS.find(a => a.action === action) as (typeof ACTIONS)[number];
    const body = action === 'shutdown' ? { wait: true, timeout: 60 } : {};
    await run(row, vm, verb.doing, async () => {
      await requestAPI(`vms/${encodeURIComponent(name)}/${action}`, {
        method: 'POST',
        body: JSON.stringify(body)
      });
      return '';
    }, action);
  };

  /** Run one request for *row*: buttons greyed, elapsed time shown, one-line error. */
  const run = async (
    row: Row, vm: VM, doing: string, work: () => Promise<string>, action: string
  ): Promise<void> => {
    row.busy = doing.toLowerCase();
    row.li.dataset.busy = action;
    paintRow(row, vm);
    const since = performance.now();
    const tick = (): void => {
      row.progress.textContent = `${doing} ${vm.name}… ${elapsed(since)}`;
    };
    tick();
    const ticker = setInterval(tick, 500);
    let ok = true;
    let message = '';
    try {
      message = await work();
    } catch (error) {
      ok = false;
      message = errorLine(error);
      if (error instanceof APIError && error.code === 'vm_busy') {
        message += ' (another change to this VM is running; try again when it ends)';
      }
    } finally {
      clearInterval(ticker);
    }
    row.busy = '';
    delete row.li.dataset.busy;
    row.progress.textContent = ok ? message : '';
    row.error.textContent = ok ? '' : message;
    model.set('last_action', { vm: vm.name, action, ok, message });
    save();
    storageAt = -Infinity;
    await load();
    notice.textContent = rows.has(vm.name) ? '' : message;
  };

  const askDelete = (row: Row, vm: VM): void => {
    const disks = (vm.disks ?? []).map(d => d.path).filter((p): p is string => Boolean(p));
    const text = el('p', 'ks-vmm-confirmText');
    const withDisks = el('input', 'ks-vmm-withDisks');
    withDisks.type = 'checkbox';
    const label = el('label', 'ks-vmm-withDisksLabel');
    label.append(withDisks, ` Also delete its disk image${disks.length === 1 ? '' : 's'}`);
    const running = ACTIVE.has(vm.state);
    const say = (): void => {
      const stop = running ? ` It is ${STATE_LABEL[vm.state] ?? vm.state}: it will be forced off first.` : '';
      const what = !disks.length
        ? 'It has no disk images.'
        : withDisks.checked
          ? `Its disk images will be deleted too: ${disks.join(', ')}. This cannot be undone.`
          : `Its disk images are kept: ${disks.join(', ')} (then \`%vm disks\` lists them as orphans).`;
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
      row.buttons.get('delete')?.focus();
    };
    no.addEventListener('click', close);
    row.confirm.addEventListener('keydown', e => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        close();
      }
    });
    yes.addEventListener('click', () => {
      const disksToo = withDisks.checked;
      row.confirm.hidden = true;
      row.confirm.replaceChildren();
      row.closeConsole?.();
      row.closeConsole = null;
      void run(row, vm, 'Deleting', async () => {
        const q = `disks=${disksToo ? 1 : 0}&force=${running ? 1 : 0}`;
        const answer = await requestAPI<Deleted>(`vms/${encodeURIComponent(vm.name)}?${q}`, {
          method: 'DELETE'
        });
        const kept = answer.kept_disks.map(k => `${k.path} (${k.reason})`);
        return [
          `Deleted VM ${answer.name}.`,
          answer.removed_disks.length ? `Removed ${answer.removed_disks.join(', ')}.` : '',
          kept.length ? `Kept ${kept.join(', ')}.` : ''
        ].filter(Boolean).join(' ');
      }, 'delete');
    });
    row.confirm.setAttribute('role', 'group');
    row.confirm.setAttribute('aria-label', `Confirm deleting ${vm.name}`);
    row.confirm.replaceChildren(text, label, yes, no);
    row.confirm.hidden = false;
    no.focus();
  };

  const toggleConsole = (row: Row, vm: VM): void => {
    if (row.closeConsole) {
      row.closeConsole();
      row.closeConsole = null;
      row.consoleBox.replaceChildren();
      row.consoleBox.hidden = true;
    } else {
      const local = new LocalModel<ConsoleModel>({
        vm: vm.name, scale: 'fit', status: '', width: 0, height: 0,
        audio: false, volume: 1, muted: false
      });
      row.consoleBox.hidden = false;
      const cleanup = renderConsole(
        { model: local, el: row.consoleBox, signal } as unknown as RenderProps<ConsoleModel>
      );
      row.closeConsole = () => {
        cleanup();
        local.off();
      };
      row.consoleBox.querySelector<HTMLElement>('.ks-console')?.focus();
    }
    paintRow(row, vm);
  };

  // ------------------------------------------------------------ polling
  let timer: ReturnType<typeof setTimeout> | undefined;
  // poll only while someone can see it: in the viewport, in a visible page
  let onScreen = true;
  const observer =
    typeof IntersectionObserver === 'undefined'
      ? null
      : new IntersectionObserver(entries => {
          const was = onScreen;
          onScreen = entries.some(e => e.isIntersecting);
          root.dataset.polling = String(onScreen);
          if (onScreen && !was) {
            void load(); // scrolled back: fresh at once, not at the next tick
          }
        });
  observer?.observe(root);
  const tick = async (): Promise<void> => {
    if (!alive || signal?.aborted) {
      return;
    }
    if (root.isConnected && onScreen && !document.hidden) {
      await load();
    }
    const every = Math.max(0.5, Number(model.get('interval')) || 2) * 1000;
    timer = setTimeout(() => void tick(), every);
  };
  // a new interval counts from now (a long one set from Python must not wait out the old)
  const onInterval = (): void => {
    root.dataset.interval = String(model.get('interval'));
    clearTimeout(timer);
    const every = Math.max(0.5, Number(model.get('interval')) || 2) * 1000;
    timer = setTimeout(() => void tick(), every);
  };
  model.on('change:interval', onInterval);
  root.dataset.interval = String(model.get('interval'));
  const onMessage = (msg: { type?: string }): void => {
    if (msg?.type === 'refresh') {
      storageAt = -Infinity;
      void load();
    }
  };
  refresh.addEventListener('click', () => {
    storageAt = -Infinity;
    rows.forEach(r => (r.previewKey = '')); // a preview can change while the state does not
    void load();
  });
  model.on('msg:custom', onMessage);
  model.on('change:vms', draw);
  draw();
  void tick();

  const stop = (): void => {
    alive = false;
    seq++;
    clearTimeout(timer);
    observer?.disconnect();
    for (const row of rows.values()) {
      row.closeConsole?.();
      if (row.previewUrl) {
        URL.revokeObjectURL(row.previewUrl);
      }
    }
    closeForm?.();
    model.off('msg:custom', onMessage);
    model.off('change:vms', draw);
    model.off('change:interval', onInterval);
  };
  signal?.addEventListener('abort', stop);
  return stop;
}
