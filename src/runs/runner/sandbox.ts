/**
 * The sandbox every run executes in: bubblewrap (`bwrap`) with the system mounted
 * read-only, the run's own work directory read-write at the same absolute path, a
 * private `/tmp` and `HOME`, its own PID namespace, and nothing of the server: the
 * data directory, the server's HOME and secret files are covered up.
 *
 * Inside, a small init of ours (Perl, which every Debian system has: `perl-base` is
 * Essential) is PID 1. It starts the script, reaps orphans, carries out the
 * server's signals with `kill(-1, …)` (which reaches every process of the sandbox
 * and nothing else, whatever they did to their process groups or sessions), and
 * reports the script's exact wait status — bubblewrap's own exit code folds "killed
 * by SIGTERM" and "exit 143" together. When the script ends, the init ends, and the
 * kernel kills whatever is left in the PID namespace: nothing outlives its run.
 *
 * This file is pure: it builds arguments and texts, and never runs anything.
 */
import { isAbsolute, join, normalize, sep } from 'node:path';

/** How the server runs jobs: in a bubblewrap sandbox, or (explicitly opted out) as plain processes. */
export interface SandboxSettings {
  /** Absolute path of the `bwrap` executable. */
  bwrapPath: string;
  /** Absolute path of `perl`, which runs the sandbox's init. */
  perlPath: string;
  /** Directories and files a run must not see (data directory, server HOME, secret files). */
  hidden: ReadonlyArray<{ path: string; kind: 'directory' | 'file' }>;
  /** Extra host paths mounted at the same path (`ENDERCOMPUTE_SANDBOX_BIND`). */
  binds: ReadonlyArray<SandboxBind>;
}

export interface SandboxBind {
  path: string;
  mode: 'ro' | 'rw';
}

/** Names inside a run's work directory that belong to the runner (input files may not start with `.endercompute`). */
export const RUN_HOME_NAME = '.endercompute-home';
export const RUN_TMP_NAME = '.endercompute-tmp';

/** A run's private HOME: inside its work directory, so it is wiped with it. */
export function runHome(workdir: string): string {
  return join(workdir, RUN_HOME_NAME);
}

/** The host directory mounted as the run's `/tmp`: on disk rather than in memory, and wiped with the work directory. */
export function runTmp(workdir: string): string {
  return join(workdir, RUN_TMP_NAME);
}

type Mount =
  | { op: 'tmpfs'; path: string }
  | { op: 'hide-file'; path: string }
  | { op: 'ro' | 'rw'; source: string; path: string };

/**
 * The `bwrap` arguments (everything before the command) for a run in `workdir`.
 * Mounts are ordered from the shallowest path to the deepest, so a mount inside a
 * covered directory (the work directory inside the data directory) is made after
 * the cover and stays visible.
 */
export function bwrapArguments(settings: SandboxSettings, workdir: string): string[] {
  const mounts: Mount[] = [{ op: 'rw', source: runTmp(workdir), path: '/tmp' }];
  for (const item of settings.hidden) {
    if (item.path === '/' ) continue;
    mounts.push(item.kind === 'directory' ? { op: 'tmpfs', path: item.path } : { op: 'hide-file', path: item.path });
  }
  for (const bind of settings.binds) mounts.push({ op: bind.mode, source: bind.path, path: bind.path });
  mounts.push({ op: 'rw', source: workdir, path: workdir });

  const args = [
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--proc', '/proc',
    // Own PID namespace (it sees only its own processes, and all of them end with it),
    // own System V IPC; the network is shared on purpose: jobs clone, download, deploy.
    '--unshare-pid', '--unshare-ipc', '--unshare-cgroup-try',
    // Ends with the server, even one killed with SIGKILL; no terminal tricks (TIOCSTI).
    '--die-with-parent', '--new-session',
    '--as-pid-1',
  ];
  for (const mount of sortByDepth(mounts)) {
    if (mount.op === 'tmpfs') args.push('--tmpfs', mount.path);
    else if (mount.op === 'hide-file') args.push('--ro-bind', '/dev/null', mount.path);
    else args.push(mount.op === 'rw' ? '--bind' : '--ro-bind', mount.source, mount.path);
  }
  args.push('--chdir', workdir);
  return args;
}

