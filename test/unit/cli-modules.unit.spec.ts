import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

/**
 * Every CLI command starts a Node process, so what the CLI loads before it knows the
 * command is paid by all of them: the log's modules (SQLite, Nest's logger) took about
 * 0.2 s of each start. Only `backup` and `restore` load them, when they run.
 */
describe('the CLI at start', () => {
  it('loads neither SQLite nor Nest until a command needs them', () => {
    const cli = resolve(__dirname, '../../src/cli/main.js');
    // The CLI as a user starts it (printing its help), reporting what it had loaded as it exits.
    const script = `process.argv = [process.argv[0], ${JSON.stringify(cli)}, '--help'];
      process.on('exit', () => {
        const loaded = Object.keys(require.cache).filter((file) => /node_modules\\/(better-sqlite3|@nestjs)\\//.test(file));
        process.stderr.write('LOADED ' + JSON.stringify(loaded) + '\\n');
      });
      require(${JSON.stringify(cli)});`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.match(run.stdout, /Usage: endercompute/, 'it printed its help');
    const report = /^LOADED (.*)$/m.exec(run.stderr);
    assert.ok(report, run.stderr);
    const loaded = JSON.parse(report[1]) as string[];
    assert.deepEqual(loaded, []);
  });
});
