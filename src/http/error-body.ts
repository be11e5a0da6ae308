import { STATUS_CODES } from 'node:http';

/** The JSON error shape of API.md: `{statusCode, error, message}`, plus `problems` for a 400. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  problems?: string[];
}

export function errorBody(statusCode: number, message: string, problems?: string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...(problems ? { problems } : {}) };
}