/** Stable sort by the number of path segments: parents before children. */
function sortByDepth(mounts: Mount[]): Mount[] {
  const depth = (path: string): number => normalize(path).split(sep).filter(Boolean).length;
  return mounts.map((mount, index) => ({ mount, index })).sort((a, b) => depth(a.mount.path) - depth(b.mount.path) || a.index - b.index).map(({ mount }) => mount);
}

/**
 * Parses `ENDERCOMPUTE_SANDBOX_BIND`: comma-separated `path:ro` or `path:rw` (the
 * mode may be left out: read-only). Paths must be absolute; a path may not contain
 * a comma. Returns the binds and the problems found (for the configuration report).
 */
export function parseSandboxBinds(raw: string): { binds: SandboxBind[]; problems: string[] } {
  const binds: SandboxBind[] = [];
  const problems: string[] = [];
  for (const entry of raw.split(',').map((part) => part.trim()).filter(Boolean)) {
    const match = /^(.*?)(?::(ro|rw))?$/.exec(entry)!;
    const path = match[1]!;
    const mode = (match[2] ?? 'ro') as 'ro' | 'rw';
    if (!isAbsolute(path) || path.includes('\0') || path.includes(':')) {
      problems.push(`ENDERCOMPUTE_SANDBOX_BIND entry "${entry}" must be an absolute path, optionally followed by :ro or :rw`);
      continue;
    }
    binds.push({ path: normalize(path).replace(/(.)\/$/, '$1'), mode });
  }
  return { binds, problems };
}

/**
 * The environment block the server sends the init on its control socket:
 * `<length>\n` then `NAME=VALUE\0` entries. The environment travels this way, not
 * as the init's own environment, so that variables Perl reads at start
 * (`PERL5OPT`, `PERL5LIB`, …) reach the script but never the init.
 */
export function encodeEnvironment(env: Record<string, string>): Buffer {
  const block = Buffer.from(Object.entries(env).map(([name, value]) => `${name}=${value}\0`).join(''), 'utf8');
  return Buffer.concat([Buffer.from(`${block.length}\n`), block]);
}

/**
 * A status line the init writes on the status socket when the script ended:
 * `exit <code>`, `signal <number>`, or `error <message>` when the script could not
 * be started at all. Null for anything else.
 */
export function parseInitStatus(line: string): { exitCode: number; signal: null } | { exitCode: null; signal: number } | { error: string } | null {
  const match = /^(exit|signal|error) (.*)$/.exec(line);
  if (!match) return null;
  if (match[1] === 'error') return { error: match[2]! };
  const value = Number(match[2]);
  if (!Number.isInteger(value) || value < 0 || value > 255) return null;
  return match[1] === 'exit' ? { exitCode: value, signal: null } : { exitCode: null, signal: value };
}

/**
 * The send buffer the init asks for on the output channel (a Unix stream socket, see
 * `output-channel.ts`): how much a run may write ahead while the server is busy
 * elsewhere (a batch's commit and its fsync, a collection, a request). With the
 * default (`net.core.wmem_default`, 208 KiB) a writer as fast as `yes` stopped within
 * a millisecond of each of those, and its 100 MB took 2.25–2.56× writing to a file;
 * with 4 MiB, 1.4–2.1× (docs/DESIGN.md, "Writing ahead"). Linux caps the request at `net.core.wmem_max` (208 KiB by
 * default, 4 MiB on some hosts) and doubles it, so it at least doubles the buffer. It
 * is a ceiling, not an allocation: the kernel holds only what is written and not yet read.
 */
export const OUTPUT_SEND_BUFFER_BYTES = 4 * 1024 * 1024;
/** The init's line that asks for it (Linux: SOL_SOCKET 1, SO_SNDBUF 7). */
export const GROW_OUTPUT_BUFFER = `setsockopt(STDOUT, 1, 7, ${OUTPUT_SEND_BUFFER_BYTES});`;

