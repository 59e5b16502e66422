export {
  type ClusterOptions,
  Dealer,
  type Exchange,
  type PumpMessage,
  SimCluster,
  SimSession,
  TradingClient,
} from './cluster.ts';
export {
  type ClusterConfig,
  type ClusterConfigInput,
  DEFAULT_SYMBOLS,
  type GroupConfig,
  type ManagerConfig,
  parseClusterConfig,
  type ServerConfig,
  type SymbolConfig,
} from './config.ts';
export { DEFAULT_CLUSTER } from './default-cluster.ts';
export { type ClientOptions, DEFAULT_TIMEOUT_MS, fromMoney, toMoney } from './dialect.ts';
export {
  DEFAULT_PROBABILITY,
  FAULT_KINDS,
  FAULT_SCOPE,
  type FaultConfig,
  type FaultConfigInput,
  type FaultKind,
  type FaultKnobs,
  type FaultPlan,
  type FaultScope,
  parseFaultConfig,
  planFaults,
  type ScheduledFault,
} from './faults.ts';
export {
  MT4_CODES,
  type Mt4ConGroup,
  type Mt4ConManager,
  Mt4ManagerInterface,
  type Mt4MarginLevel,
  type Mt4PumpCallback,
  type Mt4TradeRecord,
  type Mt4TradeTransInfo,
  type Mt4UserRecord,
} from './mt4.ts';
export {
  MT5_CODES,
  type Mt5Account,
  type Mt5ConGroup,
  type Mt5Deal,
  Mt5ManagerApi,
  type Mt5Position,
  type Mt5Sink,
  type Mt5User,
} from './mt5.ts';
export {
  type Actor,
  type Fail,
  type MarginRead,
  type MarginState,
  type MoneyKind,
  type Op,
  type ServerEvent,
  type Side,
  type SimAccount,
  type SimBalanceOp,
  type SimClosedTrade,
  type SimPosition,
  SimServer,
} from './server.ts';
