import type { RenderProps } from '@anywidget/types';

import { APIError, requestAPI } from './api';
import { ConsoleModel, renderConsole } from './console';
import { CreateVMModel, renderCreateVM } from './create_vm';
import { setThumbnailsVisible } from './events';
import { button, el, elapsed, errorLine, LocalModel, requestBlob } from './vm_common';
import {
  Action,
  ACTIONS,
  ACTIVE,
  Deleted,
  deleteDialog,
  makeRow,
  paintRowState,
  Row,
  Storage,
  VM
} from './vm_row';
import { LiveVMList } from './vm_list';
import { fetchStorage, storageText } from './vm_storage';
import css from './vm_widgets.css';

/**
 * The VM manager (`kernelswitch.widgets.VMManager`), after virt-manager's main
 * window: a live list (pushed by the server's events websocket: no polling),
 * live thumbnails (taken only while the list is on screen), per-VM actions
 * that fit the state, the console opened below a row, and the storage pool's
 * use. Everything comes from the server to the browser (events,
 * `vms/{name}/thumbnail`, `GET storage`), never through the kernel.
 */
export interface VMManagerModel {
  vms: VM[];
  storage: Record<string, unknown>;
  status: 'loading' | 'ready' | 'error';
  error: string;
  last_action: Record<string, unknown>;
}

/** What the list shows of each VM (a change of these is worth telling the kernel). */
function signature(vms: VM[]): string {
  return JSON.stringify(
    vms.map(v => [v.name, v.state, v.os_id, v.memory, v.vcpus, v.preview, v.disks?.map(d => d.path)])
  );
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
  let current = (model.get('vms') ?? []) as VM[];
  let synced = signature(current);
  let alive = true;

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
      { onCreated: () => void reload() }
    );
    formBox.querySelector<HTMLInputElement>('.ks-cvm-iso')?.focus();
  });

  // ------------------------------------------------------------ rows
  const paintRow = (row: Row, vm: VM): void => {
    paintRowState(row, vm);
    void paintPreview(row, vm);
  };

  /** The VM's thumbnail: live while it runs, its last screen once stopped. */
  const paintPreview = async (row: Row, vm: VM): Promise<void> => {
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
      const blob = await requestBlob(`vms/${encodeURIComponent(vm.name)}/thumbnail`, signal);
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
  };

  const draw = (): void => {
    const vms = current;
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
        row = makeRow(vm, action => void act(vm.name, action));
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
    storage.textContent = storageText(model.get('storage') as unknown as Storage);
  };

  // ------------------------------------------------------------ the live list
  const show = (): void => {
    if (!alive) {
      return;
    }
    if (vms.vms.length !== current.length) {
      void loadStorage(); // a VM came or went: its disks did too
    }
    current = vms.vms;
    // the kernel gets the list when what it shows changes
    const sig = signature(current);
    if (sig !== synced) {
      synced = sig;
      model.set('vms', current);
    }
    model.set('status', 'ready');
    model.set('error', '');
    save();
    draw();
  };
  const vms = new LiveVMList(show, error => {
    model.set('status', 'error');
    model.set('error', `Cannot list the VMs: ${errorLine(error)}`);
    save();
    draw();
  });
  const reload = async (): Promise<void> => {
    await vms.reload(signal);
    void loadStorage();
  };

  const loadStorage = async (): Promise<void> => {
    try {
      const pool = await fetchStorage(signal);
      if (alive) {
        model.set('storage', pool as unknown as Record<string, unknown>);
        save();
        drawStorage();
      }
    } catch (error) {
      storage.textContent = `Storage: ${errorLine(error)}`;
    }
  };

  // ------------------------------------------------------------ actions
  const act = async (name: string, action: Action): Promise<void> => {
    const row = rows.get(name);
    const vm = current.find(v => v.name === name);
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
    await reload();
    notice.textContent = rows.has(vm.name) ? '' : message;
  };

  const askDelete = (row: Row, vm: VM): void => {
    const running = ACTIVE.has(vm.state);
    deleteDialog(row, vm, disksToo => {
      closeConsole(row);
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
  };

  const closeConsole = (row: Row): void => {
    row.closeConsole?.();
    row.closeConsole = null;
    row.consoleBox.replaceChildren();
    row.consoleBox.hidden = true;
  };

  const toggleConsole = (row: Row, vm: VM): void => {
    if (row.closeConsole) {
      closeConsole(row);
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

  // ------------------------------------------------------------ visibility
  // thumbnails are taken by the server only while some list is on screen
  let onScreen = true;
  const visibility = (): void => {
    const visible = alive && onScreen && !document.hidden && root.isConnected;
    root.dataset.visible = String(visible);
    setThumbnailsVisible(root, visible);
  };
  const observer =
    typeof IntersectionObserver === 'undefined'
      ? null
      : new IntersectionObserver(entries => {
          onScreen = entries.some(e => e.isIntersecting);
          visibility();
        });
  observer?.observe(root);
  document.addEventListener('visibilitychange', visibility);
  const onMessage = (msg: { type?: string }): void => {
    if (msg?.type === 'refresh') {
      void reload();
    }
  };
  refresh.addEventListener('click', () => {
    rows.forEach(r => (r.previewKey = '')); // fetch every thumbnail again too
    void reload();
  });
  model.on('msg:custom', onMessage);
  draw();
  vms.start();
  void loadStorage();
  visibility();

  const stop = (): void => {
    alive = false;
    vms.stop();
    observer?.disconnect();
    document.removeEventListener('visibilitychange', visibility);
    setThumbnailsVisible(root, false);
    for (const row of rows.values()) {
      row.closeConsole?.();
      if (row.previewUrl) {
        URL.revokeObjectURL(row.previewUrl);
      }
    }
    closeForm?.();
    model.off('msg:custom', onMessage);
  };
  signal?.addEventListener('abort', stop);
  return stop;
}
