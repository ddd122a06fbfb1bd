/**
 * The manager's list across several libvirt hosts: VMs grouped under one
 * heading per host, in the configured order (the first is where new VMs go),
 * a host that is down saying so with the reason (events `host`). With one
 * host there are no headings (each remote VM's line says "on HOST" anyway).
 */

import { el } from './vm_common';
import { Host } from './vm_list';
import { VM } from './vm_row';

export interface Group {
  /** the host's heading; null when there is only one host */
  head: HTMLLIElement | null;
  vms: VM[];
}

export class HostHeads {
  /** hosts seen in the last grouping */
  count = 0;
  private heads = new Map<string, HTMLLIElement>();

  /** *vms* by host; headings of hosts no longer there are removed from the page. */
  groups(hosts: Host[], vms: VM[]): Group[] {
    const uris = hosts.map(h => h.uri);
    for (const vm of vms) {
      if (vm.uri && !uris.includes(vm.uri)) {
        uris.push(vm.uri);
      }
    }
    this.count = uris.length;
    const out: Group[] = [];
    if (uris.length < 2) {
      out.push({ head: null, vms });
    } else {
      for (const uri of uris) {
        const mine = vms.filter(v => v.uri === uri);
        const host = hosts.find(h => h.uri === uri);
        out.push({ head: this.head(uri, host, host?.alias ?? mine[0]?.host ?? uri), vms: mine });
      }
    }
    const shown = new Set(out.map(g => g.head?.dataset.uri));
    for (const [uri, li] of this.heads) {
      if (!shown.has(uri)) {
        li.remove();
        this.heads.delete(uri);
      }
    }
    return out;
  }

  private head(uri: string, host: Host | undefined, name: string): HTMLLIElement {
    let li = this.heads.get(uri);
    if (!li) {
      li = el('li', 'ks-vmm-host');
      li.dataset.uri = uri;
      li.setAttribute('role', 'heading');
      li.setAttribute('aria-level', '3');
      this.heads.set(uri, li);
    }
    const down = host?.state === 'down';
    li.dataset.state = down ? 'down' : 'up';
    li.title = uri;
    li.textContent = down
      ? `${name}: not reachable${host?.reason ? ` (${host.reason})` : ''}`
      : name === 'local' ? 'local (this machine)' : name;
    return li;
  }
}

/** A host as the headings and the storage lines name it: its alias (from the server). */
export function hostName(host: Host): string {
  return host.alias ?? host.uri;
}
