import { LabIcon } from '@jupyterlab/ui-components';

/** A monitor: the VM sidebar's tab, console tabs, the launcher tile. */
export const vmIcon = new LabIcon({
  name: 'kernelswitch:vm',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M3 4h18a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1h-7v2h3v2H7v-2h3v-2H3a1 1 0 0 1-1-1V5a1 1 0 0 1 ' +
    '1-1zm1 2v9h16V6z"/><path d="M6 8h5v1.5H6zM6 11h8v1.5H6z"/></g></svg>'
});

/** The power symbol: shut down / force off. */
export const powerIcon = new LabIcon({
  name: 'kernelswitch:power',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M11 3h2v9h-2z"/><path d="M7.05 5.46l1.42 1.42A6 6 0 1 0 15.53 6.88l1.42-1.42A8 8 0 1 1 ' +
    '7.05 5.46z"/></g></svg>'
});
