/** The process's streams and environment as a command sees them (tests give their own). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Given only when it is a terminal: then a missing password is asked for. */
  stdin?: NodeJS.ReadStream;
  /** Standard input whatever it is: `poplift login` reads a pasted address from it. */
  input?: NodeJS.ReadableStream;
}
