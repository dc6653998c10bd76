/**
 * @peculiar/x509 resolves its algorithm providers through tsyringe, which refuses to load without the
 * Reflect metadata API. Imported by crypto-provider.ts before @peculiar/x509, so it runs first (ESM
 * evaluates imports in order).
 */
import 'reflect-metadata';
