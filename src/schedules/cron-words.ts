/**
 * A cron pattern in words for the pages ("every 2 minutes", "at 02:30, Monday
 * through Friday"), with cronstrue, in 24-hour time. The words describe the
 * pattern in its own time zone; the pages say which one beside them.
 */
import cronstrue from 'cronstrue';

/** Names croner accepts that cronstrue does not: what each one means as five fields. */
const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The pattern in words, starting lower-case ("every 2 minutes"), or null when it cannot be put in words. Pure. */
export function cronInWords(cron: string): string | null {
  const pattern = NICKNAMES[cron.trim().toLowerCase()] ?? cron.trim();
  try {
    const words = cronstrue.toString(pattern, { use24HourTimeFormat: true, throwExceptionOnParseError: true, verbose: false });
    return words.charAt(0).toLowerCase() + words.slice(1);
  } catch {
    return null;
  }
}
