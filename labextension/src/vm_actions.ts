/**
 * What each VM action does: the REST call, and the question asked first for
 * the two that lose work (force off, delete). Commands (vm_commands.ts) call
 * these; the sidebar only shows what they are doing.
 */

import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ACTIONS, ACTIVE, allowed, STATE_LABEL } from '../../widgets/lib/shell';
import type { Action } from '../../widgets/lib/shell';
import { requestAPI } from './api';
import type { IVMRecord } from './vm_store';

/** The run verbs: `POST vms/{name}/{verb}`. */
export type Verb = 'start' | 'shutdown' | 'destroy' | 'reboot' | 'suspend' | 'resume';
export const VERBS: readonly Verb[] = ['start', 'shutdown', 'reboot', 'suspend', 'resume', 'destroy'];

/** What the shell offers: the widgets' actions, and the serial terminal tab. */
export type ShellAction = Action | 'serial';

/** Labels as virt-manager words them (the widgets' own list, so cell and shell agree). */
export function label(action: ShellAction): string {
  if (action === 'serial') {
    return 'Serial terminal';
  }
  return ACTIONS.find(a => a.action === action)?.label.replace('…', '') ?? action;
}

export function doing(action: Action): string {
  return ACTIONS.find(a => a.action === action)?.doing ?? action;
}

/** '' when *action* fits *vm*'s state now, else why not. */
export function whyNot(action: ShellAction, vm: IVMRecord | undefined): string {
  if (!vm) {
    return 'no such VM';
  }
  // the serial port is there while the VM runs, as its screen is
  return allowed(action === 'serial' ? 'console' : action, vm.state);
}

/** VMs a person may be running an action on right now (per host and name; the sidebar shows it). */
const busy = new Map<string, string>();
const listeners = new Set<() => void>();

/** Who a VM is: its host's URI and its name (two hosts may have a VM so named). */
export interface IVMRef {
  name: string;
  uri: string;
}

function refKey(vm: IVMRef): string {
  return `${vm.uri}\u0000${vm.name}`;
}

export function busyWith(vm: IVMRef): string {
  return busy.get(refKey(vm)) ?? '';
}

export function onBusyChange(cb: () => void): () => void {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

function setBusy(vm: IVMRef, what: string): void {
  if (what) {
    busy.set(refKey(vm), what);
  } else {
    busy.delete(refKey(vm));
  }
  listeners.forEach(cb => cb());
}

async function withBusy(vm: IVMRef, what: string, work: () => Promise<void>): Promise<boolean> {
  setBusy(vm, what);
  try {
    await work();
    return true;
  } catch (error) {
    Notification.error(`${what} ${vm.name} failed: ${(error as Error).message}`, { autoClose: 8000 });
    return false;
  } finally {
    setBusy(vm, '');
  }
}

/** `?uri=` of a VM's host, for every call about it. */
export function where(vm: IVMRef): string {
  return `uri=${encodeURIComponent(vm.uri)}`;
}

/** Run *verb* on the VM; force off asks first. Resolves false when refused or cancelled. */
export async function runVerb(verb: Verb, vm: IVMRecord): Promise<boolean> {
  if (verb === 'destroy') {
    const answer = await showDialog({
      title: `Force off ${vm.name}?`,
      body:
        'This pulls the plug: the guest stops at once, like a power cut. ' +
        'Anything it has not saved is lost. “Shut down” asks the guest to stop cleanly.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Force off' })]
    });
    if (!answer.button.accept) {
      return false;
    }
  }
  // a shutdown answers once the guest was asked (its end arrives as an event),
  // so the sidebar never waits on a guest that ignores the power button
  const body = verb === 'shutdown' ? { wait: false } : {};
  return withBusy(vm, doing(verb), async () => {
    // ?uri=: the same name may be on several hosts
    await requestAPI(`vms/${encodeURIComponent(vm.name)}/${verb}?${where(vm)}`, {
      method: 'POST',
      body: JSON.stringify(body)
    });
  });
}

/** Ask, then delete the VM (and its disks if the person ticks the box). */
export async function deleteVM(vm: IVMRecord): Promise<boolean> {
  const disks = (vm.disks ?? []).map(d => d.path).filter((p): p is string => Boolean(p));
  const body = new Widget();
  body.addClass('ks-VMDelete');
  const text = document.createElement('p');
  const running = ACTIVE.has(vm.state);
  const state = (STATE_LABEL[vm.state] ?? vm.state).toLowerCase();
  text.textContent = running
    ? `It is ${state}: it will be forced off first.`
    : 'Its definition is removed from libvirt.';
  const box = document.createElement('label');
  box.className = 'ks-VMDelete-disks';
  const check = document.createElement('input');
  check.type = 'checkbox';
  check.disabled = !disks.length;
  box.append(check, disks.length ? ` Also delete its disk image${disks.length === 1 ? '' : 's'}` : ' It has no disk images');
  const list = document.createElement('ul');
  list.className = 'ks-VMDelete-paths';
  for (const p of disks) {
    const li = document.createElement('li');
    li.textContent = p;
    list.append(li);
  }
  const note = document.createElement('p');
  note.className = 'ks-VMDelete-note';
  const say = (): void => {
    note.textContent = !disks.length
      ? ''
      : check.checked
        ? 'The disk images are deleted too. This cannot be undone.'
        : 'The disk images are kept (`%vm disks` lists them as orphans).';
  };
  check.addEventListener('change', say);
  say();
  body.node.append(text, box, list, note);
  const answer = await showDialog({
    title: `Delete VM ${vm.name}?`,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
  });
  if (!answer.button.accept) {
    return false;
  }
  const q = `disks=${check.checked ? 1 : 0}&force=${running ? 1 : 0}&${where(vm)}`;
  return withBusy(vm, 'Deleting', async () => {
    await requestAPI(`vms/${encodeURIComponent(vm.name)}?${q}`, { method: 'DELETE' });
  });
}
