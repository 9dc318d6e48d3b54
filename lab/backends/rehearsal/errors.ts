// A user-facing rehearsal error: printed as one message, exit code 2 (bad input or an unfit machine).
export class RehearsalError extends Error {}
