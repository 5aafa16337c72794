/**
 * Secrets never appear in rendered files or in the code. The core refers to a secret by name with a
 * placeholder; the cdktf layer replaces the placeholder with a sensitive Terraform variable, and
 * daemons read the value from the environment at start (see each renderer's start script).
 */

export interface SecretSpec {
  /** Terraform variable name, also used for the placeholder. Lower snake case. */
  readonly name: string;
  /** What the secret protects, shown in `terraform plan` prompts. */
  readonly description: string;
}

const PLACEHOLDER = /@@secret:([a-z0-9_]+)@@/g;

/** A placeholder the cdktf layer swaps for `${var.<name>}`. */
export function secretRef(name: string): string {
  return `@@secret:${name}@@`;
}

/** Every secret name referenced in a string. */
export function secretsIn(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/** Replaces each placeholder with `replace(name)`. */
export function substituteSecrets(text: string, replace: (name: string) => string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => replace(name));
}
