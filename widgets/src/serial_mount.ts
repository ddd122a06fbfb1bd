import type { RenderProps } from '@anywidget/types';

import { renderSerial, SerialModel } from './serial';
import { LocalModel } from './vm_common';

export interface SerialOptions {
  /** The VM's name. */
  name: string;
  /** Its host's libvirt URI (sent as `?uri=`: two hosts may have a VM so named). */
  uri?: string;
  /** Fill the host element (a JupyterLab tab) instead of flowing like a cell's output. */
  fill?: boolean;
  /** Told each state: connecting, connected, stopped, error, closed. */
  onStatus?: (state: string) => void;
}

export interface MountedSerial {
  /** Close the websocket and the terminal, and empty the host. */
  dispose: () => void;
  focus: () => void;
}

/**
 * The serial terminal without a kernel: the JupyterLab tab runs the code a
 * notebook cell's `%vm serial` runs, on a model kept in the page.
 */
export function mountSerial(host: HTMLElement, options: SerialOptions): MountedSerial {
  const model = new LocalModel<SerialModel>({ vm: options.name, uri: options.uri ?? '', status: '' });
  if (options.onStatus) {
    const onStatus = options.onStatus;
    model.on('change:status', () => onStatus(model.get('status')));
  }
  const cleanup = renderSerial({ model, el: host } as unknown as RenderProps<SerialModel>);
  const root = host.querySelector<HTMLElement>('.ks-serial');
  if (options.fill) {
    root?.classList.add('ks-mod-fill');
  }
  return {
    dispose: () => {
      cleanup();
      model.off();
      host.replaceChildren();
    },
    focus: () => host.querySelector<HTMLTextAreaElement>('.xterm-helper-textarea')?.focus()
  };
}
