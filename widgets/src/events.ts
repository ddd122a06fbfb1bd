/**
 * Events pushed by the server (`{base_url}kernelswitch/api/events`) for the
 * notebook widgets. The same client as the JupyterLab extension's, on the
 * same single websocket per page (labextension/src/events_core.ts).
 */

import { EventCallback, subscribe } from '../../labextension/src/events_core';
import { pageConfig } from './api';

export { eventsConnected, setStatsWatched, setThumbnailsVisible } from '../../labextension/src/events_core';
export type { EventCallback } from '../../labextension/src/events_core';

function eventsUrl(): string {
  const { baseUrl, token } = pageConfig();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${proto}//${location.host}${baseUrl}kernelswitch/api/events${query}`;
}

/** `cb(msg)` for every event of `type` ("*" for all); returns the unsubscribe. */
export function onEvent(type: string, cb: EventCallback): () => void {
  return subscribe(eventsUrl, type, cb);
}
