/**
 * VM views in JupyterLab's main area: a console tab and a serial terminal tab
 * per VM, and the create-VM form. All mount the notebook widgets' own views (widgets/src, built into
 * widgets/lib/shell.js) on a model kept in the page: no kernel, one code path.
 */

import { terminalIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { mountConsole, mountCreateVM, mountSerial, STATE_LABEL } from '../../widgets/lib/shell';
import type { MountedConsole, MountedSerial, VMInfo } from '../../widgets/lib/shell';
import { vmIcon } from './vm_icons';

/**
 * A tab about one VM (its console, its serial terminal): named by host and
 * name, titled with the VM's state (from the events), gone for good when
 * closed (a plain Widget would only be detached).
 */
abstract class VMTab extends Widget {
  private _state = '';

  constructor(
    readonly vmName: string,
    readonly uri: string,
    private _what: string
  ) {
    super();
    // the host is part of the id: two hosts may each have a VM so named
    this.id = `kernelswitch-${_what}-${encodeURIComponent(vmName)}${uri ? `-${encodeURIComponent(uri)}` : ''}`;
    this.title.closable = true;
    this.node.dataset.vm = vmName;
    this.node.dataset.uri = uri;
    this.setState('');
  }

  /** The VM's lifecycle state (from the events): the tab's title says it. */
  setState(state: string): void {
    this._state = state;
    const label = state === 'deleted' ? 'Deleted' : (STATE_LABEL[state] ?? state);
    const what = this._what === 'serial' ? ' serial' : '';
    this.title.label = label ? `${this.vmName}${what} — ${label}` : `${this.vmName}${what}`;
    this.title.caption =
      `${this._what === 'serial' ? 'Serial terminal' : 'Console'} of VM ${this.vmName}` +
      `${label ? ` (${label.toLowerCase()})` : ''}${this.uri ? ` on ${this.uri}` : ''}`;
    this.node.dataset.state = state;
  }

  get state(): string {
    return this._state;
  }

  /** The key the layout restorer keeps it under. */
  get restoreName(): string {
    return this.uri ? `${this.vmName}@${this.uri}` : this.vmName;
  }

  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }
}

/** The live console of one VM; closing the tab closes its websocket. */
export class ConsoleTab extends VMTab {
  private _console: MountedConsole | null = null;

  constructor(vmName: string, uri = '') {
    super(vmName, uri, 'console');
    this.addClass('ks-ConsoleTab');
    this.title.icon = vmIcon;
    this.title.className = 'ks-ConsoleTab-title';
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._console) {
      // `uri` names the host of the console's websocket and preview calls
      this._console = mountConsole(this.node, { name: this.vmName, uri: this.uri || undefined, fill: true });
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._console?.focus();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._console?.dispose();
    this._console = null;
    super.dispose();
  }
}

/** The serial terminal of one VM (xterm.js); closing the tab closes its websocket. */
export class SerialTab extends VMTab {
  private _serial: MountedSerial | null = null;

  constructor(vmName: string, uri = '') {
    super(vmName, uri, 'serial');
    this.addClass('ks-SerialTab');
    this.title.icon = terminalIcon;
    this.title.className = 'ks-SerialTab-title';
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._serial) {
      this._serial = mountSerial(this.node, { name: this.vmName, uri: this.uri || undefined, fill: true });
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._serial?.focus();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._serial?.dispose();
    this._serial = null;
    super.dispose();
  }
}

/** "New virtual machine": the create form, in a tab of its own. */
export class CreateVMTab extends Widget {
  private _close: (() => void) | null = null;

  constructor(private _onCreated: (vm: VMInfo) => void) {
    super();
    this.id = 'kernelswitch-new-vm';
    this.addClass('ks-CreateVMTab');
    this.title.icon = vmIcon;
    this.title.label = 'New VM';
    this.title.caption = 'Create a virtual machine from an installer ISO';
    this.title.closable = true;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._close) {
      this._close = mountCreateVM(this.node, { onCreated: vm => this._onCreated(vm) });
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.node.querySelector<HTMLInputElement>('.ks-cvm-iso')?.focus();
  }

  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._close?.();
    this._close = null;
    super.dispose();
  }
}
