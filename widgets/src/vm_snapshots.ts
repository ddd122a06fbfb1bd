/**
 * The Snapshots panel: a VM's internal snapshots (oldest first, with the time
 * taken and the state it was in), take one, revert to one, delete one.
 * Revert and delete ask first.
 */

import { requestAPI } from './api';
import { confirmIn } from './confirm';
import { button, el, errorLine } from './vm_common';
import { Panel, PanelCtx, vmPath } from './vm_panel';
import { STATE_LABEL, VM } from './vm_row';

interface Snapshot {
  name: string;
  created: string;
  state: string | null;
  description: string | null;
  current: boolean;
}

function defaultName(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `snap-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function snapshotsPanel(ctx: PanelCtx): Panel {
  const root = el('div', 'ks-vmm-panel ks-vmm-snapshots');
  const table = el('table', 'ks-vmm-table');
  const head = el('tr');
  ['Snapshot', 'Taken', 'VM was', ''].forEach(h => head.append(el('th', '', h)));
  const body = el('tbody');
  table.append(el('thead'), body);
  table.tHead?.append(head);
  const empty = el('p', 'ks-vmm-empty', 'No snapshots yet.');
  const confirm = el('div', 'ks-vmm-confirm');
  confirm.hidden = true;
  const form = el('div', 'ks-vmm-formRow');
  const nameIn = el('input', 'ks-vmm-input ks-vmm-snapName jp-mod-styled');
  nameIn.setAttribute('aria-label', 'Snapshot name');
  nameIn.value = defaultName();
  const take = button('Take snapshot', 'ks-vmw-btn ks-vmm-snapTake', 'Save the disks (and memory, if running) now');
  form.append(el('label', 'ks-vmm-fieldLabel', 'New snapshot'), nameIn, take);
  const err = el('div', 'ks-vmm-error');
  root.append(table, empty, confirm, form, err);
  let alive = true;

  const load = async (): Promise<void> => {
    try {
      const answer = await requestAPI<{ snapshots: Snapshot[] }>(vmPath(ctx.vm(), '/snapshots'), { signal: ctx.signal });
      if (alive) {
        draw(answer.snapshots);
        err.textContent = '';
      }
    } catch (e) {
      err.textContent = `Cannot list the snapshots: ${errorLine(e)}`;
    }
  };

  const act = (doing: string, action: string, req: () => Promise<unknown>, said: string): void => {
    void ctx.run(doing, async () => {
      await req();
      await load();
      return said;
    }, action);
  };

  const draw = (snaps: Snapshot[]): void => {
    empty.hidden = snaps.length > 0;
    table.hidden = !snaps.length;
    body.replaceChildren(...snaps.map(s => {
      const tr = el('tr', s.current ? 'ks-vmm-current' : '');
      tr.dataset.snapshot = s.name;
      const name = el('td', 'ks-vmm-snapCell', s.name);
      if (s.current) {
        name.append(el('span', 'ks-vmm-badge', 'current'));
      }
      if (s.description) {
        name.title = s.description;
      }
      const state = STATE_LABEL[s.state ?? ''] ?? s.state ?? '?';
      const cell = el('td', 'ks-vmm-rowButtons');
      const revert = button('Revert…', 'ks-vmw-btn ks-vmm-snapRevert', `Bring ${ctx.vm().name} back to ${s.name}`);
      const del = button('Delete…', 'ks-vmw-btn ks-vmm-snapDelete', `Delete snapshot ${s.name}`);
      const snap = `/snapshots/${encodeURIComponent(s.name)}`;
      const path = vmPath(ctx.vm(), snap);
      revert.addEventListener('click', () => confirmIn(confirm, {
        text: `Revert ${ctx.vm().name} to snapshot “${s.name}” (${when(s.created)})? ` +
          `Its disks${s.state === 'running' ? ', memory and running state' : ' and power state'} ` +
          'go back to that moment; changes since are lost unless you take a snapshot first.',
        accept: 'Revert', danger: true, returnFocus: revert,
        onAccept: () => act('Reverting', 'revert', () => requestAPI(vmPath(ctx.vm(), `${snap}/revert`), { method: 'POST', body: '{}' }),
          `Reverted to ${s.name}.`)
      }));
      del.addEventListener('click', () => confirmIn(confirm, {
        text: `Delete snapshot “${s.name}” of ${ctx.vm().name}? The VM itself is not changed.`,
        accept: 'Delete snapshot', danger: true, returnFocus: del,
        onAccept: () => act('Deleting snapshot', 'snapshot-delete', () => requestAPI(path, { method: 'DELETE' }),
          `Deleted snapshot ${s.name}.`)
      }));
      cell.append(revert, del);
      tr.append(name, el('td', '', when(s.created)), el('td', '', state), cell);
      return tr;
    }));
  };

  take.addEventListener('click', () => {
    const name = nameIn.value.trim();
    act('Taking snapshot', 'snapshot', () => requestAPI(vmPath(ctx.vm(), '/snapshots'), {
      method: 'POST', body: JSON.stringify({ name })
    }), `Took snapshot ${name}.`);
    nameIn.value = defaultName();
  });
  nameIn.addEventListener('keydown', e => {
    if (e.key === 'Enter') {
      take.click();
    }
  });

  return {
    root,
    paint: (_vm: VM) => undefined,
    open: () => void load(),
    close: () => {
      alive = false;
    }
  };
}
