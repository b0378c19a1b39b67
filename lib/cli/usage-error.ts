// A command line that cannot be run as written: exit status 2, and a pointer to --help.
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
