import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

import { EnvPanel, INotebookLike, INotebookSource } from './panel';
import { vmPlugin } from './vm_plugin';

export { requestAPI, APIError } from './api';
export type { IEnvList, IEnvRecord } from './api';

const SIDEBAR_ID = 'kernelswitch-sidebar';

// A switch: two rails and a toggle, in the theme's icon colour.
const switchIcon = new LabIcon({
  name: 'kernelswitch:switch',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M7 6h10a6 6 0 0 1 0 12H7A6 6 0 0 1 7 6zm0 2a4 4 0 0 0 0 8h10a4 4 0 0 0 0-8z"/>' +
    '<circle cx="16.5" cy="12" r="3"/></g></svg>'
});

/** The active notebook from the lab shell, recognised by what it has. */
function notebookSource(shell: ILabShell): INotebookSource {
  let last: INotebookLike | null = null;
  const isNotebook = (w: unknown): w is INotebookLike => {
    const any = w as any;
    return !!any?.sessionContext && !!any?.context?.model && /\.ipynb$/.test(any.context.path);
  };
  return {
    current: () => {
      const w = shell.currentWidget;
      if (isNotebook(w)) {
        last = w;
      } else if (last && (last as any).isDisposed) {
        last = null;
      }
      return last; // a sidebar or console taking focus keeps the last notebook
    },
    changed: shell.currentChanged
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'kernelswitch:sidebar',
  description: "Sidebar: compare Python environments and switch the notebook's kernel.",
  autoStart: true,
  optional: [ILayoutRestorer, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null
  ) => {
    const panel = new EnvPanel(labShell ? notebookSource(labShell) : null);
    panel.id = SIDEBAR_ID;
    panel.title.icon = switchIcon;
    panel.title.caption = 'kernelswitch';
    panel.title.label = '';
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, SIDEBAR_ID);
    void app.restored.then(() => panel.start());
    app.commands.addCommand('kernelswitch:refresh-envs', {
      label: 'kernelswitch: Refresh Python environments',
      execute: () => panel.refresh(true)
    });
  }
};

export default [plugin, vmPlugin];
