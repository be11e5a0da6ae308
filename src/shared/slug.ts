/**
 * A file-system-safe, readable folder name for a job: lowercase ASCII letters,
 * digits and single dashes, never empty, never `.` or `..`, at most 60 characters.
 */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/g, '');
  return slug.length > 0 ? slug : 'job';
}
