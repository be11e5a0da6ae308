/** The shared key is renewed every Monday at 00:00 server time. */

/** The most recent Monday 00:00 (local time) at or before `now`. */
export function lastMondayMidnight(now: Date): Date {
  const daysSinceMonday = (now.getDay() + 6) % 7;
  // Built in one step from the Monday's date: going through another day's midnight
  // would land an hour off where that midnight does not exist (a DST change at 00:00).
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - daysSinceMonday);
}

/** The first Monday 00:00 (local time) strictly after `now`. */
export function nextMondayMidnight(now: Date): Date {
  const daysSinceMonday = (now.getDay() + 6) % 7;
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - daysSinceMonday + 7);
}
