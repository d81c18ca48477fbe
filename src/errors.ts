// Errors meant for the operator: the message says what was wrong and what to
// do. The CLI prints them without a stack trace.

export class UserError extends Error {
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
