#!/usr/bin/env node
import 'reflect-metadata';
import { runCli } from './program';

runCli(process.argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`uuru-fed: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
