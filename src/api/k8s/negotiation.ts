/**
 * What a GET's Accept header asks for, as the API server negotiates it: the object itself (JSON), or a
 * meta.k8s.io view of it — a Table (kubectl get), PartialObjectMetadata (one object's metadata, and each
 * watch event's) or PartialObjectMetadataList (a list's metadata: the metadata informers of controllers).
 * The first acceptable clause wins, highest `q` first; a clause Coffer cannot produce (protobuf, YAML, an
 * unknown view) is skipped; when none is acceptable the answer is 406. A view that does not fit the
 * request (a list asked as PartialObjectMetadata, one object asked as a list) is also 406, as Kubernetes
 * answers it.
 */
import { CofferError } from '../../base/index.ts';

export type View = 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList';
const views: readonly string[] = ['Table', 'PartialObjectMetadata', 'PartialObjectMetadataList'];
const viewVersions: readonly string[] = ['v1', 'v1beta1'];

export type Representation = { view: 'object' } | { view: View; apiVersion: string };

interface Clause { mediaType: string; params: Map<string, string>; q: number }

function parseClause(text: string): Clause {
  const [mediaType = '', ...rest] = text.split(';').map((part) => part.trim());
  const params = new Map<string, string>();
  for (const part of rest) {
    const at = part.indexOf('=');
    if (at > 0) params.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const q = params.has('q') ? Number(params.get('q')) : 1;
  return { mediaType: mediaType.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 };
}

function representationOf(clause: Clause): Representation | undefined {
  if (clause.q <= 0 || !['application/json', 'application/*', '*/*'].includes(clause.mediaType)) return undefined;
  const view = clause.params.get('as');
  if (view === undefined) return { view: 'object' };
  const version = clause.params.get('v') ?? '';
  if (!views.includes(view) || clause.params.get('g') !== 'meta.k8s.io' || !viewVersions.includes(version)) return undefined;
  return { view: view as View, apiVersion: `meta.k8s.io/${version}` };
}

/** Accept allows no answer Coffer can give (406). */
export class NotAcceptableError extends CofferError {
  readonly code = 'E_NOT_ACCEPTABLE';
}

/** The representation to answer with; NotAcceptableError when the header allows none. */
export function negotiate(accept: string | undefined, target: 'object' | 'list' | 'watch'): Representation {
  if (accept === undefined || accept.trim() === '') return { view: 'object' };
  const clauses = accept.split(',').map(parseClause).sort((a, b) => b.q - a.q);
  const chosen = clauses.map(representationOf).find((r) => r !== undefined);
  if (chosen === undefined) throw notAcceptable('none of the media types in Accept can be served: Coffer answers application/json, and the meta.k8s.io views Table, PartialObjectMetadata and PartialObjectMetadataList');
  if (chosen.view === 'PartialObjectMetadataList' && target !== 'list') throw notAcceptable(`you requested PartialObjectMetadataList, but the requested ${target === 'watch' ? 'watch streams single objects' : 'object is not a list'}: ask for PartialObjectMetadata`);
  if (chosen.view === 'PartialObjectMetadata' && target === 'list') throw notAcceptable('you requested PartialObjectMetadata, but the requested object is a list: ask for PartialObjectMetadataList');
  return chosen;
}

function notAcceptable(message: string): NotAcceptableError {
  return new NotAcceptableError(message);
}

/** An object's metadata alone, as a meta.k8s.io PartialObjectMetadata (from the object as presented). */
export function partialObjectMetadata(presented: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion, metadata: presented.metadata };
}
