/**
 * ANSI colours and styles to escaped HTML, through the `ansi_up` library (it
 * escapes `& < > " '` itself and drops the control sequences it does not
 * render). Its output is made CSP-clean here: `ansi_up` writes bold, faint,
 * italic, underline and 256/true colours as `style="…"` attributes, which a
 * strict Content-Security-Policy refuses, so each declaration becomes a class
 * (`views/static/output.css` defines them; a true colour is shown as the
 * nearest of the xterm 256-colour palette, as many terminals do).
 */
import { AnsiUp } from 'ansi_up';

/** Markers `ansi_up` writes into its style attribute for the text styles; mapped to classes below. */
const STYLE_CLASSES: Readonly<Record<string, string>> = {
  'ec-bold': 'ansi-bold',
  'ec-faint': 'ansi-faint',
  'ec-italic': 'ansi-italic',
  'ec-underline': 'ansi-underline',
};

/** The only attribute-bearing span `ansi_up` writes: its text is escaped, so a raw `"` here is always its own. */
const STYLED_SPAN = /<span style="([^"]*)"(?: class="([^"]*)")?>/g;
const COLOUR = /^(color|background-color):rgb\((\d{1,3}),(\d{1,3}),(\d{1,3})\)$/;
const CUBE_LEVELS = [0, 95, 135, 175, 215, 255];

/** Renders single lines of terminal text to HTML; one instance per renderer (it is not re-entrant). */
export class AnsiHtml {
  private readonly converter = new AnsiUp();

  constructor() {
    this.converter.use_classes = true;
    this.converter.escape_html = true;
    this.converter.boldStyle = 'ec-bold';
    this.converter.faintStyle = 'ec-faint';
    this.converter.italicStyle = 'ec-italic';
    this.converter.underlineStyle = 'ec-underline';
  }

  /**
   * One line (no `\n` in it) as HTML, starting in the state that the SGR
   * sequences in `carry` set. A newline is fed after the text so that an
   * escape sequence cut at the end is dropped rather than kept for the next
   * call; it is removed again from the result.
   */
  line(carry: string, text: string): string {
    const html = this.converter.ansi_to_html(`\x1b[0m${carry}${text}\n`);
    const newline = html.lastIndexOf('\n');
    const withoutNewline = newline < 0 ? html : html.slice(0, newline) + html.slice(newline + 1);
    return cspClean(withoutNewline);
  }
}

/** Replaces `ansi_up`'s style attributes by classes, and opens links from the output in a new tab. */
export function cspClean(html: string): string {
  let result = html.includes('<span style="') ? html.replace(STYLED_SPAN, (_match, style: string, classes: string | undefined) => {
    const names = classes ? classes.split(' ') : [];
    for (const declaration of style.split(';')) {
      const named = STYLE_CLASSES[declaration];
      if (named !== undefined) {
        names.push(named);
        continue;
      }
      const colour = COLOUR.exec(declaration);
      if (colour) {
        const index = nearestPaletteIndex(Number(colour[2]), Number(colour[3]), Number(colour[4]));
        names.push(`ansi-p${index}-${colour[1] === 'color' ? 'fg' : 'bg'}`);
      }
    }
    return names.length > 0 ? `<span class="${names.join(' ')}">` : '<span>';
  }) : html;
  if (result.includes('<a href="')) result = result.replaceAll('<a href="', '<a target="_blank" rel="noopener noreferrer" href="');
  return result;
}

/** The xterm 256-colour palette entry (16–255: the 6×6×6 cube or the grey ramp) nearest to a colour. */
export function nearestPaletteIndex(red: number, green: number, blue: number): number {
  const level = (value: number): number => {
    let best = 0;
    for (let i = 1; i < CUBE_LEVELS.length; i++) if (Math.abs(CUBE_LEVELS[i] - value) < Math.abs(CUBE_LEVELS[best] - value)) best = i;
    return best;
  };
  const [r, g, b] = [level(red), level(green), level(blue)];
  const cubeDistance = (CUBE_LEVELS[r] - red) ** 2 + (CUBE_LEVELS[g] - green) ** 2 + (CUBE_LEVELS[b] - blue) ** 2;
  const grey = Math.min(23, Math.max(0, Math.round(((red + green + blue) / 3 - 8) / 10)));
  const greyLevel = 8 + grey * 10;
  const greyDistance = (greyLevel - red) ** 2 + (greyLevel - green) ** 2 + (greyLevel - blue) ** 2;
  return greyDistance < cubeDistance ? 232 + grey : 16 + 36 * r + 6 * g + b;
}

/** The colour of palette entry 16–255 as `#rrggbb` (for the stylesheet). */
export function paletteColour(index: number): string {
  const hex = (value: number): string => value.toString(16).padStart(2, '0');
  if (index >= 232) {
    const level = 8 + (index - 232) * 10;
    return `#${hex(level)}${hex(level)}${hex(level)}`;
  }
  const cube = index - 16;
  return `#${hex(CUBE_LEVELS[Math.floor(cube / 36)])}${hex(CUBE_LEVELS[Math.floor(cube / 6) % 6])}${hex(CUBE_LEVELS[cube % 6])}`;
}
