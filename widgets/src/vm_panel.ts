/**
 * What the manager's per-VM panels (snapshots, hardware, disc, clone) are
 * given: the VM's current record, and `run` — the row's way to do a request
 * (buttons greyed, elapsed time, one-line error, list refreshed after).
 */

import { uriQuery, VM } from './vm_row';

export interface PanelCtx {
  vm(): VM;
  /** *work* answers the line shown when it succeeds; errors show under the row */
  run(doing: string, work: () => Promise<string>, action: string): Promise<void>;
  signal?: AbortSignal;
}

export interface Panel {
  root: HTMLElement;
  /** the VM's record changed (state, sizes) */
  paint(vm: VM): void;
  /** the panel is shown: fetch what it lists */
  open(): void;
  close(): void;
}

/** `vms/NAME{rest}?uri=URI`: the VM on its own host (*rest* may carry a query). */
export function vmPath(vm: VM, rest = ''): string {
  return `vms/${encodeURIComponent(vm.name)}${rest}${uriQuery(vm, rest.includes('?') ? '&' : '?')}`;
}
