import { renderSerial, SerialModel } from './serial';
import { MountedView, mountView, MountOptions } from './view_mount';

export type SerialOptions = MountOptions;
export type MountedSerial = MountedView;

/**
 * The serial terminal without a kernel: the JupyterLab tab runs the code a
 * notebook cell's `%vm serial` runs. States: connecting, connected, stopped,
 * error, closed. The keyboard goes to xterm's own text area.
 */
export function mountSerial(host: HTMLElement, options: SerialOptions): MountedSerial {
  const state: SerialModel = { vm: options.name, uri: options.uri ?? '', status: '' };
  return mountView(host, state, renderSerial, options, 'ks-serial',
    h => h.querySelector<HTMLTextAreaElement>('.xterm-helper-textarea'));
}
