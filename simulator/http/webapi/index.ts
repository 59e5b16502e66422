// Public surface of the served MT5 Web API dialect (see README.md).
export {
  buildWebApiApp,
  DEFAULT_AUTH_WINDOW_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  listenWebApi,
  type WebApiListener,
  type WebApiOptions,
} from './app.ts';
export {
  answersMatch,
  cliRandAnswer,
  isRandHex,
  passwordDigest,
  randAnswer,
  srvRandAnswer,
  webApiPasswordHash,
} from './auth.ts';
export { MAX_PAGE } from './commands.ts';
export { MIN_CLIENT_VERSION, VERSION_ACCESS, VERSION_TRADE } from './handshake.ts';
export { envelope, retcodeText, type WebApiAnswer } from './retcode.ts';
export { CONNECTION_HEADER, type ConnectionKey } from './session.ts';
