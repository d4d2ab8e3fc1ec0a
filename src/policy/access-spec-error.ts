// Why an access cannot get credentials: `reason` is the CamelCase condition reason (InvalidSpec or
// PolicyViolation), the message names the field.

export class AccessSpecError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
