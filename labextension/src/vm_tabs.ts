/**
 * VM views in JupyterLab's main area: a console tab per VM and the create-VM
 * form. Both mount the notebook widgets' own views (widgets/src, built into
 * widgets/lib/shell.js) on a model kept in the page: no kernel, one code path.
 */

import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { mountConsole, mountCreateVM, STATE_LABEL } from '../../widgets/lib/shell';
import type { MountedConsole, VMInfo } from '../../widgets/lib/shell';
import { vmIcon } from './vm_icons';

/** The live console of one VM; closing the tab closes its websocket. */
export class ConsoleTab extends Widget {
  private _console: MountedConsole | null = null;
  private _state = '';

  constructor(readonly vmName: string) {
    super();
    this.id = `kernelswitch-console-${encodeURIComponent(vmName)}`;
    this.addClass('ks-ConsoleTab');
    this.title.icon = vmIcon;
    this.title.closable = true;
    this.title.className = 'ks-ConsoleTab-title';
    this.node.dataset.vm = vmName;
    this.setState('');
  }

  /** The VM's lifecycle state (from the events): the tab's title says it. */
  setState(state: string): void {
    this._state = state;
    const label = state === 'deleted' ? 'Deleted' : (STATE_LABEL[state] ?? state);
    this.title.label = label ? `${this.vmName} — ${label}` : this.vmName;
    this.title.caption = `Console of VM ${this.vmName}${label ? ` (${label.toLowerCase()})` : ''}`;
    this.node.dataset.state = state;
  }

  get state(): string {
    return this._state;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._console) {
      this._console = mountConsole(this.node, { name: this.vmName, fill: true });
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._console?.focus();
  }

  // a closed tab is gone for good (a plain Widget would only be detached)
  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
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
