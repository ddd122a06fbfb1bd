/**
 * Live graphs in the VM sidebar's rows (CPU, memory, disk and network, as
 * virt-manager's list shows them): the notebook manager's own sparklines and
 * stats feed (widgets/src/vm_stats.ts through the shell bundle), fed by the
 * events websocket's `stats` messages. No polling: the server samples only
 * while some page says it watches, and the sidebar says so only while it is on
 * screen. A row that appears first fills its graphs once from
 * `GET vms/NAME/stats?uri=URI`.
 */

import { ACTIVE, makeStatsView, paintStats, StatsFeed } from '../../widgets/lib/shell';
import type { StatsView } from '../../widgets/lib/shell';
import type { IVMRecord } from './vm_store';

/** A VM's key in the stats feed: `URI\u001fNAME` (widgets' vmKey). */
function key(uri: string | undefined, name: string): string {
  return uri ? `${uri}\u001f${name}` : name;
}

export class SidebarStats {
  // the feed names a VM by its key (URI\u001fNAME)
  private _feed = new StatsFeed(k => this._repaint(k));
  private _rows = new Map<string, { view: StatsView; vm: IVMRecord }>();
  private _visible = false;

  constructor() {
    this._feed.start();
  }

  /** The graphs of a new row (hidden until it has samples). */
  make(vm: IVMRecord): HTMLElement {
    const view = makeStatsView();
    view.box.classList.add('ks-VMSidebar-stats');
    this._rows.set(key(vm.uri, vm.name), { view, vm });
    return view.box;
  }

  /** A row was painted: a running VM's graphs fill (once), any other's empty. */
  update(vm: IVMRecord): void {
    const row = this._rows.get(key(vm.uri, vm.name));
    if (!row) {
      return;
    }
    row.vm = vm;
    if (ACTIVE.has(vm.state)) {
      if (this._visible) {
        void this._feed.fill(vm.name, undefined, vm.uri);
      }
      paintStats(row.view, this._feed.samples(key(vm.uri, vm.name)));
    } else {
      this._feed.forget(key(vm.uri, vm.name));
      paintStats(row.view, []);
    }
  }

  /** A row went away (its VM was deleted). */
  drop(vm: { name: string; uri: string }): void {
    this._rows.delete(key(vm.uri, vm.name));
    this._feed.forget(key(vm.uri, vm.name));
  }

  /** The sidebar is on screen (or not): the server samples only while someone watches. */
  setVisible(visible: boolean): void {
    if (visible === this._visible) {
      return;
    }
    this._visible = visible;
    this._feed.watch(visible);
    if (visible) {
      for (const { vm } of this._rows.values()) {
        this.update(vm);
      }
    }
  }

  dispose(): void {
    this._feed.stop();
    this._rows.clear();
  }

  private _repaint(k: string): void {
    const row = this._rows.get(k);
    if (row && ACTIVE.has(row.vm.state)) {
      paintStats(row.view, this._feed.samples(k));
    }
  }
}
