import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import type { OpenAPIObject } from '@nestjs/swagger';
import { Public } from '../auth/auth.guard';
import { OpenApiDocument } from './openapi.document';

/**
 * `GET /api/openapi.json`: the description of the API, without a key (it describes the
 * API and holds no data). The viewer page (`/api-docs`) reads it.
 */
@Controller('api')
export class OpenApiController {
  constructor(private readonly document: OpenApiDocument) {}

  @Get('openapi.json')
  @Public()
  @ApiOperation({ summary: 'This description of the API (OpenAPI 3); no key needed' })
  @ApiOkResponse({ description: 'An OpenAPI 3 document' })
  openapi(): OpenAPIObject {
    return this.document.get();
  }
}
