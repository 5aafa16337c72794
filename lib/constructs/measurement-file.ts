/** Reads a web tier's `measurement` file: every problem is a PropsError on the field. */
import { PropsError } from "../core/errors";
import { measuredRate, measurementFileSchema, type MeasuredRate } from "../core/measurement";
import type { WebTierSettings } from "../core/schemas";
import { readTextFile } from "../docker/io";

export function readMeasurement(constructPath: string, s: WebTierSettings): MeasuredRate | undefined {
  const file = s.measurement;
  if (file === undefined) return undefined;
  const problem = (text: string) => new PropsError(constructPath, [`measurement: ${file} ${text}`]);
  let text: string;
  try {
    text = readTextFile(file);
  } catch (e) {
    throw problem(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); write it with: npx cdktf-webstack measure --tier ${constructPath}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw problem("is not JSON: write it with npx cdktf-webstack measure");
  }
  const parsed = measurementFileSchema.safeParse(json);
  if (!parsed.success) {
    throw problem(`is not a measurement file: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`).join("; ")}`);
  }
  if (parsed.data.tier !== constructPath) throw problem(`measured the tier ${parsed.data.tier}, not ${constructPath}`);
  if (parsed.data.server !== s.server) throw problem(`measured ${parsed.data.server}, and this tier runs ${s.server}: measure again`);
  const rate = measuredRate(file, parsed.data, s);
  if (typeof rate === "string") throw problem(rate);
  return rate;
}
