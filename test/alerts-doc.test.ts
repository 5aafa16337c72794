import * as fs from "node:fs";
import * as path from "node:path";
import { readmeWithAlerts } from "../scripts/alerts-doc";

test("the README's table of alerts is generated from the alert specs and current", () => {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const wanted = readmeWithAlerts(readme);
  expect(wanted).toContain("| DatabaseConnectionsHigh | invenio/db | warning | 1 min | > 157.6 connections |");
  expect(readme).toBe(wanted);
});
