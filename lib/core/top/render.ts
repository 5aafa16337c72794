/** `cdktf-webstack top`'s output: one table per rule and server, the live figure beside the model's; or JSON. */
import type { TopReport, TopRow, TopSection } from "./compare";

const fmt = (n: number | null) => (n === null ? "-" : String(n));

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (i === r.length - 1 ? 0 : r[i].length))));
  // Names left, figures right; the last column (notes) is not padded.
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")}`.trimEnd());
}

const flag = (over: boolean) => (over ? "OVER" : "");

function sectionLines(s: TopSection): string[] {
  const title = `${s.rule}  ${s.container === "(every container)" ? s.component : `${s.component} ${s.container}`} (${s.unit})`;
  if (s.error !== undefined) return [title, `  could not read: ${s.error}`];
  const model = s.unit === "sessions" ? "maxconn" : s.unit === "MiB" ? "limit" : "model";
  // PostgreSQL tells open connections from those running a query now; the others show only the first.
  const hasActive = s.rows.some((r) => r.active !== undefined);
  const active = (r: TopRow) => (hasActive ? [r.active === undefined ? "-" : String(r.active)] : []);
  const rows: string[][] = [
    ["", "live", ...(hasActive ? ["active"] : []), model, "", ""],
    ...s.rows.map((r: TopRow) => [r.who, fmt(r.live), ...active(r), fmt(r.model), flag(r.over), r.note]),
  ];
  if (s.total) {
    const totalActive = hasActive ? [String(s.rows.reduce((n, r) => n + (r.active ?? 0), 0))] : [];
    rows.push(["total", fmt(s.total.live), ...totalActive, String(s.total.model), flag(s.total.over), `limit ${s.total.limit} (${s.total.limitText})`]);
  }
  return [title, ...table(rows), ...(s.note ? [`  note: ${s.note}`] : [])];
}

export function renderTop(report: TopReport): string {
  const over = report.sections.flatMap((s) => [...s.rows.filter((r) => r.over).map((r) => `${s.container} ${r.who}`), ...(s.total?.over ? [`${s.container} total`] : [])]);
  return [
    `${report.stack}: live figures read on ${report.engine}, beside the model's (OVER: above the model's figure)`,
    "",
    ...report.sections.flatMap((s) => [...sectionLines(s), ""]),
    over.length ? `above the model: ${over.join(", ")}` : "nothing above the model's figures",
    "",
  ].join("\n");
}

/** One report per stack, as an array (an app may hold several stacks). */
export const renderTopJson = (reports: readonly TopReport[]) => `${JSON.stringify(reports, null, 2)}\n`;
