/**
 * Decorators that tell the OpenAPI generator what it cannot see in a route's signature:
 * bodies read as `Record<string, unknown>` (JSON or multipart) or as uploaded files, and
 * the `If-Match` header. They change nothing at run time.
 */
import { applyDecorators, type Type } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiQuery } from '@nestjs/swagger';

/** A body of `dto`'s fields, as JSON or as the fields of a multipart form (with `file` parts). */
export const JsonOrMultipartBody = (dto: Type<unknown>, description: string): MethodDecorator =>
  applyDecorators(ApiConsumes('application/json', 'multipart/form-data'), ApiBody({ type: dto, description, required: false }));

/** A JSON body of `dto`'s fields, which may be left out (all of them are optional). */
export const OptionalJsonBody = (dto: Type<unknown>, description: string): MethodDecorator =>
  applyDecorators(ApiConsumes('application/json'), ApiBody({ type: dto, description, required: false }));

/** A multipart body of one or more `file` parts. */
export const FilesBody = (description: string): MethodDecorator =>
  applyDecorators(
    ApiConsumes('multipart/form-data'),
    ApiBody({
      description,
      schema: { type: 'object', properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } }, required: ['file'] },
    }),
  );

/** `If-Match: "<version>"`: the change applies only to that version (else `412`). */
export const IfMatchHeader = (): MethodDecorator =>
  ApiHeader({ name: 'If-Match', required: false, description: 'The ETag of the version this change is meant for; another version answers 412' });

/** A query parameter read by hand (not through a DTO class). */
export const QueryParam = (name: string, type: 'integer' | 'string' | 'boolean', description: string): MethodDecorator =>
  ApiQuery({ name, required: false, type: type === 'integer' ? 'integer' : type, description });
