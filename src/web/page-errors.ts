/**
 * A page request that cannot be answered with content yet: no key was sent
 * (a browser loading a URL: answer the application shell, which asks for the
 * key and loads the page again with it), or the key or name was refused.
 */
export class PageAuthError extends Error {
  constructor(
    readonly reason: 'missing' | 'rejected' | 'bad-name',
    message: string,
  ) {
    super(message);
    this.name = 'PageAuthError';
  }
}