/** The signals the init carries out on the server's behalf (SIGKILL is done from outside: the whole sandbox goes). */
export const INIT_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGSTOP', 'SIGCONT', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * The init, run as `perl -e INIT -- <umask> <interpreter path> <argv0> <script> <args…>`
 * with the control socket as file descriptor 3 (server to init) and the status
 * socket as file descriptor 4 (init to server). The status has a socket of its own
 * because the server may write a control line the init never reads (a CONT after a
 * TERM, as the script ends): closing a socket with unread data resets it, and Node
 * then drops what the init wrote on it. No modules are loaded (start-up
 * time is the sandbox's cost on every run). Numbers are Linux's: WNOHANG 1,
 * F_SETFD 2, FD_CLOEXEC 1.
 *
 * - Grows the output channel's send buffer (see {@link OUTPUT_SEND_BUFFER_BYTES}; a
 *   failure is harmless: the socket keeps its size).
 * - Reads the environment block, starts the script with stderr joined to stdout
 *   (one pipe: the order of the log is exactly the order the script wrote in),
 *   the server's original umask, and nothing of the control or status socket.
 * - Waits for children and for control lines (`TERM`, `STOP`, `CONT`, …), each
 *   carried out as `kill(-1, SIG)`: every process of the sandbox but the init.
 * - When the script ends, writes its status and exits; the kernel then kills
 *   every process left in the PID namespace. When the server goes away (the
 *   socket closes), everything is killed.
 * - SIGCHLD wakes the wait through a pipe the handler writes to, so a child that
 *   ends between the reap and the wait is never missed.
 */
export const SANDBOX_INIT = String.raw`
my ($umask, $path, @argv) = @ARGV;
open(my $ctl, '<&=', 3) or exit 120;
open(my $st, '>&=', 4) or exit 120;
fcntl($ctl, 2, 1);
fcntl($st, 2, 1);
my ($head, $c) = ('', '');
while ($c ne "\n") { sysread($ctl, $c, 1) or exit 121; $head .= $c }
my $need = int($head);
my $block = '';
while (length($block) < $need) { sysread($ctl, $block, $need - length($block), length($block)) or exit 121 }
%ENV = ();
for my $entry (split /\0/, $block) { my $at = index($entry, '='); $ENV{substr($entry, 0, $at)} = substr($entry, $at + 1) if $at > 0 }
${GROW_OUTPUT_BUFFER}
pipe(my $wake_r, my $wake_w) or exit 122;
$SIG{CHLD} = sub { syswrite($wake_w, 'x') };
my $pid = fork();
defined $pid or do { syswrite($st, "error cannot fork: $!\n"); exit 123 };
if ($pid == 0) {
  $SIG{CHLD} = 'DEFAULT';
  umask(oct($umask));
  open(STDERR, '>&', \*STDOUT);
  exec { $path } @argv;
  syswrite($st, "error cannot start $path: $!\n");
  exit 127;
}
close(STDOUT);
close(STDERR);
my $pending = '';
while (1) {
  while ((my $done = waitpid(-1, 1)) > 0) {
    next if $done != $pid;
    my $status = $?;
    syswrite($st, ($status & 127) ? 'signal ' . ($status & 127) . "\n" : 'exit ' . ($status >> 8) . "\n");
    exit 0;
  }
  my $in = '';
  vec($in, fileno($ctl), 1) = 1;
  vec($in, fileno($wake_r), 1) = 1;
  next if select(my $ready = $in, undef, undef, undef) <= 0;
  sysread($wake_r, my $ignored, 512) if vec($ready, fileno($wake_r), 1);
  next unless vec($ready, fileno($ctl), 1);
  if (!sysread($ctl, $pending, 512, length($pending))) { kill('KILL', -1); exit 0 }
  while ($pending =~ s/^([A-Z0-9]+)\n//) { kill($1, -1) }
}
`;

/**
 * `PATH` as a sandboxed run can use it: entries inside a hidden directory (tools
 * installed under the server's HOME, such as pyenv or nvm shims) are left out,
 * unless a bind makes them visible again, so that commands resolve to what the
 * sandbox actually contains.
 */
export function visibleSearchPath(pathVariable: string, settings: SandboxSettings): string {
  const under = (path: string, directory: string): boolean => path === directory || path.startsWith(directory.endsWith('/') ? directory : `${directory}/`);
  return pathVariable
    .split(':')
    .filter((entry) => {
      if (entry === '' || !isAbsolute(entry)) return true;
      const hidden = settings.hidden.some((item) => item.kind === 'directory' && under(normalize(entry), item.path));
      return !hidden || settings.binds.some((bind) => under(normalize(entry), bind.path));
    })
    .join(':');
}
