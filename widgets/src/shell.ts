/**
 * What the JupyterLab extension (labextension/) takes from the widgets: the
 * console, serial terminal and create-VM views mounted without a kernel, and the VM vocabulary
 * (which action fits which state, state labels, sizes), so a tab, the VM
 * sidebar and a notebook cell run one code path.
 *
 * Built on its own by esbuild into widgets/lib/shell.js (CSS inlined as text,
 * as in the anywidget bundle), with declarations beside it for tsc.
 */

export { mountConsole } from './console_mount';
export type { ConsoleOptions, MountedConsole } from './console_mount';
export { mountCreateVM } from './create_vm';
export { mountSerial } from './serial_mount';
export type { MountedSerial, SerialOptions } from './serial_mount';
export type { CreateOptions, VMInfo } from './create_vm';
export { humanSize } from './vm_common';
export { ACTIONS, ACTIVE, OPEN_CONSOLE_EVENT, RUNNING, STATE_LABEL, allowed } from './vm_row';
export type { Action, VM } from './vm_row';
// live stats graphs (the manager's rows use them; a VM sidebar row can too)
export { makeStatsView, paintStats, StatsFeed } from './vm_stats';
export type { Sample, StatsView } from './vm_stats';
