/** What `provision facts` shows about each host: a playbook says which facts to gather and how to show them. */
import type { Host } from '../inventory/types.ts';
import type { RoleContext } from './role.ts';
import type { Fact, FactReader } from './types.ts';

/** One column of the facts table. */
export interface FactsColumn<Report> {
  title: string;
  /** The cell of one host's report (what a host said is made printable by the table, not here). */
  cell(report: Report): string;
}

/** The facts report of a playbook: the facts to gather on a host, the report read from them, and its table. */
export interface FactsReport<Vars = Record<string, unknown>, Report = unknown> {
  facts(host: Host<Vars>, roles: RoleContext<Vars>): Fact<unknown>[];
  /** The host's report (pure), printed as it is with --json. */
  read(host: Host<Vars>, facts: FactReader, roles: RoleContext<Vars>): Report;
  readonly columns: readonly FactsColumn<Report>[];
}

/** Defines a facts report with its types checked. */
export function defineFactsReport<Vars, Report>(report: FactsReport<Vars, Report>): FactsReport<Vars, Report> {
  return report;
}
