/** Field types shared by the props schemas. */
import { z } from "zod";

export const positiveInt = z.number().int().min(1);
export const nonNegativeInt = z.number().int().min(0);
/** Memory limit of one container, MiB. */
export const memoryMiB = z.number().int().min(16).max(1024 * 1024);
export const dockerImage = z.string().min(1).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/, "must be a Docker image reference like 'nginx:1.22'");
export const urlPath = z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a URL path starting with '/'");
export const identifier = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lower case letters, digits and '_', starting with a letter");
/** nginx-style size: `10m`, `50g`, `512k` or a number of bytes. */
export const bodySize = z.string().regex(/^[0-9]+[kmgKMG]?$/, "must be a size like '10m', '50g' or '512k'");
