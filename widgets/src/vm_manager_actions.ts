/**
 * What a click in a VM manager row does: the run verbs (asking first where a
 * guest may lose work), delete (the row's dialog), and the row's panels below
 * it (Details, the console). The manager (vm_manager.ts) keeps the list; this
 * runs one request per row at a time, shows its progress and one-line error,
 * and reloads the list after.
 */

import { APIError, requestAPI } from './api';
import { confirmIn } from './confirm';
import { mountConsole } from './console_mount';
import { elapsed, errorLine } from './vm_common';
import { makeDetails } from './vm_details';
import { ACTIONS, ACTIVE, Deleted, deleteDialog, Row, RowAction, uriQuery, VM, vmKey } from './vm_row';

/** What the actions need of the manager. */
export interface ManagerView {
  signal?: AbortSignal;
  rows: Map<string, Row>;
  /** the list as shown now */
  current: () => VM[];
  paintRow: (row: Row, vm: VM) => void;
  /** fetch the list again (after an action: records carry sizes events do not) */
  reload: () => Promise<void>;
  /** where the answer goes when its row is gone (a delete's) */
  notice: HTMLElement;
  /** tell the kernel how the last action went (the widget's `last_action`) */
  report: (last: Record<string, unknown>) => void;
}

export interface RowActions {
  act: (key: string, action: RowAction) => Promise<void>;
  closeConsole: (row: Row) => void;
}

export function rowActions(view: ManagerView): RowActions {
  const { signal, rows, notice } = view;
  const find = (key: string): VM | undefined => view.current().find(v => vmKey(v) === key);

  const act = async (key: string, action: RowAction, confirmed = false): Promise<void> => {
    const row = rows.get(key);
    const vm = find(key);
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
    if (action === 'details') {
      toggleDetails(row, vm);
      return;
    }
    const name = vm.name;
    if ((action === 'destroy' || action === 'reboot') && !confirmed) {
      confirmIn(row.confirm, {
        text: action === 'destroy'
          ? `Force ${name} off? This pulls the plug: the guest gets no chance to save its work.`
          : `Reboot ${name}? The guest is asked to restart (ACPI); unsaved work in it may be lost.`,
        accept: action === 'destroy' ? 'Force off' : 'Reboot',
        danger: action === 'destroy',
        returnFocus: row.buttons.get(action),
        onAccept: () => void act(key, action, true)
      });
      return;
    }
    const verb = ACTIONS.find(a => a.action === action) as (typeof ACTIONS)[number];
    const body = action === 'shutdown' ? { wait: true, timeout: 60 } : {};
    await run(row, vm, verb.doing, async () => {
      await requestAPI(`vms/${encodeURIComponent(name)}/${action}${uriQuery(vm)}`, {
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
    view.paintRow(row, vm);
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
    view.report({ vm: vm.name, uri: vm.uri ?? '', action, ok, message });
    await view.reload();
    notice.textContent = rows.has(vmKey(vm)) ? '' : message;
  };

  const askDelete = (row: Row, vm: VM): void => {
    const running = ACTIVE.has(vm.state);
    deleteDialog(row, vm, disksToo => {
      closeConsole(row);
      void run(row, vm, 'Deleting', async () => {
        const q = `disks=${disksToo ? 1 : 0}&force=${running ? 1 : 0}`;
        const answer = await requestAPI<Deleted>(`vms/${encodeURIComponent(vm.name)}?${q}${uriQuery(vm, '&')}`, {
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

  const toggleDetails = (row: Row, vm: VM): void => {
    if (row.details) {
      row.details.close();
      row.details = null;
      row.detailsBox.replaceChildren();
      row.detailsBox.hidden = true;
    } else {
      const now = (): VM => find(vmKey(vm)) ?? vm;
      row.details = makeDetails({
        vm: now,
        signal,
        run: async (doing, work, action) => {
          if (!row.busy) {
            await run(row, now(), doing, work, action);
          }
        }
      });
      row.detailsBox.replaceChildren(row.details.root);
      row.detailsBox.hidden = false;
    }
    view.paintRow(row, vm);
  };

  const closeConsole = (row: Row): void => {
    row.closeConsole?.();
    row.closeConsole = null;
    row.consoleBox.replaceChildren();
    row.consoleBox.hidden = true;
  };

  /** The console below the row: the code a notebook cell's console runs, on a page model. */
  const toggleConsole = (row: Row, vm: VM): void => {
    if (row.closeConsole) {
      closeConsole(row);
    } else {
      row.consoleBox.hidden = false;
      const mounted = mountConsole(row.consoleBox, { name: vm.name, uri: vm.uri ?? '' });
      row.closeConsole = mounted.dispose;
      mounted.focus();
    }
    view.paintRow(row, vm);
  };

  return { act: (key, action) => act(key, action), closeConsole };
}
