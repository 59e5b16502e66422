/** Where a command writes: stdout and stderr in the real program, buffers in tests. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}
