/**
 * The VM sidebar: every VM of every configured URI, as virt-manager's and
 * GNOME Boxes' main windows show them — a live thumbnail, the name, the OS by
 * name, state, memory and vCPUs — with the actions its state allows as
 * buttons (the rest in the right-click menu, which the commands fill).
 * Double-click or Enter opens the console in a tab.
 *
 * Live from the VM store (events websocket): no polling. Thumbnails are
 * fetched when a `thumbnail` event says a new one exists (vm_sidebar_thumbs.ts); shut-off VMs show
 * their last screen dimmed. A running VM's row has live graphs (CPU, memory,
 * disk, network) from the events' `stats` messages (vm_sidebar_stats.ts).
 * With several hosts (libvirt URIs), VMs are grouped under their host's name
 * and a host that is down says why; every call about a VM names its host
 * (`?uri=`, and `{name, uri}` to the commands).
 */

import {
  CommandToolbarButton, LabIcon, SidePanel, ellipsesIcon, pauseIcon, runIcon, terminalIcon
} from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { STATE_LABEL, humanSize } from '../../widgets/lib/shell';
import { busyWith, onBusyChange } from './vm_actions';
import { CommandIDs, vmArgs } from './vm_commands';
import { powerIcon, vmIcon } from './vm_icons';
import { SidebarStats } from './vm_sidebar_stats';
import { paintThumb, ThumbRow } from './vm_sidebar_thumbs';
import { hostLabel } from './vm_store';
import type { IThumbnail, IVMRecord, VMStore } from './vm_store';

/**
 * The buttons a row shows for a state: the everyday actions, the first with
 * its word, the others as icons with tooltips (the sidebar is 250 px wide);
 * the rest is in "More" (the right-click menu).
 */
const BUTTONS: Record<string, [string, string, LabIcon, boolean][]> = {
  running: [
    [CommandIDs.console, 'Console', vmIcon, true],
    [CommandIDs.serial, 'Serial terminal', terminalIcon, false],
    [CommandIDs.suspend, 'Pause', pauseIcon, false],
    [CommandIDs.shutdown, 'Shut down', powerIcon, false]
  ],
  paused: [
    [CommandIDs.console, 'Console', vmIcon, true],
    [CommandIDs.resume, 'Resume', runIcon, true],
    [CommandIDs.serial, 'Serial terminal', terminalIcon, false]
  ],
  shutoff: [[CommandIDs.start, 'Start', runIcon, true]]
};
BUTTONS.blocked = BUTTONS.running;
BUTTONS['shutting-down'] = [[CommandIDs.console, 'Console', vmIcon, true]];

/** "256 MiB", "1.5 GiB": memory as virt-manager writes it. */
function memory(bytes: number | null): string {
  return bytes ? humanSize(bytes).replace(/([KMGT])$/, ' $1iB') : 'memory ?';
}

interface IRow extends ThumbRow {
  name: HTMLElement;
  os: HTMLElement;
  meta: HTMLElement;
  sizes: HTMLElement;
  actions: HTMLElement;
  busy: HTMLElement;
  sig: string;
}

export class VMSidebar extends SidePanel {
  private _list = document.createElement('ul');
  private _note = document.createElement('div');
  private _hosts = document.createElement('div');
  private _rows = new Map<string, IRow>();
  private _stats = new SidebarStats();
  private _stopBusy: () => void;

  constructor(
    private _store: VMStore,
    private _commands: CommandRegistry,
    private _onVisible: (visible: boolean) => void
  ) {
    super({ content: new Panel() }); // one list, not accordion sections
    this.addClass('ks-VMSidebar');
    const title = new Widget();
    title.addClass('ks-VMSidebar-title');
    const h2 = document.createElement('h2');
    h2.className = 'jp-text-truncated';
    h2.textContent = 'Virtual machines';
    title.node.append(h2);
    this.header.addWidget(title);
    this.toolbar.addItem(
      'new-vm',
      new CommandToolbarButton({ commands: _commands, id: CommandIDs.create, label: 'New VM' })
    );
    const body = new Widget();
    body.addClass('ks-VMSidebar-body');
    this._list.className = 'ks-VMSidebar-list';
    this._list.setAttribute('aria-label', 'Virtual machines');
    this._note.className = 'ks-VMSidebar-note';
    this._hosts.className = 'ks-VMSidebar-hosts';
    body.node.append(this._hosts, this._list, this._note);
    this.addWidget(body);
    _store.changed.connect(this._render, this);
    _store.thumbnail.connect(this._onThumbnail, this);
    this._stopBusy = onBusyChange(() => this._render());
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopBusy();
    this._stats.dispose();
    this._store.changed.disconnect(this._render, this);
    this._store.thumbnail.disconnect(this._onThumbnail, this);
    for (const row of this._rows.values()) {
      if (row.thumbUrl) {
        URL.revokeObjectURL(row.thumbUrl);
      }
    }
    super.dispose();
  }

