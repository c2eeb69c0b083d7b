// The server entry ('bitnet/server'): the OpenAI-compatible app as a web-standard Request -> Response handler.
export { createServerApp } from './server/app.js';
export type { ServerApp, ServerOptions, ServerState } from './server/app.js';
