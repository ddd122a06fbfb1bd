/**
 * A VM's details under its row, after virt-manager's VM window: tabs for
 * Snapshots, Hardware (edit and clone) and Disc (eject, insert). Each tab is
 * a panel of its own file; this only switches between them.
 */

import { el } from './vm_common';
import { editPanel } from './vm_edit';
import { mediaPanel } from './vm_media';
import { Panel, PanelCtx } from './vm_panel';
import { snapshotsPanel } from './vm_snapshots';
import { VM } from './vm_row';

const TABS: { id: string; label: string; make: (ctx: PanelCtx) => Panel }[] = [
  { id: 'snapshots', label: 'Snapshots', make: snapshotsPanel },
  { id: 'hardware', label: 'Hardware', make: editPanel },
  { id: 'disc', label: 'Disc', make: mediaPanel }
];

export interface Details {
  root: HTMLElement;
  paint(vm: VM): void;
  close(): void;
}

export function makeDetails(ctx: PanelCtx, first = 'snapshots'): Details {
  const root = el('div', 'ks-vmm-details');
  const bar = el('div', 'ks-vmm-tabs');
  bar.setAttribute('role', 'tablist');
  bar.setAttribute('aria-label', `Details of ${ctx.vm().name}`);
  const body = el('div', 'ks-vmm-tabBody');
  root.append(bar, body);
  const panels = new Map<string, Panel>();
  const tabs = new Map<string, HTMLButtonElement>();
  let current = '';

  const show = (id: string): void => {
    current = id;
    for (const [tid, b] of tabs) {
      b.setAttribute('aria-selected', String(tid === id));
      b.classList.toggle('ks-mod-current', tid === id);
      b.tabIndex = tid === id ? 0 : -1;
    }
    let panel = panels.get(id);
    if (!panel) {
      panel = (TABS.find(t => t.id === id) ?? TABS[0]).make(ctx);
      panels.set(id, panel);
    }
    panel.paint(ctx.vm());
    body.replaceChildren(panel.root);
    panel.open();
  };

  for (const t of TABS) {
    const b = el('button', 'ks-vmm-dtab', t.label);
    b.type = 'button';
    b.dataset.tab = t.id;
    b.setAttribute('role', 'tab');
    b.addEventListener('click', () => show(t.id));
    b.addEventListener('keydown', e => {
      const i = TABS.findIndex(x => x.id === current);
      const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (step) {
        const next = TABS[(i + step + TABS.length) % TABS.length].id;
        show(next);
        tabs.get(next)?.focus();
      }
    });
    tabs.set(t.id, b);
    bar.append(b);
  }
  show(first);

  return {
    root,
    paint: vm => panels.get(current)?.paint(vm),
    close: () => panels.forEach(p => p.close())
  };
}
