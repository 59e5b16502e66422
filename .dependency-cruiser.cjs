/**
 * Layer rules for mtproof (see DESIGN.md "Layout").
 *
 * Arrows point one way:
 *   cli/bench → scenarios/reports → service → adapters/port ← adapters/sim → simulator → kit, metatrader
 *
 * Every layer rule is written as an allow-list: "a module in <layer> may only reach project modules in
 * <allowed folders>". npm packages and node built-ins are never matched by the layer rules (devDependencies
 * are handled by `not-to-dev-dep`, unresolvable imports by `not-to-unresolvable`).
 *
 * On the command line depcruise refuses a folder that does not exist ("Can't open 'x' for reading"), so the
 * folders are listed as one brace glob, which skips any that is missing (a checkout without bench/, say):
 *   depcruise --config .dependency-cruiser.cjs '{kit,metatrader,simulator,adapters,service,scenarios,reports,cli,bench}'
 */

/** Paths (relative to the cruise's base directory) that belong to this project, not to a package. */
const project = (...allowed) => ({
  pathNot: ['(^|/)node_modules/', ...allowed],
  dependencyTypesNot: ['core'],
  couldNotResolve: false,
});

/** `^(a|b|c)/` */
const under = (...folders) => `^(${folders.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'kit-is-a-leaf',
      comment:
        'kit/ (clock, random, scheduler, trace, errors) is the determinism kit everything else builds on: ' +
        'it imports nothing of the project.',
      severity: 'error',
      from: { path: '^kit/' },
      to: project(under('kit')),
    },
    {
      name: 'metatrader-is-a-leaf',
      comment: 'metatrader/ holds the platform constants (codes, limits, groups): it imports nothing of the project.',
      severity: 'error',
      from: { path: '^metatrader/' },
      to: project(under('metatrader')),
    },
    {
      name: 'simulator-is-a-leaf',
      comment:
        'simulator/ plays the MetaTrader servers and knows nothing of who talks to it: it may import kit/ and ' +
        'metatrader/ only, never adapters/, service/, scenarios/, reports/, cli/ or bench/.',
      severity: 'error',
      from: { path: '^simulator/', pathNot: '^simulator/(http|msw|proxy)/' },
      to: project(under('simulator', 'kit', 'metatrader')),
    },
    {
      name: 'port-imports-only-kit-and-metatrader',
      comment:
        'adapters/port/ is the ManagerApi port (types, errors) shared by the service and every adapter: ' +
        'it may import kit/ and metatrader/ only.',
      severity: 'error',
      from: { path: '^adapters/port/' },
      to: project(under('adapters/port', 'kit', 'metatrader')),
    },
    {
      name: 'sim-adapter-imports-only-port-and-simulator',
      comment:
        'adapters/sim/ implements the port on the in-process simulator: it may import kit/, metatrader/, ' +
        'adapters/port/ and simulator/ only (no other adapter, no service/, scenarios/, reports/, cli/).',
      severity: 'error',
      from: { path: '^adapters/sim/' },
      to: project(under('adapters/sim', 'adapters/port', 'simulator', 'kit', 'metatrader')),
    },
    {
      name: 'adapter-imports-only-port',
      comment:
        'An adapter other than sim (http, mt4-dll, mt5-dll, ...) talks to a real or remote server: it may import ' +
        'kit/, metatrader/, adapters/port/ and its own folder only (not simulator/, not another adapter, ' +
        'not service/, scenarios/, reports/, cli/).',
      severity: 'error',
      // $1 is the adapter's folder name (the look-ahead does not capture).
      from: { path: '^adapters/(?!(?:port|sim)/)([^/]+)/' },
      to: project('^adapters/(port|$1)/', under('kit', 'metatrader')),
    },
    {
      name: 'adapters-root-imports-no-upper-layer',
      comment:
        'A module directly in adapters/ (e.g. a barrel) sits below the service: it may not import service/, ' +
        'scenarios/, reports/, cli/ or bench/.',
      severity: 'error',
      from: { path: '^adapters/[^/]+$' },
      to: { path: under('service', 'scenarios', 'reports', 'cli', 'bench') },
    },
    {
      name: 'served-simulator-imports-only-simulator-and-sim-adapter',
      comment:
        'simulator/http/, simulator/msw/ and simulator/proxy/ put the simulator on the wire (native JSON, control ' +
        'and MT5 Web API surfaces, msw handlers, the TCP fault proxy). The native surface mirrors the ManagerApi ' +
        'port through the in-process adapter, so besides the simulator, kit/ and metatrader/ they may import ' +
        'adapters/port/ and adapters/sim/ — never the service, the harness, reports or cli.',
      severity: 'error',
      from: { path: '^simulator/(http|msw|proxy)/' },
      to: project(under('simulator', 'adapters/port', 'adapters/sim', 'kit', 'metatrader')),
    },
    {
      name: 'service-imports-only-port',
      comment:
        'service/ is the integration under test and must work against any adapter: it may import kit/, ' +
        'metatrader/ and adapters/port/ only, never simulator/ and never an adapter (only cli/ and the ' +
        'scenario harness pick adapters), nor scenarios/, reports/, cli/, bench/.',
      severity: 'error',
      from: { path: '^service/' },
      to: project(under('service', 'adapters/port', 'kit', 'metatrader')),
    },
    {
      name: 'scenarios-not-to-reports-or-cli',
      comment:
        'scenarios/ is the harness (it picks adapters): it may import kit/, metatrader/, simulator/, adapters/ ' +
        'and service/, but not reports/ (reports read scenario results, not the other way round), cli/ or bench/.',
      severity: 'error',
      from: { path: '^scenarios/' },
      to: project(under('scenarios', 'service', 'adapters', 'simulator', 'kit', 'metatrader')),
    },
    {
      name: 'mutants-use-only-the-public-contract',
      comment:
        'scenarios/mutants/ are integrations written as a third party would write one: they may import the ' +
        'Integration contract (scenarios/integration.ts), the ManagerApi port, kit/, metatrader/, the broker ' +
        "config's types (service/config.ts), the invariant names their catalogue says catch them " +
        "(scenarios/script.ts, types only), and each other; nothing of the harness's or the service's internals.",
      severity: 'error',
      from: { path: '^scenarios/mutants/' },
      to: project(
        '^scenarios/mutants/',
        '^scenarios/integration[.]ts$',
        '^scenarios/script[.]ts$',
        '^service/config[.]ts$',
        under('adapters/port', 'kit', 'metatrader'),
      ),
    },
    {
      name: 'mutants-take-only-types-from-the-script-format',
      comment:
        'scenarios/script.ts is the harness\'s script format (zod schemas, parsing): a planted bug may name ' +
        'invariants with its types (`import type`), and runs none of its code.',
      severity: 'error',
      from: { path: '^scenarios/mutants/' },
      to: { path: '^scenarios/script[.]ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'reports-imports-only-scenarios-kit-metatrader',
      comment:
        'reports/ renders scenario results (JSON, JUnit, HTML): it may import kit/, metatrader/ and scenarios/ ' +
        '(for the result types) only; it never drives the simulator, an adapter or the service itself.',
      severity: 'error',
      from: { path: '^reports/' },
      to: project(under('reports', 'scenarios', 'kit', 'metatrader')),
    },
    {
      name: 'not-to-test',
      comment: 'test/ may import anything; nothing outside test/ (cli/ and bench/ included) may import test/.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      comment:
        'No module may (indirectly) import itself: cycles hide the layer order and break module ' +
        'initialisation order in ESM. A cycle made only of `import type` edges is erased at compile time ' +
        '(verbatimModuleSyntax) and is not reported; one runtime edge in the cycle is enough to report it.',
      severity: 'error',
      from: {},
      to: { circular: true, via: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-dev-dep',
      comment:
        'Code that ships (everything but test/ and bench/, and the root tool configs) may not import a ' +
        'devDependency: it would be missing in a production install. Move the package to dependencies.',
      severity: 'error',
      from: { path: '^[^/]+/', pathNot: ['^(test|bench|node_modules)/'] },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'An import depcruise cannot resolve (typo, missing package, missing .ts file) would also slip ' +
        'past the layer rules above, so it is an error in itself.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(tmp|coverage|\\.mtproof)/' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
