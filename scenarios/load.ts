import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MtproofError } from '../kit/errors.ts';
import type { IntegrationFactory } from './integration.ts';
import { mtproofIntegration } from './integrations/mtproof.ts';

/**
 * Finds the integration a certification runs against: `mtproof` (our service, the default) or a module
 * path whose default export (or `createIntegration` export) is an IntegrationFactory. A relative path is
 * looked up from the working folder first, then from mtproof's own folder (so the planted bugs'
 * `scenarios/mutants/…` paths work from anywhere).
 */

const OWN_INTEGRATION = 'mtproof';

const PACKAGE_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface LoadedIntegration {
  /** As a saved script records it: `mtproof`, or the module's path (relative when under the working folder). */
  module: string;
  name: string;
  factory: IntegrationFactory;
}

export async function loadIntegration(spec: string | undefined, cwd = process.cwd()): Promise<LoadedIntegration> {
  if (spec === undefined || spec === OWN_INTEGRATION) {
    return { module: OWN_INTEGRATION, name: 'mtproof integration service', factory: mtproofIntegration() };
  }
  const candidates = isAbsolute(spec) ? [spec] : [resolve(cwd, spec), resolve(PACKAGE_ROOT, spec)];
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw new MtproofError('MTP_INTEGRATION_INVALID', `integration module not found: ${spec}`, [
      { path: '--integration', message: `looked in ${candidates.join(' and ')}` },
    ]);
  }
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new MtproofError(
      'MTP_INTEGRATION_INVALID',
      `integration module ${spec} failed to load: ${(error as Error).message}`,
    );
  }
  const factory = exports.default ?? exports.createIntegration;
  if (typeof factory !== 'function') {
    throw new MtproofError(
      'MTP_INTEGRATION_INVALID',
      `integration module ${spec} exports no factory: export default (or export createIntegration) a function (setup) => Integration`,
    );
  }
  const meta = exports.mutant as { name?: unknown } | undefined;
  const shown = path.startsWith(cwd)
    ? relative(cwd, path)
    : path.startsWith(PACKAGE_ROOT)
      ? relative(PACKAGE_ROOT, path)
      : path;
  return {
    module: shown,
    name: typeof meta?.name === 'string' ? meta.name : shown,
    factory: checkedFactory(factory as IntegrationFactory, spec),
  };
}

/** A factory whose integrations are checked for the commands the harness calls, once each. */
function checkedFactory(factory: IntegrationFactory, spec: string): IntegrationFactory {
  return (setup) => {
    const integration = factory(setup);
    const required = [
      'run',
      'registerClient',
      'setKyc',
      'openAccount',
      'deposit',
      'withdraw',
      'credit',
      'reconcile',
      'accounts',
      'transfers',
      'alerts',
    ];
    const missing = required.filter(
      (m) => typeof (integration as unknown as Record<string, unknown>)[m] !== 'function',
    );
    if (missing.length > 0) {
      throw new MtproofError(
        'MTP_INTEGRATION_INVALID',
        `integration module ${spec}: the object its factory returns lacks ${missing.join(', ')}`,
      );
    }
    return integration;
  };
}
