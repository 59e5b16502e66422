/**
 * The shape of a module for `mtproof certify --integration examples/integration-module.ts`.
 *
 * A module exports, as default (or as `createIntegration`), a factory: given the broker config and the
 * run's seed, it returns an `Integration` — the object the harness drives as CRM, client portal and payment
 * provider, and crashes and restarts at will (see scenarios/README.md, "Certifying your own integration").
 *
 * This one certifies "lite", a small integration written only against the public types, in
 * scenarios/mutants/lite.ts: read it as the worked example of a whole third-party integration. Swap the
 * body of the factory for an adapter to your own system: call your service's API from each command, and
 * give it `runtime.manager(serverId)` as its MetaTrader connection.
 */
import type { IntegrationFactory } from '../scenarios/index.ts';
import { liteIntegration } from '../scenarios/index.ts';

const createIntegration: IntegrationFactory = (setup) => liteIntegration()(setup);

export default createIntegration;
