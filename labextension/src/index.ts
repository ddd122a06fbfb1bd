import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

import { EnvPanel } from './panel';

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

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'kernelswitch:sidebar',
  description: 'Sidebar listing the Python environments kernelswitch can switch a kernel to.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new EnvPanel();
    panel.id = SIDEBAR_ID;
    panel.title.icon = switchIcon;
    panel.title.caption = 'kernelswitch';
    panel.title.label = '';
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, SIDEBAR_ID);
    app.commands.addCommand('kernelswitch:refresh-envs', {
      label: 'kernelswitch: Refresh Python environments',
      execute: () => panel.refresh(true)
    });
  }
};

export default plugin;
