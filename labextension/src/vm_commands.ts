/**
 * Every VM action is a JupyterLab command, so the palette, the sidebar's
 * buttons, its right-click menu and the launcher share one definition
 * (JupyterLab's own extensions work this way). A command takes `{name, uri?}`
 * (the URI names the VM's host: two hosts may each have a VM so named); from
 * a right-click it finds the VM under the pointer; from the palette, without
 * a name, it asks which VM (only those whose state allows the action).
 * No default keyboard shortcuts: a console owns the keys.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog } from '@jupyterlab/apputils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import {
  deleteIcon, LabIcon, pauseIcon, refreshIcon, runIcon, stopIcon, terminalIcon
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { STATE_LABEL } from '../../widgets/lib/shell';
import { busyWith, deleteVM, label, runVerb, ShellAction, Verb, VERBS, whyNot } from './vm_actions';
import { powerIcon, vmIcon } from './vm_icons';
import { hostLabel } from './vm_store';
import type { IVMRecord, VMStore } from './vm_store';

export namespace CommandIDs {
  export const start = 'kernelswitch:vm-start';
  export const shutdown = 'kernelswitch:vm-shutdown';
  export const reboot = 'kernelswitch:vm-reboot';
  export const suspend = 'kernelswitch:vm-suspend';
  export const resume = 'kernelswitch:vm-resume';
  export const destroy = 'kernelswitch:vm-destroy';
  export const remove = 'kernelswitch:vm-delete';
  export const console = 'kernelswitch:open-console';
  export const serial = 'kernelswitch:open-serial';
  export const create = 'kernelswitch:vm-new';
}

export const VERB_COMMANDS: Record<Verb, string> = {
  start: CommandIDs.start,
  shutdown: CommandIDs.shutdown,
  reboot: CommandIDs.reboot,
  suspend: CommandIDs.suspend,
  resume: CommandIDs.resume,
  destroy: CommandIDs.destroy
};

/** Right-click menu of a sidebar row, top to bottom. */
export const MENU: string[] = [
  CommandIDs.console,
  CommandIDs.serial,
  CommandIDs.start,
  CommandIDs.resume,
  CommandIDs.suspend,
  CommandIDs.reboot,
  CommandIDs.shutdown,
  CommandIDs.destroy,
  CommandIDs.remove
];

/** The selector of the rows the menu belongs to (vm_sidebar.ts sets `data-ks-vm`). */
export const ROW_SELECTOR = '.ks-VMSidebar-vm';

const CAPTIONS: Record<ShellAction, string> = {
  start: 'Start the VM',
  shutdown: "Ask the guest to shut down (the ACPI power button)",
  reboot: 'Reboot the guest (ACPI)',
  suspend: "Pause the VM's CPUs",
  resume: 'Let a paused VM run again',
  destroy: 'Stop the VM at once, like pulling the plug (asks first)',
  console: "Show the VM's screen in a tab",
  serial: "Open the VM's serial port in a terminal tab",
  delete: 'Delete the VM (asks first, and whether to keep its disks)'
};

/** Opens the main-area tabs (vm_plugin.ts); a command returns the tab (launcher, restorer). */
export interface IConsoleOpener {
  open(name: string, uri?: string): Widget;
  openSerial(name: string, uri?: string): Widget;
  create(): Widget;
}

/** `{name, uri}` of a VM record: what every command about it is given. */
export function vmArgs(vm: { name: string; uri: string }): { name: string; uri: string } {
  return { name: vm.name, uri: vm.uri };
}

