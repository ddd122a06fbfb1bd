/**
 * Events pushed by the server (`{base_url}kernelswitch/api/events`) for the
 * JupyterLab extension: VM lifecycle, definitions, trays, thumbnails, the env
 * list, hosts. One shared websocket per page (see events_core.ts).
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { EventCallback, subscribe } from './events_core';

export { eventsConnected, setStatsWatched, setThumbnailsVisible } from './events_core';
export type { EventCallback } from './events_core';

function eventsUrl(): string {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.wsUrl, 'kernelswitch', 'api', 'events');
  return settings.token ? `${url}?token=${encodeURIComponent(settings.token)}` : url;
}

/** `cb(msg)` for every event of `type` ("*" for all); returns the unsubscribe. */
export function onEvent(type: string, cb: EventCallback): () => void {
  return subscribe(eventsUrl, type, cb);
}
