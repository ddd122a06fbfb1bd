/**
 * The Hardware panel: memory, vCPUs, autostart, add a disk, grow a disk, and
 * Clone. Apply sends only what was changed (`PATCH vms/NAME`); the answer
 * says per change whether it applies now or from the next boot, and the
 * panel shows that line.
 */

import { requestAPI } from './api';
import { button, el, humanSize } from './vm_common';
import { Panel, PanelCtx, vmPath } from './vm_panel';
import { ACTIVE, VM } from './vm_row';

interface Change {
  what: string;
  before: unknown;
  after: unknown;
  applies: string;
  note: string;
}

function shown(what: string, v: unknown): string {
  if (v === null || v === undefined) {
    return 'none';
  }
  if (typeof v === 'object') {
    const o = v as { capacity?: number };
    return o.capacity ? humanSize(o.capacity) : JSON.stringify(v);
  }
  if (typeof v === 'boolean') {
    return v ? 'on' : 'off';
  }
  return what === 'cpus' ? String(v) : typeof v === 'number' ? humanSize(v) : String(v);
}

/** "memory 1G → 2G: next boot (shut the VM down …)" */
export function changeLine(c: Change): string {
  const what = c.what === 'cpus' ? 'vCPUs' : c.what;
  const note = c.note ? ` (${c.note})` : '';
  return `${what} ${shown(c.what, c.before)} → ${shown(c.what, c.after)}: ${c.applies}${note}`;
}

function field(label: string, input: HTMLElement, hint = ''): HTMLElement {
  const row = el('label', 'ks-vmm-field');
  row.append(el('span', 'ks-vmm-fieldLabel', label), input);
  if (hint) {
    row.append(el('span', 'ks-vmm-hint', hint));
  }
  return row;
}

function input(cls: string, placeholder = ''): HTMLInputElement {
  const i = el('input', `ks-vmm-input jp-mod-styled ${cls}`);
  i.placeholder = placeholder;
  return i;
}

export function editPanel(ctx: PanelCtx): Panel {
  const root = el('div', 'ks-vmm-panel ks-vmm-edit');
  const memory = input('ks-vmm-editMemory', 'e.g. 2G');
  const cpus = input('ks-vmm-editCpus');
  cpus.type = 'number';
  cpus.min = '1';
  const autostart = el('input', 'ks-vmm-editAutostart');
  autostart.type = 'checkbox';
  let autoTouched = false;
  autostart.addEventListener('change', () => (autoTouched = true));
  const autoLabel = el('label', 'ks-vmm-field ks-vmm-check');
  autoLabel.append(autostart, ' Start when the host starts (autostart)');
  const addDisk = input('ks-vmm-editAddDisk', 'size, e.g. 10G');
  const growDisk = el('select', 'ks-vmm-input jp-mod-styled ks-vmm-editGrowDisk');
  growDisk.setAttribute('aria-label', 'Disk to grow');
  const growSize = input('ks-vmm-editGrowSize', 'new size, e.g. 30G');
  growSize.setAttribute('aria-label', 'New size of the disk');
  const growBox = el('span', 'ks-vmm-inline');
  growBox.append(growDisk, growSize);
  const apply = button('Apply', 'ks-vmw-btn ks-vmw-accept ks-vmm-editApply', 'Make these changes');
  const result = el('ul', 'ks-vmm-changes');
  result.setAttribute('aria-live', 'polite');

  const cloneName = input('ks-vmm-cloneName');
  cloneName.setAttribute('aria-label', 'Name of the clone');
  const clone = button('Clone', 'ks-vmw-btn ks-vmm-clone', 'Copy this VM (disks copied in full; new name, UUID and MAC)');
  const cloneWhy = el('span', 'ks-vmm-hint');
  const cloneRow = el('div', 'ks-vmm-formRow');
  cloneRow.append(el('span', 'ks-vmm-fieldLabel', 'Clone as'), cloneName, clone, cloneWhy);

  const applyRow = el('div', 'ks-vmm-formRow ks-vmm-right');
  applyRow.append(apply);
  root.append(
    field('Memory', memory), field('vCPUs', cpus), autoLabel,
    field('Add a disk', addDisk), field('Grow a disk', growBox),
    applyRow, result, el('hr', 'ks-vmm-sep'), cloneRow
  );

  const fill = (vm: VM): void => {
    memory.placeholder = vm.memory ? `now ${humanSize(vm.memory)}` : 'e.g. 2G';
    cpus.placeholder = vm.vcpus ? `now ${vm.vcpus}` : '';
    if (!autoTouched) {
      autostart.checked = Boolean(vm.autostart); // the VM's, until the user ticks it
    }
    autostart.disabled = vm.persistent === false;
    const targets = (vm.disks ?? []).filter(d => d.target);
    const keep = growDisk.value;
    growDisk.replaceChildren(...targets.map(d => Object.assign(
      el('option', '', `${d.target} (${humanSize(d.capacity)})`), { value: d.target as string })));
    if (keep) {
      growDisk.value = keep;
    }
    growBox.hidden = !targets.length;
    const off = !ACTIVE.has(vm.state);
    clone.disabled = !off;
    cloneWhy.textContent = off ? '' : 'shut it down first: a clone copies a stopped VM';
    if (!cloneName.value) {
      cloneName.value = `${vm.name}-clone`;
    }
  };

  apply.addEventListener('click', () => {
    const vm = ctx.vm();
    const body: Record<string, unknown> = {};
    if (memory.value.trim()) {
      body.memory = memory.value.trim();
    }
    if (cpus.value.trim()) {
      body.cpus = Number(cpus.value);
    }
    if (!autostart.disabled && autostart.checked !== Boolean(vm.autostart)) {
      body.autostart = autostart.checked;
    }
    if (addDisk.value.trim()) {
      body.add_disk = addDisk.value.trim();
    }
    if (growSize.value.trim() && growDisk.value) {
      body.grow = { disk: growDisk.value, size: growSize.value.trim() };
    }
    if (!Object.keys(body).length) {
      result.replaceChildren(el('li', '', 'Nothing to change: type a new value first.'));
      return;
    }
    void ctx.run('Applying changes to', async () => {
      const answer = await requestAPI<{ changes: Change[] }>(vmPath(vm), {
        method: 'PATCH', body: JSON.stringify(body)
      });
      const lines = answer.changes.map(changeLine);
      result.replaceChildren(...lines.map(l => el('li', '', l)));
      [memory, cpus, addDisk, growSize].forEach(i => (i.value = ''));
      autoTouched = false;
      return lines.length ? 'Changed.' : 'Nothing changed.';
    }, 'edit');
  });

  clone.addEventListener('click', () => {
    const name = cloneName.value.trim();
    void ctx.run('Cloning', async () => {
      await requestAPI(vmPath(ctx.vm(), '/clone'), { method: 'POST', body: JSON.stringify({ name }) });
      cloneName.value = '';
      return `Cloned as ${name}.`;
    }, 'clone');
  });

  fill(ctx.vm());
  return { root, paint: fill, open: () => undefined, close: () => undefined };
}