export function addCommands(app: JupyterFrontEnd, store: VMStore, tabs: IConsoleOpener): void {
  const { commands } = app;

  /** The VM a command is about: its argument, else the row under the right-click. */
  const target = (args: ReadonlyPartialJSONObject): IVMRecord | undefined => {
    // the palette names no VM: it asks (an old right-click must not decide)
    if (typeof args.name === 'string') {
      return store.get(args.name, typeof args.uri === 'string' ? args.uri : undefined);
    }
    const row = args.isPalette ? undefined : app.contextMenuHitTest(node => node.matches?.(ROW_SELECTOR));
    const name = row?.dataset.ksVm;
    return name ? store.get(name, row?.dataset.uri) : undefined;
  };

  /** Which VM, asked in a dialog (the palette): only those the action fits. */
  const choose = async (action: ShellAction): Promise<IVMRecord | undefined> => {
    const fits = store.list().filter(vm => !whyNot(action, vm));
    const verb =
      action === 'console' ? 'Open the console of' : action === 'serial' ? 'Open the serial terminal of' : label(action);
    if (!fits.length) {
      await InputDialog.getItem({
        title: `${verb}: no VM fits`,
        items: [],
        label: store.list().length ? 'No VM is in a state that allows this now.' : 'There are no VMs yet.'
      });
      return undefined;
    }
    // with several hosts, each VM says where it is
    const several = new Set(store.list().map(vm => vm.uri)).size > 1;
    const names = fits.map(
      vm => `${vm.name} (${STATE_LABEL[vm.state] ?? vm.state}${several ? `, ${hostLabel(vm.uri)}` : ''})`
    );
    const answer = await InputDialog.getItem({
      title: `${verb} which VM?`,
      items: names,
      okLabel: action === 'console' || action === 'serial' ? 'Open' : label(action)
    });
    if (!answer.button.accept || answer.value === null) {
      return undefined;
    }
    return fits[names.indexOf(answer.value)];
  };

  const vmCommand = (
    id: string,
    action: ShellAction,
    run: (vm: IVMRecord) => Promise<unknown> | Widget | void,
    extra: { icon?: LabIcon; paletteLabel: string }
  ): void => {
    commands.addCommand(id, {
      label: args => (args.isPalette ? extra.paletteLabel : label(action) + (action === 'delete' || action === 'destroy' ? '…' : '')),
      caption: args => {
        const vm = target(args);
        const why = vm ? whyNot(action, vm) : '';
        return why ? `${CAPTIONS[action]} (not now: ${why})` : CAPTIONS[action];
      },
      icon: args => (args.isPalette ? undefined : extra.icon),
      isEnabled: args => {
        const vm = target(args);
        if (!vm) {
          // the palette asks which VM: enabled if any fits
          return store.list().some(v => !whyNot(action, v));
        }
        const opens = action === 'console' || action === 'serial';
        return !whyNot(action, vm) && (!busyWith(vm) || action === 'destroy' || opens);
      },
      isVisible: args => {
        // the right-click menu lists what fits the VM's state, as the buttons do
        const vm = target(args);
        return !vm || typeof args.name === 'string' || !whyNot(action, vm);
      },
      execute: async args => {
        if ((action === 'console' || action === 'serial') && typeof args.name === 'string') {
          // by name, even before the VM list arrived (the layout restorer runs
          // this at page load): the tab learns the state when it comes
          const uri = typeof args.uri === 'string' ? args.uri : target(args)?.uri;
          return action === 'console' ? tabs.open(args.name, uri) : tabs.openSerial(args.name, uri);
        }
        const vm = target(args) ?? (typeof args.name === 'string' ? undefined : await choose(action));
        if (vm) {
          return run(vm);
        }
      }
    });
  };

  const icons: Record<Verb, LabIcon> = {
    start: runIcon,
    resume: runIcon,
    suspend: pauseIcon,
    reboot: refreshIcon,
    shutdown: powerIcon,
    destroy: stopIcon
  };
  const palette: Record<Verb, string> = {
    start: 'Start VM…',
    shutdown: 'Shut down VM…',
    reboot: 'Reboot VM…',
    suspend: 'Pause VM…',
    resume: 'Resume VM…',
    destroy: 'Force off VM…'
  };
  for (const verb of VERBS) {
    vmCommand(VERB_COMMANDS[verb], verb, vm => runVerb(verb, vm), {
      icon: icons[verb],
      paletteLabel: palette[verb]
    });
  }
  vmCommand(CommandIDs.remove, 'delete', vm => deleteVM(vm), {
    icon: deleteIcon,
    paletteLabel: 'Delete VM…'
  });
  vmCommand(CommandIDs.console, 'console', vm => tabs.open(vm.name, vm.uri), {
    icon: vmIcon,
    paletteLabel: 'Open VM console…'
  });
  vmCommand(CommandIDs.serial, 'serial', vm => tabs.openSerial(vm.name, vm.uri), {
    icon: terminalIcon,
    paletteLabel: 'Open VM serial terminal…'
  });

  commands.addCommand(CommandIDs.create, {
    label: args => (args.isLauncher ? 'Virtual machine' : args.isPalette ? 'New virtual machine…' : 'New VM'),
    caption: 'Create a virtual machine from an installer ISO',
    icon: args => (args.isPalette ? undefined : vmIcon),
    execute: () => tabs.create()
  });
}