  // thumbnails are taken only while some VM sidebar is on screen (a restored
  // layout attaches it already visible: no show message then)
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._setVisible(this.isVisible);
  }

  protected onBeforeDetach(msg: Message): void {
    this._setVisible(false);
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._setVisible(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._setVisible(false);
  }

  // thumbnails and stats are taken by the server only while some list shows them
  private _setVisible(visible: boolean): void {
    this._onVisible(visible);
    this._stats.setVisible(visible);
  }

  private _render(): void {
    const vms = this._store.list();
    const hosts = this._store.hosts();
    this.node.dataset.status = this._store.status;
    const down = hosts.filter(h => h.state === 'down');
    this._hosts.replaceChildren(
      ...down.map(h => {
        const line = document.createElement('div');
        line.className = 'ks-VMSidebar-hostDown';
        line.textContent = `${hostLabel(h.uri)} is not reachable${h.reason ? `: ${h.reason}` : ''}`;
        line.title = h.uri;
        return line;
      })
    );
    if (this._store.status === 'connecting') {
      this._note.textContent = 'Connecting to the server…';
    } else if (!vms.length) {
      this._note.textContent = 'No virtual machines yet. “New VM” makes one from an installer ISO.';
    } else {
      this._note.textContent = '';
    }
    const several = new Set(vms.map(v => v.uri)).size > 1;
    const seen = new Set<string>();
    let lastUri = '';
    const items: HTMLElement[] = [];
    for (const vm of vms) {
      if (several && vm.uri !== lastUri) {
        const h = document.createElement('li');
        h.className = 'ks-VMSidebar-uri';
        h.textContent = hostLabel(vm.uri);
        h.title = vm.uri;
        items.push(h);
        lastUri = vm.uri;
      }
      const key = `${vm.uri}\u0000${vm.name}`;
      seen.add(key);
      let row = this._rows.get(key);
      if (!row) {
        row = this._makeRow(vm);
        this._rows.set(key, row);
      }
      this._paint(row, vm);
      items.push(row.li);
    }
    for (const [key, row] of this._rows) {
      if (!seen.has(key)) {
        if (row.thumbUrl) {
          URL.revokeObjectURL(row.thumbUrl);
        }
        this._stats.drop({ name: row.li.dataset.ksVm ?? '', uri: row.li.dataset.uri ?? '' });
        this._rows.delete(key);
      }
    }
    this._list.replaceChildren(...items);
  }

  private _makeRow(vm: IVMRecord): IRow {
    const li = document.createElement('li');
    li.className = 'ks-VMSidebar-vm';
    li.tabIndex = 0;
    li.dataset.ksVm = vm.name;
    li.dataset.uri = vm.uri;
    li.setAttribute('aria-label', `VM ${vm.name}`);
    const thumb = document.createElement('div');
    thumb.className = 'ks-VMSidebar-thumb';
    const img = document.createElement('img');
    img.alt = `Screen of ${vm.name}`;
    img.hidden = true;
    const placeholder = document.createElement('div');
    placeholder.className = 'ks-VMSidebar-placeholder';
    placeholder.append(vmIcon.element({ tag: 'span' }));
    thumb.append(img, placeholder);
    const info = document.createElement('div');
    info.className = 'ks-VMSidebar-info';
    const name = document.createElement('div');
    name.className = 'ks-VMSidebar-name';
    name.textContent = vm.name;
    name.title = vm.name;
    const os = document.createElement('div');
    os.className = 'ks-VMSidebar-os';
    const meta = document.createElement('div');
    meta.className = 'ks-VMSidebar-meta';
    const sizes = document.createElement('div');
    sizes.className = 'ks-VMSidebar-sizes';
    info.append(name, os, meta, sizes);
    const actions = document.createElement('div');
    actions.className = 'ks-VMSidebar-actions';
    actions.setAttribute('role', 'toolbar');
    actions.setAttribute('aria-label', `Actions for ${vm.name}`);
    const busy = document.createElement('div');
    busy.className = 'ks-VMSidebar-busy';
    busy.setAttribute('aria-live', 'polite');
    li.append(thumb, info, this._stats.make(vm), actions, busy);
    const open = (): void => void this._commands.execute(CommandIDs.console, vmArgs(vm));
    thumb.title = `Open the console of ${vm.name}`;
    thumb.addEventListener('click', open); // as in GNOME Boxes: the screen opens it
    li.addEventListener('dblclick', e => {
      if (!(e.target as HTMLElement).closest('button')) {
        open();
      }
    });
    li.addEventListener('keydown', e => {
      if (e.key === 'Enter' && e.target === li) {
        open();
      }
    });
    return { li, img, placeholder, name, os, meta, sizes, actions, busy, sig: '', thumbKey: '', thumbUrl: '' };
  }

  private _paint(row: IRow, vm: IVMRecord): void {
    const busy = busyWith(vm);
    const sig = JSON.stringify([vm.state, vm.os_name, vm.os_id, vm.memory, vm.vcpus, busy]);
    if (sig !== row.sig) {
      row.sig = sig;
      const state = STATE_LABEL[vm.state] ?? vm.state;
      row.li.dataset.state = vm.state;
      row.os.textContent = vm.os_name || 'OS unknown';
      row.os.title = vm.os_id ?? 'No OS recorded for this VM';
      row.meta.replaceChildren();
      const dot = document.createElement('span');
      dot.className = 'ks-VMSidebar-dot';
      const stateEl = document.createElement('span');
      stateEl.className = 'ks-VMSidebar-state';
      stateEl.textContent = state;
      const cpus = `${vm.vcpus ?? '?'} vCPU${vm.vcpus === 1 ? '' : 's'}`;
      row.meta.append(dot, stateEl);
      row.sizes.textContent = `${memory(vm.memory)} · ${cpus}`;
      row.busy.textContent = busy ? `${busy}…` : '';
      row.li.setAttribute('aria-busy', String(Boolean(busy)));
      this._paintActions(row, vm, Boolean(busy));
    }
    this._stats.update(vm);
    void paintThumb(row, vm);
  }

  private _paintActions(row: IRow, vm: IVMRecord, busy: boolean): void {
    const buttons = (BUTTONS[vm.state] ?? []).map(([id, text, icon, worded]) =>
      this._button(id, text, icon, worded, vm, busy)
    );
    const more = this._button('', 'More', ellipsesIcon, false, vm, false);
    more.classList.add('ks-VMSidebar-more');
    more.title = `More actions for ${vm.name}`;
    more.setAttribute('aria-label', `More actions for ${vm.name}`);
    more.setAttribute('aria-haspopup', 'menu');
    more.addEventListener('click', () => {
      // the right-click menu, opened below the button (the commands fill it)
      const r = more.getBoundingClientRect();
      more.dispatchEvent(
        new MouseEvent('contextmenu', {
          bubbles: true, cancelable: true, clientX: r.left, clientY: r.bottom, button: 2
        })
      );
    });
    row.actions.replaceChildren(...buttons, more);
  }

  private _button(
    id: string, text: string, icon: LabIcon, worded: boolean, vm: IVMRecord, busy: boolean
  ): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `ks-VMSidebar-act${worded ? ' ks-mod-worded' : ''}`;
    b.append(icon.element({ tag: 'span', className: 'ks-VMSidebar-actIcon' }));
    if (worded) {
      const t = document.createElement('span');
      t.textContent = text;
      b.append(t);
    }
    if (id) {
      const args = vmArgs(vm);
      b.dataset.command = id;
      b.title = `${this._commands.caption(id, args) || text}`;
      b.setAttribute('aria-label', `${text} ${vm.name}`);
      b.disabled = busy || !this._commands.isEnabled(id, args);
      b.addEventListener('click', () => void this._commands.execute(id, args));
    }
    return b;
  }

  // ------------------------------------------------------------ thumbnails
  private _onThumbnail(_: VMStore, t: IThumbnail): void {
    const row = this._rows.get(`${t.uri}\u0000${t.name}`);
    const vm = this._store.get(t.name, t.uri);
    if (row && vm) {
      void paintThumb(row, vm);
    }
  }
}
