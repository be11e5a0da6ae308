/**
 * Checks that a page shows hostile text as text: the payloads the escaping
 * suites plant, and what in a page's markup would run script or style.
 */

export const SCRIPT_TAG = '<script>alert(1)</script>';
export const IMG_TAG = '"><img src=x onerror=alert(1)>';
export const TEXTAREA_BREAKOUT = '</textarea><script>alert(2)</script>';
export const ESCAPED_SCRIPT = '&lt;script&gt;alert(1)&lt;/script&gt;';
export const ESCAPED_IMG = '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;';

export interface Tag {
  name: string;
  attributes: Array<{ name: string; value: string }>;
  raw: string;
}

/** The start tags of a page. Escaped text has no raw `<`, and escaped attribute values no raw `"` or `>`. */
export function tagsOf(html: string): Tag[] {
  const tags: Tag[] = [];
  for (const match of html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g)) {
    const attributes = [...match[2].matchAll(/\s+([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)].map((a) => ({
      name: a[1].toLowerCase(),
      value: a[2] ?? a[3] ?? a[4] ?? '',
    }));
    tags.push({ name: match[1].toLowerCase(), attributes, raw: match[0] });
  }
  return tags;
}

/** Everything that would run script or style in the page, if present. */
export function activeMarkup(html: string): string[] {
  const found: string[] = [];
  for (const tag of tagsOf(html)) {
    const src = tag.attributes.find((a) => a.name === 'src')?.value;
    if (tag.name === 'script' && !(src && src.startsWith('/static/'))) found.push(`inline or foreign script: ${tag.raw}`);
    if (tag.name === 'style') found.push(`style element: ${tag.raw}`);
    if (tag.name === 'img' || tag.name === 'iframe' || tag.name === 'object' || tag.name === 'embed') found.push(`unexpected element: ${tag.raw}`);
    for (const attribute of tag.attributes) {
      if (attribute.name.startsWith('on')) found.push(`event handler attribute: ${tag.raw}`);
      if (attribute.name === 'style') found.push(`style attribute: ${tag.raw}`);
      if (attribute.name.startsWith('hx-on')) found.push(`hx-on handler: ${tag.raw}`);
      if (/^\s*javascript:/i.test(attribute.value)) found.push(`javascript: URL: ${tag.raw}`);
    }
  }
  // A raw payload anywhere means it escaped the escaping (in text or in an attribute).
  for (const payload of [SCRIPT_TAG, '<img src=x onerror', TEXTAREA_BREAKOUT, '<script>alert(2)']) {
    if (html.includes(payload)) found.push(`raw payload ${payload}`);
  }
  return found;
}

