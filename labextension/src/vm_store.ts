/**
 * The VMs of every configured libvirt URI, kept live from the events
 * websocket (`onEvent`): the snapshot on (re)connect, then one message per
 * change. The VM sidebar, the commands (enabled or not, the chooser) and the
 * console tabs' titles read it; nothing polls.
 */

import { ISignal, Signal } from '@lumino/signaling';

import type { VM } from '../../widgets/lib/shell';
import { onEvent } from './events';

export interface IVMRecord extends VM {
  uri: string;
  /** libosinfo's name ("Alpine Linux 3.17"); null when no OS is recorded. */
  os_name?: string | null;
  /** The newest screen thumbnail (`GET vms/NAME/thumbnail`); 0 = none taken yet. */
  thumbnail_version?: number;
}

export interface IHostState {
  uri: string;
  state: 'up' | 'down';
  reason?: string;
}

export interface IThumbnail {
  name: string;
  uri: string;
  version: number;
}

/** Where the store is: waiting for the first snapshot, live, or cut off. */
export type StoreStatus = 'connecting' | 'live';

export class VMStore {
  private _vms = new Map<string, IVMRecord>();
  private _hosts = new Map<string, IHostState>();
  private _changed = new Signal<this, void>(this);
  private _thumbnail = new Signal<this, IThumbnail>(this);
  private _stops: (() => void)[] = [];
  status: StoreStatus = 'connecting';

  /** Any change of the list, a VM's state or record, or a host. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A new thumbnail of one VM is ready (`GET vms/NAME/thumbnail`). */
  get thumbnail(): ISignal<this, IThumbnail> {
    return this._thumbnail;
  }

  start(): void {
    if (this._stops.length) {
      return;
    }
    const on = (type: string, cb: (msg: any) => void): void => {
      this._stops.push(onEvent(type, cb));
    };
    on('snapshot', msg => {
      this._vms.clear();
      for (const vm of (msg.vms ?? []) as IVMRecord[]) {
        this._vms.set(key(vm.uri, vm.name), vm);
      }
      this._hosts.clear();
      for (const h of (msg.hosts ?? []) as IHostState[]) {
        this._hosts.set(h.uri, h);
      }
      this.status = 'live';
      this._changed.emit();
    });
    on('vm', msg => {
      const vm = this._vms.get(key(msg.uri, msg.name));
      if (vm && vm.state !== msg.state) {
        this._vms.set(key(msg.uri, msg.name), { ...vm, state: msg.state });
        this._changed.emit();
      }
    });
    on('vm_defined', msg => {
      // an upsert: a changed definition (edit, revert) comes this way too
      const old = this._vms.get(key(msg.uri, msg.name));
      this._vms.set(key(msg.uri, msg.name), {
        thumbnail_version: old?.thumbnail_version,
        ...(msg.vm as IVMRecord),
        uri: msg.uri
      });
      this._changed.emit();
    });
    on('vm_undefined', msg => {
      if (this._vms.delete(key(msg.uri, msg.name))) {
        this._changed.emit();
      }
    });
    on('host', msg => {
      this._hosts.set(msg.uri, msg as IHostState);
      this._changed.emit();
    });
    on('thumbnail', msg => {
      const vm = this._vms.get(key(msg.uri, msg.name));
      if (vm) {
        this._vms.set(key(msg.uri, msg.name), { ...vm, thumbnail_version: msg.version });
        this._thumbnail.emit(msg as IThumbnail);
      }
    });
  }

  dispose(): void {
    this._stops.forEach(stop => stop());
    this._stops = [];
    Signal.clearData(this);
  }

  /** Every VM, by host (in the server's URI order) then name. */
  list(): IVMRecord[] {
    const order = [...this._hosts.keys()];
    const rank = (uri: string): number => {
      const i = order.indexOf(uri);
      return i < 0 ? order.length : i;
    };
    return [...this._vms.values()].sort(
      (a, b) => rank(a.uri) - rank(b.uri) || a.name.localeCompare(b.name)
    );
  }

  hosts(): IHostState[] {
    return [...this._hosts.values()];
  }

  /**
   * The VM called *name* on *uri*; without a URI (an older restored tab, a
   * palette argument), the first VM so named, as the REST API finds it.
   */
  get(name: string, uri?: string): IVMRecord | undefined {
    if (uri) {
      return this._vms.get(key(uri, name));
    }
    return this.list().find(vm => vm.name === name);
  }
}

/** A host as people say it: `local`, or `user@host[:port]` of a remote libvirt URI. */
export function hostLabel(uri: string): string {
  try {
    const u = new URL(uri);
    if (!u.hostname) {
      return 'local';
    }
    const who = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${who}${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return uri;
  }
}

function key(uri: string, name: string): string {
  return `${uri}\u0000${name}`;
}
