/** The service's log port: structured entries, one per event. cli/ plugs a real logger in; tests collect them. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  msg: string;
  [field: string]: unknown;
}

export type Logger = (entry: LogEntry) => void;

export const silentLogger: Logger = () => {};
