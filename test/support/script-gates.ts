import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A file a script waits for: the test decides when the run may go on. */
export interface ScriptGate {
  path: string;
  /** The shell line that blocks until the gate opens. */
  wait: string;
  open(): void;
}

/**
 * Gates in a temp folder of their own; `openAll` releases every run still waiting,
 * `remove` cleans up. Sandboxed runs see the folder only when the server binds it:
 * start the server with `sandboxEnv` (ENDERCOMPUTE_SANDBOX_BIND, as a site would
 * for a shared directory).
 */
export function scriptGates(prefix = 'endercompute-gates-'): {
  folder: string;
  sandboxEnv: { ENDERCOMPUTE_SANDBOX_BIND: string };
  gate(name?: string): ScriptGate;
  openAll(): void;
  remove(): void;
} {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  const opened = new Set<string>();
  const made: string[] = [];
  let count = 0;
  return {
    folder,
    sandboxEnv: { ENDERCOMPUTE_SANDBOX_BIND: `${folder}:ro` },
    gate(name = `gate-${++count}`) {
      const path = join(folder, name);
      made.push(path);
      return {
        path,
        wait: `while [ ! -e '${path}' ]; do sleep 0.02; done`,
        open: () => {
          opened.add(path);
          writeFileSync(path, '');
        },
      };
    },
    openAll: () => made.filter((path) => !opened.has(path)).forEach((path) => writeFileSync(path, '')),
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}
