// Errors an operator can cause — bad input, a file that cannot be read, a
// kernel that refuses, an address in use — all extend UserError: the message
// says what was wrong and what to do, and the CLI prints it as one line with
// its exit code (src/cli/main.ts decides by this type, nothing else). Any
// other error is a bug, printed with its stack.

export class UserError extends Error {
  /** The exit code the CLI gives it: 1 (what was asked cannot be done), 2 (the command line is wrong). */
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}
