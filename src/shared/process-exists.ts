/**
 * Whether a process with this pid exists, as far as this process can tell: `kill(pid, 0)`
 * succeeds, or answers EPERM (it exists, as another user's). This process counts.
 * A pid names what runs under it now: one reused since is taken for the one before.
 */
export function processExists(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
