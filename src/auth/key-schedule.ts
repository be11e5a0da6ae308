/** The shared key is renewed every Monday at 00:00 server time. */

/** The most recent Monday 00:00 (local time) at or before `now`. */
export function lastMondayMidnight(now: Date): Date {
  const monday = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const daysSinceMonday = (monday.getDay() + 6) % 7;
  monday.setDate(monday.getDate() - daysSinceMonday);
  return monday;
}

/** The first Monday 00:00 (local time) strictly after `now`. */
export function nextMondayMidnight(now: Date): Date {
  const next = lastMondayMidnight(now);
  next.setDate(next.getDate() + 7);
  return next;
}
