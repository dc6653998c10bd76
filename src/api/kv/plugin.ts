/**
 * The KV API in the shape of etcd's JSON gateway, a fastify plugin under kvPrefix: its errors and every
 * path under /v3 no route serves are answered in the gateway's error shape (dialect.ts), every body
 * is read as JSON (body-parsers.ts), and /metrics counts its calls under the resource `kv`.
 */
import type { FastifyInstance } from 'fastify';
import { kvBodies } from '../body-parsers.ts';
import { etcdGateway, speak } from '../dialect.ts';
import type { WatchStreams } from '../watch-stream.ts';
import { registerKvRoutes } from './routes.ts';
import type { KvService } from './service.ts';

export const kvPrefix = '/v3';

export interface KvApiOptions {
  service: KvService;
  watches: WatchStreams;
}

export function kvApi(kv: FastifyInstance, options: KvApiOptions, done: (error?: Error) => void): void {
  speak(kv, { dialect: etcdGateway, metricResource: 'kv' });
  kvBodies(kv);
  registerKvRoutes(kv, options.service, options.watches);
  done();
}
