import type { RestClient } from './rest';
import { expectJson } from './server-process';

/** How many events the log holds, counted through `GET /api/events` (the audit trail a person reads). */
export async function countEvents(client: RestClient): Promise<number> {
  let count = 0;
  let after: string | null = null;
  for (;;) {
    const page: { items: unknown[]; next: string | null } = await expectJson(
      await client.request(`/api/events?limit=1000${after !== null ? `&after=${after}` : ''}`),
      200,
    );
    count += page.items.length;
    if (page.next === null || page.items.length === 0) return count;
    after = page.next;
  }
}
