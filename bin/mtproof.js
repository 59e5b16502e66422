#!/usr/bin/env node
// The `mtproof` command: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
const io = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };
process.exitCode = await main(process.argv.slice(2), io, {
  progress: process.stderr.isTTY === true,
  cwd: process.cwd(),
});
