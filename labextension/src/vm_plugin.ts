/**
 * VMs in JupyterLab's own shell (issue #17): the VM sidebar, console and
 * create-form tabs (restored after a reload), the commands with their palette
 * entries and right-click menu, and the launcher's "Virtual machine" tile.
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';

import { OPEN_CONSOLE_EVENT } from '../../widgets/lib/shell';
import { setThumbnailsVisible } from './events';
import { addCommands, CommandIDs, MENU, ROW_SELECTOR, VERB_COMMANDS } from './vm_commands';
import { vmIcon } from './vm_icons';
import { VMSidebar } from './vm_sidebar';
import { VMStore } from './vm_store';
import { ConsoleTab, CreateVMTab, SerialTab } from './vm_tabs';

const SIDEBAR_ID = 'kernelswitch-vms';
const PALETTE_CATEGORY = 'Virtual machines';

export const vmPlugin: JupyterFrontEndPlugin<void> = {
  id: 'kernelswitch:vms',
  description: 'VM sidebar, VM consoles in tabs, VM commands and the launcher tile.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ) => {
    const store = new VMStore();
    const consoles = new WidgetTracker<ConsoleTab>({ namespace: 'kernelswitch-console' });
    const serials = new WidgetTracker<SerialTab>({ namespace: 'kernelswitch-serial' });
    const forms = new WidgetTracker<CreateVMTab>({ namespace: 'kernelswitch-new-vm' });

    /** The tab of VM *name* on *uri* in *tracker*, brought forward, or a new one. */
    const openTab = <T extends ConsoleTab | SerialTab>(
      tracker: WidgetTracker<T>, make: (name: string, uri: string) => T, name: string, uri?: string
    ): T => {
      const host = uri || store.get(name)?.uri || '';
      const open = tracker.find(w => w.vmName === name && (!w.uri || !host || w.uri === host));
      if (open) {
        app.shell.activateById(open.id);
        return open;
      }
      const tab = make(name, host);
      tab.setState(store.get(name, host || undefined)?.state ?? '');
      void tracker.add(tab);
      app.shell.add(tab, 'main');
      app.shell.activateById(tab.id);
      return tab;
    };
    const tabs = {
      open: (name: string, uri?: string): ConsoleTab =>
        openTab(consoles, (n, u) => new ConsoleTab(n, u), name, uri),
      openSerial: (name: string, uri?: string): SerialTab =>
        openTab(serials, (n, u) => new SerialTab(n, u), name, uri),
      create: (): CreateVMTab => {
        const open = forms.currentWidget;
        if (open && !open.isDisposed) {
          app.shell.activateById(open.id);
          return open;
        }
        // once made and started, its console is where a person goes next
        const form = new CreateVMTab(vm => {
          if (vm.state === 'running') {
            tabs.open(vm.name, (vm as { uri?: string }).uri);
          }
        });
        void forms.add(form);
        app.shell.add(form, 'main');
        app.shell.activateById(form.id);
        return form;
      }
    };
    // titles follow the VM's state; a VM deleted elsewhere leaves its tab saying so
    store.changed.connect(() => {
      for (const tracker of [consoles, serials] as WidgetTracker<ConsoleTab | SerialTab>[]) {
        tracker.forEach(tab => {
          const vm = store.get(tab.vmName, tab.uri || undefined);
          tab.setState(vm ? vm.state : store.status === 'live' && tab.state ? 'deleted' : tab.state);
        });
      }
    });

    addCommands(app, store, tabs);
    for (const [rank, id] of MENU.entries()) {
      app.contextMenu.addItem({ command: id, selector: ROW_SELECTOR, rank: 10 + rank });
    }
    if (palette) {
      const ids = [CommandIDs.console, CommandIDs.serial, CommandIDs.create, ...Object.values(VERB_COMMANDS), CommandIDs.remove];
      for (const id of ids) {
        palette.addItem({ command: id, args: { isPalette: true }, category: PALETTE_CATEGORY });
      }
    }
    launcher?.add({ command: CommandIDs.create, args: { isLauncher: true }, category: 'Other', rank: 1 });

    const sidebar: VMSidebar = new VMSidebar(store, app.commands, visible =>
      setThumbnailsVisible(sidebar, visible)
    );
    sidebar.id = SIDEBAR_ID;
    sidebar.title.icon = vmIcon;
    sidebar.title.caption = 'Virtual machines';
    app.shell.add(sidebar, 'left', { rank: 850 });

    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
      // both tabs come back on the same host (the URI is in their args)
      void restorer.restore(consoles, {
        command: CommandIDs.console,
        args: tab => ({ name: tab.vmName, uri: tab.uri }),
        name: tab => tab.restoreName
      });
      void restorer.restore(serials, {
        command: CommandIDs.serial,
        args: tab => ({ name: tab.vmName, uri: tab.uri }),
        name: tab => tab.restoreName
      });
      void restorer.restore(forms, { command: CommandIDs.create, name: () => 'new-vm' });
    }

    // "Open in tab" in the notebook's VM manager (it has no handle on the app)
    document.addEventListener(OPEN_CONSOLE_EVENT, event => {
      const detail = (event as CustomEvent<{ name?: string; uri?: string }>).detail;
      if (typeof detail?.name === 'string' && detail.name) {
        const uri = typeof detail.uri === 'string' && detail.uri ? { uri: detail.uri } : {};
        void app.commands.execute(CommandIDs.console, { name: detail.name, ...uri });
      }
    });
    document.body.dataset.ksShell = 'true';

    store.start();
  }
};
