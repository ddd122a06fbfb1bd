import { ConsoleModel, renderConsole } from './console';
import { MountedView, mountView, MountOptions } from './view_mount';

export interface ConsoleOptions extends MountOptions {
  scale?: ConsoleModel['scale'];
}

export type MountedConsole = MountedView;

/**
 * The console view without a kernel: a JupyterLab tab (the labextension) and
 * the VM manager's inline console run exactly the code a notebook cell runs.
 * States: connecting, connected, paused, stopped, reconnecting, error, closed.
 */
export function mountConsole(host: HTMLElement, options: ConsoleOptions): MountedConsole {
  const state: ConsoleModel = {
    vm: options.name, uri: options.uri ?? '', scale: options.scale ?? 'fit', status: '', width: 0, height: 0,
    audio: false, volume: 1, muted: false
  };
  return mountView(host, state, renderConsole, options, 'ks-console');
}
