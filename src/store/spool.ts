/**
 * The file spool: each mail's PDF/PNG files live in their own directory under DATA_DIR/spool until
 * every delivery of the report is final (and the retention time has passed).
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

export function spoolRoot(dataDir: string): string {
  return path.resolve(dataDir, 'spool');
}

/**
 * Removes spool directories no report refers to: files of a mail whose recording was interrupted by a
 * crash. Call at start-up, before any listener runs. Returns how many were removed.
 */
export function removeOrphanSpoolDirs(root: string, referenced: ReadonlySet<string>): number {
  let removed = 0;
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const dir = path.join(root, entry);
    if (referenced.has(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
