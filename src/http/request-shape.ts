import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor, SetMetadata, UnsupportedMediaTypeException } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { ValidationError } from '../shared/domain-errors';
import { knownFields, unknownFieldsProblem } from './validation';

export const JSON_TYPE = 'application/json';
export const FORM_TYPE = 'application/x-www-form-urlencoded';
export const MULTIPART_TYPE = 'multipart/form-data';
export const BYTES_TYPE = 'application/octet-stream';

const TAKES_BYTES = 'endercompute:takes-bytes';

/** Marks a route that reads its body itself as raw bytes (`application/octet-stream`, and nothing else). */
export const BytesBody = (): MethodDecorator => SetMetadata(TAKES_BYTES, true);

/** What a route takes, read from its handler's own declarations, so a route added later is covered without a list to keep. */
export interface RouteShape {
  /** Query parameters it reads: `@Query('name')`, or the fields of a `@Query()` DTO class. */
  queryKeys: Set<string>;
  /** It reads a body (`@Body()`). */
  body: boolean;
  /** It reads uploaded files (`@UploadedFiles()`: multipart, parsed by the upload interceptor). */
  files: boolean;
}

const shapes = new WeakMap<object, RouteShape>();

/** The shape of the route a request reached (cached per handler). */
export function routeShape(context: ExecutionContext): RouteShape {
  const handler = context.getHandler();
  const cached = shapes.get(handler);
  if (cached) return cached;
  const controller = context.getClass();
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler.name) ?? {}) as Record<string, { index: number; data?: unknown }>;
  const paramTypes = (Reflect.getMetadata('design:paramtypes', controller.prototype, handler.name) ?? []) as unknown[];
  const shape: RouteShape = { queryKeys: new Set(), body: false, files: false };
  for (const [key, arg] of Object.entries(args)) {
    const type = Number(key.split(':')[0]);
    if (type === RouteParamtypes.BODY) shape.body = true;
    if (type === RouteParamtypes.FILES || type === RouteParamtypes.FILE) shape.files = true;
    if (type !== RouteParamtypes.QUERY) continue;
    if (typeof arg.data === 'string') shape.queryKeys.add(arg.data);
    else {
      // The whole query: a DTO class declares its fields; an untyped one declares none.
      const dto = paramTypes[arg.index];
      if (typeof dto === 'function' && dto !== Object) for (const field of knownFields(dto as new () => object)) shape.queryKeys.add(field);
    }
  }
  shapes.set(handler, shape);
  return shape;
}

/**
 * The content types a route accepts a body in. API routes (`/api/…`) take
 * JSON; pages take what their htmx forms send (URL-encoded); either takes
 * multipart where the route reads files. A route that reads no body still
 * accepts an empty one in its usual type (`{}` from a client that always sends
 * JSON): see {@link RequestShapeInterceptor}.
 */
export function acceptedTypes(shape: RouteShape, isApi: boolean): string[] {
  if (shape.files && !shape.body) return [MULTIPART_TYPE];
  const types = [isApi ? JSON_TYPE : FORM_TYPE];
  if (shape.files) types.push(MULTIPART_TYPE);
  return types;
}

/** True when the request carries body bytes (`Content-Length` above 0, or chunked). */
export function hasBody(request: Request): boolean {
  if (request.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(request.headers['content-length'] ?? 0);
  return Number.isFinite(length) && length > 0;
}

/**
 * The global check of a request's shape against its route, before any
 * handler, pipe or upload parser runs:
 * - a query parameter the route does not read is a 400 naming it (`__proto__`,
 *   `constructor` and a typo alike), on every route;
 * - a body in a content type the route does not take is a 415 (a JSON body sent
 *   as `text/plain` is never silently ignored);
 * - a route that reads no body refuses one with fields in it (400).
 * A request without a body where none is needed passes as before.
 */
@Injectable()
export class RequestShapeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<Request>();
    const shape = routeShape(context);
    const unknown = Object.keys(request.query ?? {}).filter((key) => !shape.queryKeys.has(key));
    if (unknown.length > 0) throw new ValidationError([unknownFieldsProblem(unknown, [...shape.queryKeys], 'query')]);
    if (hasBody(request)) {
      const isApi = request.path.startsWith('/api/');
      const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const takesBytes = Reflect.getMetadata(TAKES_BYTES, context.getHandler()) === true;
      const accepted = takesBytes ? [BYTES_TYPE] : acceptedTypes(shape, isApi);
      if (!accepted.includes(type)) {
        const shown = type.slice(0, 100);
        const sent = type === '' ? 'a body without a Content-Type' : `${/^[aeiou]/.test(shown) ? 'an' : 'a'} ${shown} body`;
        throw new UnsupportedMediaTypeException(`This route takes ${accepted.join(' or ')}, not ${sent}`);
      }
      if (!shape.body && !shape.files && !takesBytes) {
        const body: unknown = request.body;
        const empty = typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0;
        if (!empty) throw new ValidationError(['body: this route takes no body: send none (or an empty JSON object)']);
      }
    }
    return next.handle();
  }
}
