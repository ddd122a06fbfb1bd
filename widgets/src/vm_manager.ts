import type { RenderProps } from '@anywidget/types';

import { setThumbnailsVisible } from './events';
import { button, el, errorLine } from './vm_common';
import { ACTIVE, makeRow, paintRowState, Row, RUNNING, VM, vmKey } from './vm_row';
import { HostHeads } from './vm_host_heads';
import { LiveVMList } from './vm_list';
import { rowActions } from './vm_manager_actions';
import { newFormToggle } from './vm_new_form';
import { paintPreview, whileOnScreen } from './vm_preview';
import { paintStats, StatsFeed } from './vm_stats';
import { fetchStorage, paintStorage, StorageState } from './vm_storage';
import css from './vm_widgets.css';

/**
 * The VM manager (`kernelswitch.widgets.VMManager`), after virt-manager's main
 * window: a live list (pushed by the server's events websocket: no polling),
 * live thumbnails (taken only while the list is on screen), per-VM actions
 * that fit the state (vm_manager_actions.ts), the console opened below a row,
 * and each host's storage pool (vm_storage.ts). Everything comes from the server to the browser (events,
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
    vms.map(v => [v.name, v.uri, v.state, v.os_id, v.memory, v.vcpus, v.preview, v.disks?.map(d => d.path)])
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
  let hostsSeen = '';
  let alive = true;

  const save = (): void => {
    try {
      model.save_changes();
    } catch {
      // the kernel is gone: the view keeps working over REST
    }
  };

  // ------------------------------------------------------------ the create form, inline
  const closeForm = newFormToggle(newBtn, formBox, signal, () => void reload());

  // ------------------------------------------------------------ rows
  const paintRow = (row: Row, vm: VM): void => {
    const running = RUNNING.has(vm.state);
    if (!running) {
      row.upSince = 0;
      row.upKey = undefined;
    } else if (vm.uptime !== row.upKey || !row.upSince) {
      row.upKey = vm.uptime;
      row.upSince = Date.now() - (vm.uptime ?? 0) * 1000;
    }
    paintRowState(row, vm);
    void paintPreview(row, vm, signal);
    const key = vmKey(vm);
    if (ACTIVE.has(vm.state)) {
      void stats.fill(vm.name, signal, vm.uri);
    } else {
      stats.forget(key);
    }
    paintStats(row.stats, ACTIVE.has(vm.state) ? stats.samples(key) : []);
  };
  const stats = new StatsFeed(key => {
    const row = rows.get(key);
    const vm = current.find(v => vmKey(v) === key);
    if (row && vm && ACTIVE.has(vm.state)) {
      paintStats(row.stats, stats.samples(key));
    }
  });
  const heads = new HostHeads();

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
    // several hosts: grouped under a heading each, in the configured order
    const groups = heads.groups(vmList.hosts, vms);
    root.dataset.hosts = String(heads.count);
    // each item moved only when it is out of place: a moved element loses the focus
    let prev: Element | null = null;
    const place = (item: Element): void => {
      const want: ChildNode | null = prev ? prev.nextSibling : list.firstChild;
      if (want !== item) {
        list.insertBefore(item, want);
      }
      prev = item;
    };
    for (const { head, vms: mine } of groups) {
      if (head) {
        place(head);
      }
      for (const vm of mine) {
        const key = vmKey(vm);
        seen.add(key);
        let row = rows.get(key);
        if (!row) {
          row = makeRow(vm, action => void act(key, action));
          rows.set(key, row);
        }
        row.grouped = Boolean(head);
        paintRow(row, vm);
        place(row.li); // the server's order (by name)
      }
    }
    for (const [key, row] of rows) {
      if (!seen.has(key) && !row.busy) {
        row.closeConsole?.();
        row.details?.close();
        stats.forget(key);
        if (row.previewUrl) {
          URL.revokeObjectURL(row.previewUrl);
        }
        row.li.remove();
        rows.delete(key);
      }
    }
    drawStorage();
  };

  const drawStorage = (): void => {
    paintStorage(storage, model.get('storage') as unknown as StorageState, (what, work) => {
      storage.dataset.busy = 'true';
      void work().then(said => {
        notice.textContent = said;
      }, error => {
        notice.textContent = errorLine(error);
      }).finally(() => {
        delete storage.dataset.busy;
        void loadStorage();
      });
      notice.textContent = `${what}…`;
    });
  };

  // ------------------------------------------------------------ the live list
  const show = (): void => {
    if (!alive) {
      return;
    }
    const hosts = vmList.hosts.map(h => `${h.uri} ${h.state}`).join('\n');
    if (vmList.vms.length !== current.length || hosts !== hostsSeen) {
      hostsSeen = hosts;
      void loadStorage(); // a VM came or went (its disks did too), or a host did
    }
    current = vmList.vms;
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
  const vmList = new LiveVMList(show, error => {
    model.set('status', 'error');
    model.set('error', `Cannot list the VMs: ${errorLine(error)}`);
    save();
    draw();
  });
  const reload = async (): Promise<void> => {
    await vmList.reload(signal);
    void loadStorage();
  };

  // a host that is up but whose pool could not be read (its daemon still
  // starting, a dropped link) is asked again a few times (5, 10, 20 s), not
  // left saying so for good, nor polled: a host event asks again anyway
  let retry: ReturnType<typeof setTimeout> | undefined;
  let retries = 0;
  // only the latest load is drawn: an older one (started before the host list
  // arrived, say) that answers last must not put back what it saw
  let loads = 0;
  const loadStorage = async (): Promise<void> => {
    const load = ++loads;
    try {
      const pool = await fetchStorage(vmList.hosts, signal);
      if (alive && load === loads) {
        model.set('storage', pool as unknown as Record<string, unknown>);
        save();
        drawStorage();
        const up = new Set(vmList.hosts.filter(h => h.state !== 'down').map(h => h.uri));
        if (!pool.hosts?.some(h => h.error && up.has(h.uri))) {
          retries = 0;
        } else if (!retry && retries < 3) {
          retry = setTimeout(() => {
            retry = undefined;
            void loadStorage();
          }, 5000 * 2 ** retries++);
        }
      }
    } catch (error) {
      if (load === loads) {
        storage.textContent = `Storage: ${errorLine(error)}`;
      }
    }
  };

  // ------------------------------------------------------------ actions
  const { act, closeConsole } = rowActions({
    signal, rows, notice, paintRow, reload,
    current: () => current,
    report: last => {
      model.set('last_action', last);
      save();
    }
  });

  // ------------------------------------------------------------ visibility
  // thumbnails and stats are taken by the server only while some list is on screen
  const stopWatching = whileOnScreen(root, visible => {
    visible = visible && alive;
    root.dataset.visible = String(visible);
    setThumbnailsVisible(root, visible);
    stats.watch(visible);
  });
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
  stats.start();
  draw();
  vmList.start();
  // the uptime in each running row's line moves on
  const ticker = setInterval(() => {
    for (const vm of current) {
      const row = rows.get(vmKey(vm));
      if (row && RUNNING.has(vm.state)) {
        paintRowState(row, vm);
      }
    }
  }, 30_000);
  void loadStorage();

  const stop = (): void => {
    alive = false;
    vmList.stop();
    stats.stop();
    clearInterval(ticker);
    clearTimeout(retry);
    stopWatching();
    setThumbnailsVisible(root, false);
    stats.watch(false);
    for (const row of rows.values()) {
      closeConsole(row);
      row.details?.close();
      if (row.previewUrl) {
        URL.revokeObjectURL(row.previewUrl);
      }
    }
    closeForm();
    model.off('msg:custom', onMessage);
  };
  signal?.addEventListener('abort', stop);
  return stop;
}
