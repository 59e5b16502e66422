export { classify, type ErrorReason, isSuccess, ManagerError, notConnectedCode, type Outcome } from './errors.ts';
export type {
  Account,
  AccountPatch,
  BalanceOp,
  BalanceReceipt,
  BalanceRequest,
  Credentials,
  Group,
  ManagerApi,
  ManagerRights,
  ManagerSession,
  MarginLevel,
  MoneyKind,
  NewAccount,
  Platform,
  PlatformLimits,
  PumpEvent,
  Result,
  Subscription,
  Trade,
} from './manager-api.ts';
export { MUTATING_CALLS } from './manager-api.ts';
