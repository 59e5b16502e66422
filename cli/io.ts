/** Where a command writes: stdout and stderr in the real program, buffers in tests. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** The first SIGINT or SIGTERM (a second one while stopping kills the process the default way). */
export function processSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
