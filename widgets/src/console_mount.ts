import type { RenderProps } from '@anywidget/types';

import { ConsoleModel, renderConsole } from './console';
import { LocalModel } from './vm_common';

export interface ConsoleOptions {
  /** The VM's name. */
  name: string;
  /** The VM's host (its record's `uri`), sent as `?uri=` on the websocket and every call. */
  uri?: string;
  scale?: ConsoleModel['scale'];
  /** Fill the host element (a JupyterLab tab) instead of flowing like a cell's output. */
  fill?: boolean;
  /** Told each console state: connecting, running, stopped, reconnecting, error, closed. */
  onStatus?: (state: string) => void;
}

export interface MountedConsole {
  /** Close the websocket and the audio, and empty the host. */
  dispose: () => void;
  focus: () => void;
}

/**
 * The console view without a kernel: a JupyterLab tab (the labextension) and
 * the VM manager's inline console run exactly the code a notebook cell runs,
 * on a model kept in the page.
 */
export function mountConsole(host: HTMLElement, options: ConsoleOptions): MountedConsole {
  const model = new LocalModel<ConsoleModel>({
    vm: options.name, uri: options.uri ?? '', scale: options.scale ?? 'fit', status: '', width: 0, height: 0,
    audio: false, volume: 1, muted: false
  });
  if (options.onStatus) {
    const onStatus = options.onStatus;
    model.on('change:status', () => onStatus(model.get('status')));
  }
  const cleanup = renderConsole({ model, el: host } as unknown as RenderProps<ConsoleModel>);
  const root = host.querySelector<HTMLElement>('.ks-console');
  if (options.fill) {
    root?.classList.add('ks-mod-fill');
  }
  return {
    dispose: () => {
      cleanup();
      model.off();
      host.replaceChildren();
    },
    focus: () => root?.focus()
  };
}
