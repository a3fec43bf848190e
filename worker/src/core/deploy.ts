import { compileGlob, type Glob, matchGlob } from "./glob.ts";
import type { DeployPolicy, DeployRef } from "./types.ts";

/** Each policy's deploy refs, compiled once. */
const compiled = new WeakMap<DeployPolicy, { target: DeployRef; glob: Glob }[]>();

/**
 * The configured deploy ref (`deploy.refs`, globs over full refs) that `ref` matches, first
 * listed first; null for none. The one place a ref is judged to deploy: the decision tree and
 * the alert policy both ask here.
 */
export function deployRefOf(deploy: DeployPolicy, ref: string | null): DeployRef | null {
  if (ref === null) return null;
  let refs = compiled.get(deploy);
  if (refs === undefined) {
    refs = deploy.refs.map((target) => ({ target, glob: compileGlob(target.ref) }));
    compiled.set(deploy, refs);
  }
  return refs.find(({ glob }) => matchGlob(glob, ref))?.target ?? null;
}
