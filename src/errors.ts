/** The few error classes the CLI maps to exit codes; only the CLI calls process.exit. */

/** Where in an input file something is: 1-based line and column. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** One problem in the user's input, located as precisely as the input allows. */
export interface InputProblem {
  message: string;
  /** Dotted key path inside the document, e.g. `all.children.nodes.vars.ssh.port`. */
  path?: string;
  position?: SourcePosition;
}

/** Bad input (inventory, flags, playbook): nothing on any host was touched. Exit code 2. */
export class InputError extends Error {
  readonly problems: InputProblem[];
  constructor(problems: InputProblem[] | string) {
    const list = typeof problems === 'string' ? [{ message: problems }] : problems;
    super(list.map(formatProblem).join('\n'));
    this.name = 'InputError';
    this.problems = list;
  }
}

/** A remote command that exited non-zero where success was required. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    const detail = (stderr.trim() || stdout.trim()).split('\n').slice(-5).join('\n');
    super(`command failed with exit code ${code}: ${command}${detail ? `\n${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** The host could not be reached or authenticated against. */
export class UnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

/** A task refused to act because acting would be unsafe (e.g. it could lock the operator out). */
export class SafetyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyError';
  }
}

/** Formats one problem as `file:line:col: path: message`. */
export function formatProblem(problem: InputProblem): string {
  const where = problem.position
    ? `${problem.position.file}:${problem.position.line}:${problem.position.column}: `
    : '';
  const path = problem.path ? `${problem.path}: ` : '';
  return `${where}${path}${problem.message}`;
}
