/** The runs page's name suggestions: those starting with the text first, at most twelve, escaped. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { suggestionOptions } from '../../src/web/runs.page';

describe('name suggestions for the runs filters', () => {
  it('offers the names containing the text, those starting with it first, in either case', () => {
    const html = suggestionOptions(['Release', 'Nightly build', 'Build docs', 'nightly-cleanup'], 'build');
    assert.equal(html, '<option value="Build docs"></option><option value="Nightly build"></option>');
    assert.equal(suggestionOptions(['Nightly build', 'nightly-cleanup', 'Release'], 'nightly'), '<option value="Nightly build"></option><option value="nightly-cleanup"></option>');
  });

  it('offers at most twelve, and escapes what a name holds', () => {
    const many = Array.from({ length: 30 }, (_, i) => `job ${String(i).padStart(2, '0')}`);
    assert.equal(suggestionOptions(many, 'job').match(/<option /g)?.length, 12);
    assert.equal(suggestionOptions(['"><script>x</script> & co'], 'co'), '<option value="&quot;&gt;&lt;script&gt;x&lt;/script&gt; &amp; co"></option>');
  });
});
